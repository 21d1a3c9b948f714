"""What the UI backend is told at start: where the node and vaults are, which wallet
files it may unlock, and what it trusts for verification."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

IDLE_TIMEOUT_S: Final = 15 * 60.0
MAX_SESSION_S: Final = 8 * 3600.0
ROLE_HINTS: Final = frozenset({"patient", "provider", "auditor", ""})


@dataclass(frozen=True, slots=True)
class WalletEntry:
    """A passphrase-encrypted wallet file (``client/wallet.py``) and a hint shown at
    login. The hint only labels the picker: what a session may do follows from the
    identity the chain holds for the wallet's DID. ``product_keys`` are the product key
    files (``client/claims.py`` ``ProductKey``) insurers gave this patient at enrolment,
    off chain: filing a claim in the UI tags the billed codes with them. ``audit_keys``
    are audit key files (``client/audit.py`` ``AuditKey``, ``phrchain audit key``): an
    auditor of a regulator signs in with their own wallet and opens the sealed audit
    entries wrapped to the regulator organization with its key, configured here.
    A pharmacist's ``monitoring_key`` (``phrchain supply new-key``) and ``prescriptions``
    (the pharmacy's file of prescriptions handed to it: ``web/supply.py``) let the
    dispense screen work, and its ``pharmacy_log`` (``client/pharmacy_log.py``) records
    which patient each dispense was for (the statutory report's source); a patient's
    ``monitoring_tag`` (given by the pharmacy) shows
    their medication history."""

    path: Path
    role: str = ""
    product_keys: tuple[Path, ...] = ()
    audit_keys: tuple[Path, ...] = ()
    monitoring_key: Path | None = None
    prescriptions: Path | None = None
    monitoring_tag: str = ""
    pharmacy_log: Path | None = None


@dataclass(frozen=True)
class UiConfig:
    """``directory`` maps vault organization DIDs to vault URLs (as for
    :class:`~phrchain.client.phr.Phr`). ``trust_anchor`` is the solo
    validator's DID; without one the node's own claim is used and the UI says that the
    verification only checks the node against itself. ``clock`` is a parameter so tests
    can expire sessions."""

    node_url: str
    directory: Mapping[str, str]
    wallets: Mapping[str, WalletEntry]
    trust_anchor: str | None = None
    chain_id: str | None = None
    idle_timeout_s: float = IDLE_TIMEOUT_S
    max_session_s: float = MAX_SESSION_S
    clock: Callable[[], float] = field(default=time.monotonic)

    def __post_init__(self) -> None:
        wallets = {}
        for name, entry in self.wallets.items():
            if not isinstance(entry, WalletEntry):  # (path, role hint) tuples are accepted
                path, role = entry
                entry = WalletEntry(Path(path), role)
            if entry.role not in ROLE_HINTS:
                raise ValueError(f"wallet {name}: role hint must be one of {sorted(ROLE_HINTS)}")
            wallets[name] = entry
        object.__setattr__(self, "wallets", wallets)
        object.__setattr__(self, "directory", dict(self.directory))

    @classmethod
    def from_file(cls, path: Path | str) -> UiConfig:
        """``{"node_url", "directory": {org DID: url}, "wallets": {name: {"path",
        "role", "product_keys"?: [paths], "audit_keys"?: [paths], "monitoring_key"?: path,
        "prescriptions"?: path, "monitoring_tag"?: hex, "pharmacy_log"?: path}}, "trust_anchor"?,
        "chain_id"?,
        "idle_timeout_s"?}``; relative paths are relative to the file."""
        source = Path(path)
        body: dict[str, Any] = json.loads(source.read_text())
        def optional(w: dict[str, Any], name: str) -> Path | None:
            return source.parent / w[name] if w.get(name) else None

        wallets = {name: WalletEntry(source.parent / w["path"], w.get("role", ""),
                                     tuple(source.parent / k
                                           for k in w.get("product_keys", ())),
                                     tuple(source.parent / k
                                           for k in w.get("audit_keys", ())),
                                     optional(w, "monitoring_key"),
                                     optional(w, "prescriptions"),
                                     str(w.get("monitoring_tag", "")),
                                     optional(w, "pharmacy_log"))
                   for name, w in body["wallets"].items()}
        return cls(str(body["node_url"]), dict(body["directory"]), wallets,
                   body.get("trust_anchor"), body.get("chain_id"),
                   float(body.get("idle_timeout_s", IDLE_TIMEOUT_S)))
