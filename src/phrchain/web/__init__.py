"""A local web UI for patients, providers and auditors (``docs/web.md``).

The backend unlocks a passphrase-encrypted wallet into this process's memory for one
browser session and does every signature, key unwrap and decryption through the SDK
(``phrchain.client``); the browser never receives a private key.

    from phrchain.web import UiConfig, create_ui_app
    app = create_app(node, ui=create_ui_app(UiConfig(node_url, directory, wallets)))
"""

from phrchain.web.app import create_ui_app
from phrchain.web.config import UiConfig, WalletEntry

__all__ = ["UiConfig", "WalletEntry", "create_ui_app"]
