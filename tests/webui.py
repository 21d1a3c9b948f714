"""The web UI over a running consortium, for the web tests: wallet files for a few of
the consortium's identities (cheap KDF) and a node API app with the UI mounted at /ui."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.web import UiConfig, WalletEntry, create_ui_app
from tests.consortium import A1, AE, B1, GA, Consortium, P, Q

CHEAP_KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
PASSPHRASES = {"patient-p": "p's long passphrase", "patient-q": "q's long passphrase",
               "b1": "b1's long passphrase", "a1": "a1's long passphrase",
               "ae": "ae's long passphrase", "ga": "ga's long passphrase"}
WALLETS: dict[str, tuple[Wallet, str]] = {
    "patient-p": (P, "patient"), "patient-q": (Q, "patient"), "b1": (B1, "provider"),
    "a1": (A1, "provider"), "ae": (AE, "provider"), "ga": (GA, "auditor")}


def wallet_files(directory: Path) -> dict[str, WalletEntry]:
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (wallet, role) in WALLETS.items():
        path = directory / f"{name}.wallet"
        if not path.exists():
            wallet.save(path, PASSPHRASES[name], kdf=CHEAP_KDF)
        out[name] = WalletEntry(path, role)
    return out


@contextlib.contextmanager
def ui_server(c: Consortium, tmp: Path, clock: Callable[[], float] | None = None,
              anchored: bool = True) -> Iterator[str]:
    """A second API app over the consortium's node with the UI mounted at /ui; yields
    the base URL (``http://127.0.0.1:<port>``). The UI talks to the consortium's API."""
    from tests.consortium import CHAIN, VALIDATOR

    config = UiConfig(c.api_url, c.directory, wallet_files(tmp / "wallets"),
                      trust_anchor=VALIDATOR.did if anchored else None,
                      chain_id=CHAIN if anchored else None,
                      **({"clock": clock} if clock is not None else {}))
    ui = create_ui_app(config)
    try:
        with BackgroundServer(create_app(c.node, ui=ui)) as url:
            yield url
    finally:
        ui.state.ui.sessions.close()
