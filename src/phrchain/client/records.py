"""Patient-controlled records from the client side: seal, store, register, read, erase.

A :class:`RecordsClient` acts for one wallet (a practitioner, an organization or a
patient) through a :class:`~phrchain.client.session.Session`: its node and the vaults of
the institutions in its directory (vault org DID → base URL). All cryptography happens
here, on the caller's machine: the vault only ever sees ciphertext and wrapped keys, the
chain only descriptors. Sharing keys with consented readers is ``ConsentClient.share``.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phrchain.client import breakglass
from phrchain.client.breakglass import Receipt
from phrchain.client.http import ApiError
from phrchain.client.sender import Progress
from phrchain.client.session import RecordsError, Session
from phrchain.core.errors import PhrError
from phrchain.modules.consent.messages import Scope
from phrchain.modules.records.messages import Erase, Register
from phrchain.vault import crypto
from phrchain.vault.crypto import ChunkPart, Sealed
from phrchain.vault.errors import HASH_MISMATCH, VaultError

__all__ = ["MSGS_PER_TX", "Opened", "Prepared", "RecordsClient", "RecordsError",
           "resource_bytes"]

MSGS_PER_TX = 32
UPLOAD_BATCH_BYTES = 8 << 20


@dataclass(frozen=True, slots=True)
class Prepared:
    """A sealed record ready to upload and register."""

    sealed: Sealed
    wrapped: dict[str, bytes]
    msg: dict[str, Any]
    custodian: str

    @property
    def record(self) -> str:
        return self.sealed.record_id.hex()


@dataclass(frozen=True, slots=True)
class Opened:
    record: str
    descriptor: dict[str, Any]
    plaintext: bytes
    decision: dict[str, Any]
    # A break-glass read's receipt (client/breakglass.py): the institution keeps it with
    # the reason, which went nowhere.
    receipt: Receipt | None = None

    def resource(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.plaintext)
        return value


def resource_bytes(resource: Mapping[str, Any]) -> bytes:
    """The plaintext of a FHIR record: compact JSON with sorted keys, decimals written
    exactly as given (a ``Decimal`` from :func:`phrchain.fhir.jsonio.loads` keeps
    ``1.50``; FHIR R4 decimal precision is significant). Not the chain's integer-only
    encoding; it need not be: the commitment covers these exact bytes, which travel
    inside the ciphertext."""
    from phrchain.fhir.jsonio import dumps

    return dumps(dict(resource))


class RecordsClient:
    """The records module from the client side: seal, store and register records, open
    them, list and erase the patient's own (``modules/records``)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        # Readers by (patient, record id or ""), for one bulk operation: a consent
        # granted meanwhile is served by the patient's re-wrapping.
        self._readers_cache: dict[tuple[str, str], list[dict[str, Any]]] = {}

    # -- writing -----------------------------------------------------------------------
    def prepare(self, plaintext: bytes, patient: str, *, resource: str, category: str,
                custodian: str | None = None, replaces: str | None = None,
                record_id: bytes | None = None) -> Prepared:
        """Seal ``plaintext`` for ``patient`` and wrap its key for every reader the chain
        names now (the patient, standing-consent grantees), the author and custodian."""
        s = self.session
        mine = s.custodian_of_me()
        custodian = custodian or mine
        record_id = record_id or secrets.token_bytes(16)
        sealed = crypto.seal(record_id, patient, plaintext)
        readers = self._readers(patient, resource, category)
        enc = {r["did"]: bytes.fromhex(r["enc_key"]) for r in readers}
        for did in (s.wallet.did, custodian):
            enc.setdefault(did, bytes.fromhex(s.identity(did)["enc_key"]))
        wrapped = {did: crypto.wrap_key(sealed.data_key, key, record_id, did)
                   for did, key in enc.items()}
        meta = sealed.meta
        msg = Register(meta.record_id.hex(), patient, resource, category, meta.hash.hex(),
                       meta.size, meta.chunks, meta.commitment.hex(),
                       None if custodian == mine else custodian, replaces).to_msg()
        return Prepared(sealed, wrapped, msg, custodian)

    def store(self, prepared: Sequence[Prepared], progress: Progress | None = None) -> list[str]:
        """Upload the records to their custodians' vaults (batched, up to ~8 MiB per
        request), then register them, 32 to a tx, txs pipelined."""
        batch: list[Prepared] = []
        size = 0
        for p in prepared:
            if batch and (p.custodian != batch[0].custodian
                          or size + p.sealed.size > UPLOAD_BATCH_BYTES):
                self._upload(batch)
                batch, size = [], 0
            batch.append(p)
            size += p.sealed.size
        if batch:
            self._upload(batch)
        self._readers_cache.clear()
        txs = [prepared[i:i + MSGS_PER_TX] for i in range(0, len(prepared), MSGS_PER_TX)]
        self.session.sender.send_many([[p.msg for p in tx] for tx in txs], progress,
                                      [len(tx) for tx in txs])
        return [p.record for p in prepared]

    def _upload(self, batch: Sequence[Prepared]) -> None:
        vault = self.session.vault(batch[0].custodian)
        if len(batch) == 1:
            vault.upload(batch[0].sealed.meta, batch[0].wrapped, batch[0].sealed.chunks)
        else:
            vault.upload_many([(p.sealed.meta, p.wrapped, p.sealed.chunks) for p in batch])

    def add(self, plaintext: bytes, patient: str, *, resource: str, category: str,
            **kw: Any) -> str:
        return self.store([self.prepare(plaintext, patient, resource=resource,
                                        category=category, **kw)])[0]

    def import_bundle(self, bundle: Mapping[str, Any], patients: Mapping[str, str],
                      progress: Progress | None = None,
                      set_aside: dict[str, int] | None = None) -> dict[str, list[str]]:
        """Import a FHIR transaction or collection Bundle (e.g. from a synthetic-patient
        generator): every resource is validated, references inside the bundle are
        resolved, and each resource (the Patient too) becomes a record of the right
        patient authored by this wallet. ``patients`` maps the Bundle's Patient ids to
        their registered DIDs. Returns record ids per patient DID. Resources in no
        patient's compartment (Practitioner, Organization, …) are not imported: their
        counts by type are added to ``set_aside`` (why: ``fhir.bundle.SET_ASIDE_REASON``)."""
        from phrchain.fhir import category_of
        from phrchain.fhir.bundle import split_bundle

        split = split_bundle(bundle)
        if set_aside is not None:
            for kind, count in split.set_aside().items():
                set_aside[kind] = set_aside.get(kind, 0) + count
        out: dict[str, list[str]] = {}
        prepared: list[Prepared] = []
        for group in split:
            did = patients.get(group.patient_id)
            if did is None:
                raise RecordsError(f"Bundle Patient {group.patient_id} has no DID in the map")
            resources = (group.patient, *group.resources)
            self._readers_of_unconsented(did, {(str(res["resourceType"]), category_of(res))
                                               for res in resources})
            for res in resources:
                prepared.append(self.prepare(resource_bytes(res), did,
                                             resource=str(res["resourceType"]),
                                             category=category_of(res)))
                out.setdefault(did, []).append(prepared[-1].record)
        self.store(prepared, progress)
        return out

    def export(self, patient: str | None = None, purpose: str = "PATRQT",
               skipped: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        """Everything the caller may read of ``patient`` (default: the caller, as
        patient) as one FHIR R4 collection Bundle. Records left out (not permitted,
        unreachable vault, a large non-FHIR object) are appended to ``skipped`` as
        ``(record id, reason)``. Each attempt is an audited access."""
        from phrchain.fhir.bundle import export_bundle

        patient = patient or self.session.wallet.did
        resources: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.session.q("records/patient", patient=patient,
                                  **({} if after is None else {"after": after}))
            for record in page["records"]:
                d = self.session.descriptor(record)
                if d["status"] != "active":
                    continue
                if d["category"] == "genomic" or d["chunks"] > 1:
                    _note(skipped, record, "a large object, not a FHIR resource")
                    continue
                try:
                    resources.append(self.open(record, purpose=purpose).resource())
                except (ApiError, PhrError, ValueError) as exc:
                    _note(skipped, record, str(exc))
            after = page["next"]
            if after is None:
                return export_bundle(resources)

    def add_resource(self, fhir_resource: Mapping[str, Any], patient: str, **kw: Any) -> str:
        """Validate a FHIR R4 resource, then add it as a record."""
        from phrchain.fhir import category_of, validate

        validate(fhir_resource)
        return self.add(resource_bytes(fhir_resource), patient,
                        resource=str(fhir_resource["resourceType"]),
                        category=category_of(fhir_resource), **kw)

    # -- reading -----------------------------------------------------------------------
    def _readers_of_unconsented(self, patient: str, kinds: Iterable[tuple[str, str]]) -> None:
        """Ask once for the readers of a bulk import's new records of ``patient``.

        Consent scopes name record ids (``modules/consent``), so whatever its type and
        category, a new record is covered by the patient's ``all`` consents only: one
        ``consent/readers`` answer serves every record of the import (``kinds`` no
        longer matters; kept so that callers need not change)."""
        del kinds
        self._readers(patient)

    def _readers(self, patient: str, resource: str | None = None,
                 category: str | None = None, record: str | None = None
                 ) -> list[dict[str, Any]]:
        """The standing readers of a record of ``patient`` (``consent/readers``): the
        patient and the grantees of read/pull ``all`` consents, plus, with ``record``,
        of consents naming that id. ``resource`` and ``category`` do not matter (a scope
        never names them) and are not sent."""
        del resource, category
        key = (patient, record or "")
        if key not in self._readers_cache:
            self._readers_cache[key] = self.session.q(
                "consent/readers", patient=patient,
                **({} if record is None else {"record": record}))["readers"]
        return self._readers_cache[key]

    def fetch(self, record: str, action: str, purpose: str, vault_org: str | None,
              reason: str | None = None
              ) -> tuple[dict[str, Any], dict[str, Any], bytes, list[ChunkPart],
                         Receipt | None]:
        """One audited access: the descriptor, the vault's answer, the unwrapped data
        key, all ciphertext chunks and a break-glass receipt (what :meth:`open` and the
        exchange's pull and push build on)."""
        descriptor = self.session.descriptor(record)
        vault = self.session.vault(vault_org or descriptor["custodian"])
        salt, justification = b"", None
        if action == "break_glass":
            if reason is None:
                raise RecordsError("a break-glass access needs a reason: say why it cannot "
                                   "wait for the patient's consent")
            salt, justification = breakglass.commit(reason)
        elif reason is not None:
            raise RecordsError("a reason goes with a break-glass access only")
        answer = vault.access(record, action, purpose, justification)
        receipt = None if justification is None else breakglass.receipt(
            record, vault.vault, self.session.wallet.did, vault.last_headers, salt,
            justification)
        if answer["meta"]["hash"] != descriptor.get("hash"):
            raise VaultError(HASH_MISMATCH, "the vault's metadata differs from the chain's")
        data_key = self.session.unwrap(record, answer["wrapped_key"])
        parts = answer["parts"]
        if not parts:  # a large record: fetch its chunks with the ticket
            parts = [vault.chunk(record, i, answer["ticket"])
                     for i in range(descriptor["chunks"])]
        return descriptor, answer, data_key, parts, receipt

    def open(self, record: str, *, action: str = "read", purpose: str = "TREAT",
             vault_org: str | None = None, reason: str | None = None) -> Opened:
        """Fetch, verify (chain hash, AEAD, salted commitment) and decrypt a record. A
        break-glass access needs ``reason`` (at least 10 characters): it is committed to
        in the signed request, never sent, and the result carries the receipt."""
        descriptor, answer, data_key, parts, receipt = self.fetch(record, action, purpose,
                                                                  vault_org, reason)
        plaintext = crypto.open_sealed(
            bytes.fromhex(record), descriptor["patient"], data_key, [p.data for p in parts],
            expected_hash=bytes.fromhex(descriptor["hash"]),
            expected_commitment=bytes.fromhex(descriptor["commitment"]))
        return Opened(record, descriptor, plaintext, answer["decision"], receipt)

    def read_range(self, record: str, start: int, length: int, *, purpose: str = "TREAT",
                   vault_org: str | None = None) -> bytes:
        descriptor = self.session.descriptor(record)
        vault = self.session.vault(vault_org or descriptor["custodian"])
        answer = vault.access(record, "read", purpose)
        data_key = self.session.unwrap(record, answer["wrapped_key"])
        layout = crypto.Layout.of_record(descriptor["size"], descriptor["chunks"])
        wanted = layout.covering(start, length)
        by_index = {p.index: p for p in answer["parts"]}
        parts = [by_index.get(i) or vault.chunk(record, i, answer["ticket"]) for i in wanted]
        return crypto.read_range(bytes.fromhex(record), descriptor["patient"], data_key, parts,
                                 start=start, length=length,
                                 expected_hash=bytes.fromhex(descriptor["hash"]),
                                 count=descriptor["chunks"], size=descriptor["size"])

    def my_records(self, scope: Scope | None = None) -> list[dict[str, Any]]:
        """The descriptors of the caller's own records (as patient) not erased, those
        ``scope`` covers if given."""
        out, after = [], None
        while True:
            page = self.session.q("records/patient", patient=self.session.wallet.did,
                                  **({} if after is None else {"after": after}))
            for record in page["records"]:
                d = self.session.descriptor(record)
                if d["status"] != "erased" and (scope is None or scope.covers(d)):
                    out.append(d)
            after = page["next"]
            if after is None:
                return out

    def erase(self, record: str, reason: str = "patient_request") -> None:
        self.session.send([Erase(record, reason).to_msg()])


def _note(skipped: list[tuple[str, str]] | None, record: str, why: str) -> None:
    if skipped is not None:
        skipped.append((record, why))
