"""Who can open the audit entries a vault seals, and their keys.

Every entry is wrapped to the patient (the owner pseudonym whose log it joins), to this
institution (the custodian view) and to every active ``regulator`` organization (the
auditors). The regulators and the patients' ``enc_key`` s come from the identity module
and are cached: a vault seals an entry for every access and must not ask the node for
the regulator directory each time. The cache is dropped when identity changes (the
erasure follower sees an ``identity.admitted``, ``identity.key_rotated`` or
``identity.revoked`` event in a block it reads, :meth:`AuditReaders.identity_changed`),
and in any case after ``max_age_s`` (for a node whose API serves no blocks).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, Final

from phrchain.modules.identity.messages import (
    IDENTITY_ADMITTED,
    IDENTITY_KEY_ROTATED,
    IDENTITY_REVOKED,
)
from phrchain.vault.gateway_errors import CHAIN_UNAVAILABLE

IDENTITY_CHANGES: Final = frozenset({IDENTITY_ADMITTED, IDENTITY_KEY_ROTATED, IDENTITY_REVOKED})
REGULATORS: Final = "organization/regulator"
PAGE: Final = 500
MAX_PATIENTS: Final = 100_000


class AuditReaders:
    """``readers(patient)`` → ``{did: X25519 enc_key}`` for one sealed entry.
    ``query(path, data)`` is the vault's chain query (refusals keep their code)."""

    def __init__(self, query: Callable[[str, Mapping[str, Any]], Any], org: str,
                 org_enc_public: bytes, max_age_s: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._query, self.org, self._org_key = query, org, org_enc_public
        self.max_age_s, self._clock = max_age_s, clock
        self._lock = threading.Lock()
        self._regulators: dict[str, bytes] | None = None
        self._patients: dict[str, bytes] = {}
        self._built = 0.0

    def identity_changed(self) -> None:
        """Forget what was read: the next seal reads the directory again."""
        with self._lock:
            self._regulators = None
            self._patients.clear()

    def readers(self, patient: str) -> dict[str, bytes]:
        with self._lock:
            if self._regulators is not None and self._clock() - self._built > self.max_age_s:
                self._regulators = None
                self._patients.clear()
            regulators = self._regulators
            patient_key = self._patients.get(patient)
        if regulators is None:
            regulators = self._read_regulators()
            with self._lock:
                self._regulators, self._built = regulators, self._clock()
        if patient_key is None:
            patient_key = self._enc_key(patient)
            with self._lock:
                if len(self._patients) >= MAX_PATIENTS:
                    self._patients.clear()
                self._patients[patient] = patient_key
        return {**regulators, self.org: self._org_key, patient: patient_key}

    def _enc_key(self, patient: str) -> bytes:
        identity = self._query("identity/did", {"did": patient})
        if identity is None:
            raise CHAIN_UNAVAILABLE(f"the record's patient {patient} is not an identity "
                                    "on chain: no key to seal its audit entry to")
        return bytes.fromhex(identity["enc_key"])

    def _read_regulators(self) -> dict[str, bytes]:
        """Every active regulator organization and its key (the directory, paged)."""
        out: dict[str, bytes] = {}
        after: str | None = None
        while True:
            data = {"kind": REGULATORS, "limit": PAGE} | ({"after": after} if after else {})
            page = self._query("identity/kind", data)
            for did in page["dids"]:
                identity = self._query("identity/did", {"did": did})
                if identity is not None and identity["status"] == "active":
                    out[did] = bytes.fromhex(identity["enc_key"])
            after = page.get("next")
            if not after:
                return out


def identity_changed_in(results: list[dict[str, Any]]) -> bool:
    """Whether a block's successful txs changed an identity a sealed entry may name."""
    return any(event.get("type") in IDENTITY_CHANGES
               for result in results if result.get("code", 0) == 0
               for event in result.get("events") or ())
