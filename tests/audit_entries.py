"""Sealed audit entries for tests of the chain side: a decision sealed with real keys
(``vault/audit_seal.py``) to the patient, the appending organization and any others."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from phrchain.core import keys
from phrchain.vault import audit_seal

# A reader key for tests that need not open the entries: its public part seals them.
READER = keys.EncryptionKey(bytes(range(32)))


def decision(record: str, accessor: str, *, decision: str = "permit", reason: str = "owner",
             at: int = 1, **kw: Any) -> dict[str, Any]:
    """A plaintext vault decision (``AccessEntry`` fields)."""
    return {"record": record, "accessor": accessor, "action": "read", "purpose": "TREAT",
            "decision": decision, "reason": reason, "consent": None, "break_glass": False,
            "request": hashlib.sha256(secrets.token_bytes(16)).hexdigest(), "at": at, **kw}


def sealed(patient: str, vault: str, record: str, accessor: str, *,
           readers: dict[str, bytes] | None = None, **kw: Any) -> dict[str, Any]:
    """An ``audit/append`` entry for ``patient``'s log, appended by ``vault``."""
    to = {patient: READER.public_key, vault: READER.public_key, **(readers or {})}
    return audit_seal.seal(decision(record, accessor, **kw), patient, to)
