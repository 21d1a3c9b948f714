"""The web UI over a running consortium, for the web tests: wallet files for a few of
the consortium's identities (cheap KDF) and a node API app with the UI mounted at /ui."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client.audit import AuditKey
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.web import UiConfig, WalletEntry, create_ui_app
from tests.consortium import A1, AE, B1, GA, IR, REGULATOR, Consortium, P, Q

CHEAP_KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
PASSPHRASES = {"patient-p": "p's long passphrase", "patient-q": "q's long passphrase",
               "b1": "b1's long passphrase", "a1": "a1's long passphrase",
               "ae": "ae's long passphrase", "ga": "ga's long passphrase",
               "ir": "ir's long passphrase"}
WALLETS: dict[str, tuple[Wallet, str]] = {
    "patient-p": (P, "patient"), "patient-q": (Q, "patient"), "b1": (B1, "provider"),
    "a1": (A1, "provider"), "ae": (AE, "provider"), "ga": (GA, "auditor"),
    "ir": (IR, "provider")}


def wallet_files(directory: Path, product_keys: dict[str, tuple[Path, ...]] | None = None
                 ) -> dict[str, WalletEntry]:
    directory.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, (wallet, role) in WALLETS.items():
        path = directory / f"{name}.wallet"
        if not path.exists():
            wallet.save(path, PASSPHRASES[name], kdf=CHEAP_KDF)
        out[name] = WalletEntry(path, role, (product_keys or {}).get(name, ()))
    # the regulator's auditor opens sealed audit entries with the regulator's key
    audit_key = directory / "regulator.audit-key.json"
    if not audit_key.exists():
        AuditKey.of_wallet(REGULATOR).save(audit_key)
    out["ga"] = WalletEntry(out["ga"].path, "auditor", audit_keys=(audit_key,))
    return out


@contextlib.contextmanager
def ui_server(c: Consortium, tmp: Path, clock: Callable[[], float] | None = None,
              anchored: bool = True, product_keys: dict[str, tuple[Path, ...]] | None = None
              ) -> Iterator[str]:
    """A second API app over the consortium's node with the UI mounted at /ui; yields
    the base URL (``http://127.0.0.1:<port>``). The UI talks to the consortium's API;
    ``product_keys`` gives wallets the product key files an insurer gave them."""
    from tests.consortium import CHAIN, VALIDATOR

    config = UiConfig(c.api_url, c.directory, wallet_files(tmp / "wallets", product_keys),
                      trust_anchor=VALIDATOR.did if anchored else None,
                      chain_id=CHAIN if anchored else None,
                      **({"clock": clock} if clock is not None else {}))
    ui = create_ui_app(config)
    try:
        with BackgroundServer(create_app(c.node, ui=ui)) as url:
            yield url
    finally:
        ui.state.ui.sessions.close()


class Browser:
    """What a page does: keeps cookies, sends the CSRF token it was given."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=f"{base}/ui/", timeout=60)
        self.csrf = self.http.get("api/session").json()["csrf"]
        self.seen: list[bytes] = []  # every response: headers and body

    def call(self, method: str, path: str, body: Any = None, **kw: Any) -> httpx.Response:
        headers = kw.pop("headers", {"X-CSRF-Token": self.csrf} if method != "GET" else {})
        response = self.http.request(method, path, json=body, headers=headers, **kw)
        self.seen.append(str(response.headers).encode() + response.content)
        return response

    def login(self, wallet: str, passphrase: str | None = None) -> httpx.Response:
        self.csrf = self.http.get("api/session").json()["csrf"]  # as the page does
        response = self.call("POST", "api/session", {
            "wallet": wallet, "passphrase": passphrase or PASSPHRASES[wallet]})
        if response.is_success:
            self.csrf = response.json()["csrf"]
        return response

    def ok(self, method: str, path: str, body: Any = None, **kw: Any) -> Any:
        response = self.call(method, path, body, **kw)
        assert response.is_success, response.text
        return response.json()


def error_of(response: httpx.Response) -> tuple[int, str, str]:
    err = response.json()["error"]
    return response.status_code, err["codespace"], err["name"]
