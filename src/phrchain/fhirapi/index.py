"""The custodian's view of the records its vault holds, opened for search.

A FHIR search filters on what a record says (its type, codes, dates), and the vault
holds only ciphertext. The gateway is the custodian institution: it holds its own
wrapped copy of every record's data key (``records/register`` needs it), so it opens a
held record with its own X25519 key, checks it against the chain (Merkle root,
commitment, sealed descriptor) and keeps the opened resource in a bounded in-memory
cache (never on disk). Opening a record for the index is not a release: nothing leaves
the process until the access decision for the caller permits it (``access.py``), and
that decision is the vault's own, audited (``gateway/service.py`` ``Vault.access``).

Ids (``docs/fhir-rest.md``): a resource's FHIR id is its record id (32 hex, random per
record); a Patient's id is the multibase part of the patient's pseudonym DID at this
institution (``did:key:<id>``), which names one patient-institution relationship only,
so no id or reference this endpoint writes links a patient across institutions.
References inside a resource to another resource of the same patient are rewritten to
those ids; a reference to a Patient becomes the pseudonym's id.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from phrchain.gateway.service import Vault
from phrchain.vault import crypto
from phrchain.vault import errors as store_errors
from phrchain.vault.descriptor import open_descriptor
from phrchain.vault.errors import VaultError

DID_PREFIX: Final = "did:key:"
MAX_CACHED: Final = 20_000
MAX_PATIENTS: Final = 10_000
SIBLINGS_TTL_S: Final = 5.0
_PAGE: Final = 500


@dataclass(frozen=True, slots=True)
class Held:
    """One held, active record opened by the custodian."""

    record: str
    patient: str
    resource_type: str
    resource: dict[str, Any]
    updated_ms: int
    superseded: bool


def patient_id(did: str) -> str:
    """The FHIR Patient id of a patient identity (its pseudonym at this institution)."""
    return did[len(DID_PREFIX):] if did.startswith(DID_PREFIX) else did


def patient_did(fhir_id: str) -> str:
    return DID_PREFIX + fhir_id


def instant(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds") \
        .replace("+00:00", "Z")


class RecordIndex:
    """Opened records by id, and a patient's held records, through the vault."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._cache: OrderedDict[str, Held | None] = OrderedDict()
        self._siblings: dict[str, tuple[float, list[Held]]] = {}
        self._lock = threading.Lock()

    def of_patient(self, patient: str) -> list[Held]:
        """The patient's records held here, active and current, opened (chain order)."""
        out = []
        for record in self._ids_of(patient):
            held = self.get(record)
            if held is not None and not held.superseded:
                out.append(held)
        return out

    def siblings(self, patient: str) -> list[Held]:
        """:meth:`of_patient` as of at most :data:`SIBLINGS_TTL_S` ago: what a served
        resource's references are rewritten against (a record registered since then is
        named by its original id until the list is read again)."""
        now = time.monotonic()
        with self._lock:
            found = self._siblings.get(patient)
        if found is not None and now - found[0] < SIBLINGS_TTL_S:
            return found[1]
        held = self.of_patient(patient)
        with self._lock:
            if len(self._siblings) > MAX_PATIENTS:
                self._siblings.clear()
            self._siblings[patient] = (now, held)
        return held

    def _ids_of(self, patient: str) -> Iterator[str]:
        after: str | None = None
        while True:
            page = self.vault.query("records/patient", {"patient": patient, "limit": _PAGE}
                                     | ({"after": after} if after else {}))
            yield from page["records"]
            after = page.get("next")
            if not after:
                return

    def get(self, record: str) -> Held | None:
        """The opened record, None if it is not held here, not active on chain, or not
        a FHIR resource."""
        with self._lock:
            if record in self._cache:
                self._cache.move_to_end(record)
                return self._cache[record]
        held = self._open(record)
        with self._lock:
            self._cache[record] = held
            while len(self._cache) > MAX_CACHED:
                self._cache.popitem(last=False)
        return held

    def forget(self, record: str) -> None:
        with self._lock:
            self._cache.pop(record, None)

    def _open(self, record: str) -> Held | None:
        vault = self.vault
        rid = bytes.fromhex(record)
        on_chain = vault.query("records/get", {"record": record})
        if on_chain is None or on_chain["status"] != "active":
            return None
        try:
            meta = vault.store.get_meta(rid)
            sealed = vault.store.get_descriptor(rid)
            key = crypto.unwrap_key(vault.store.get_wrapped_key(rid, vault.org),
                                    vault.org_enc, rid, vault.org)
        except VaultError as exc:
            if exc.error in (store_errors.RECORD_NOT_FOUND, store_errors.READER_NOT_FOUND):
                return None
            raise
        if sealed is None or meta.hash.hex() != on_chain["hash"]:
            return None
        descriptor = open_descriptor(sealed[0], key, rid, bytes.fromhex(on_chain["descriptor"]))
        plaintext = crypto.open_sealed(rid, meta.patient, key, list(vault.store.iter_chunks(rid)),
                                       expected_hash=meta.hash,
                                       expected_commitment=meta.commitment)
        del key
        try:
            resource = json.loads(plaintext)
        except ValueError:
            return None  # a large object, not a FHIR resource
        if not isinstance(resource, dict) or resource.get("resourceType") != descriptor.resource:
            return None
        return Held(record, meta.patient, descriptor.resource, resource,
                    int(on_chain.get("time_ms", 0)), bool(on_chain.get("superseded_by")))


def present(held: Held, siblings: list[Held]) -> dict[str, Any]:
    """The resource as this endpoint serves it: its id, ``meta`` and references
    rewritten (module docstring)."""
    ids = {(h.resource_type, str(h.resource.get("id"))): h.record for h in siblings}
    out: dict[str, Any] = _rewrite(held.resource, ids, patient_id(held.patient))
    out["id"] = patient_id(held.patient) if held.resource_type == "Patient" else held.record
    out["meta"] = {**(out.get("meta") or {}), "versionId": "1",
                   "lastUpdated": instant(held.updated_ms)}
    return out


def _rewrite(node: Any, ids: dict[tuple[str, str], str], pid: str) -> Any:
    if isinstance(node, dict):
        out = {k: _rewrite(v, ids, pid) for k, v in node.items()}
        ref = node.get("reference")
        if isinstance(ref, str) and ref.count("/") == 1:
            kind, target = ref.split("/")
            if kind == "Patient":
                out["reference"] = f"Patient/{pid}"
            elif (kind, target) in ids:
                out["reference"] = f"{kind}/{ids[(kind, target)]}"
        return out
    if isinstance(node, list):
        return [_rewrite(v, ids, pid) for v in node]
    return node
