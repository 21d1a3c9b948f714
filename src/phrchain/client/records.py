"""Patient-controlled records from the client side: seal, store, register, read, erase.

A :class:`RecordsClient` acts for one wallet (a practitioner, an organization or a
patient) through a :class:`~phrchain.client.session.Session`: its node and the vaults of
the institutions in its directory (vault org DID → base URL). All cryptography happens
here, on the caller's machine: the vault only ever sees ciphertext, wrapped keys and
sealed descriptors; the chain only what enforcement needs (v2: no type, category or
author). A practitioner's records go to its institution's vault, which registers them
on chain signed by the institution; :meth:`RecordsClient.store` waits until they are
committed. Sharing keys with consented readers is ``ConsentClient.share``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from phrchain.client import breakglass
from phrchain.client.breakglass import Receipt
from phrchain.client.http import ApiError
from phrchain.client.sender import Progress
from phrchain.client.session import RecordsError, Session
from phrchain.core.errors import PhrError
from phrchain.modules.consent.messages import Scope
from phrchain.modules.records.messages import (
    Erase,
    size_bucket,
)
from phrchain.vault import bulk as sealing
from phrchain.vault import crypto
from phrchain.vault.bulk import Prepared
from phrchain.vault.crypto import ChunkPart
from phrchain.vault.descriptor import Descriptor, open_descriptor
from phrchain.vault.errors import DESCRIPTOR_INVALID, HASH_MISMATCH, VaultError
from phrchain.vault.wire import MAX_KEY_ITEMS, Upload

if TYPE_CHECKING:
    from phrchain.fhir.bundle import BundleSplit

__all__ = ["MSGS_PER_TX", "Opened", "Prepared", "RecordsClient", "RecordsError",
           "resource_bytes"]

MSGS_PER_TX = 32
MANY_PER_QUERY: Final = 256  # record ids per records/many query (its MAX_MANY)
UPLOAD_BATCH_BYTES = 8 << 20
IMPORT_WINDOW: Final = 8192  # records sealed and held at once by import_splits
UPLOAD_BATCH_RECORDS: Final = 128  # records per upload request (one vault transaction)
REGISTER_TIMEOUT_S: Final = 60.0  # how long store() waits for the vault's register txs
# The opened descriptor's fields merged into the chain's record (Opened.descriptor):
# ``size`` there is the exact ciphertext size; the chain's bucket stays as ``bucket``.
OPENED_FIELDS: Final = ("resource", "category", "author", "size", "chunks")


@dataclass(frozen=True, slots=True)
class Opened:
    record: str
    descriptor: dict[str, Any]
    plaintext: bytes
    decision: dict[str, Any]
    # A break-glass read's receipt (client/breakglass.py): the institution keeps it with
    # the reason, which went nowhere.
    receipt: Receipt | None = None
    # ``descriptor``: the chain's record merged with the opened sealed descriptor
    # (resource, category, author, exact size, chunks; the chain's size is ``bucket``).

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
        """Seal ``plaintext`` for ``patient`` with its sealed descriptor, and wrap its
        key for every reader the chain names now (the patient, standing-consent
        grantees), the author and the custodian. A practitioner's or institution's
        record stays in its own institution (whose vault registers it); a patient's own
        (self-reported) record names the custodian it goes to."""
        return sealing.seal_job(self.job(plaintext, patient, resource=resource,
                                         category=category, custodian=custodian,
                                         replaces=replaces, record_id=record_id))

    def job(self, plaintext: bytes, patient: str, *, resource: str, category: str,
            custodian: str | None = None, replaces: str | None = None,
            record_id: bytes | None = None) -> sealing.Job:
        """What :meth:`prepare` seals (the chain asked here; the sealing needs no
        network): for many records, :func:`sealing.seal_jobs` seals them in a pool."""
        s = self.session
        self_reported = s.identity(s.wallet.did)["kind"] == "patient"
        mine = None if self_reported else s.custodian_of_me()
        custodian = custodian or mine
        if not custodian:
            raise RecordsError("a self-reported record names its custodian institution")
        if mine is not None and custodian != mine:
            raise RecordsError(f"a record is kept by its author's own institution {mine}, "
                               "whose vault registers it")
        readers = self._readers(patient)
        enc = {r["did"]: bytes.fromhex(r["enc_key"]) for r in readers}
        for did in (s.wallet.did, custodian):
            enc.setdefault(did, bytes.fromhex(s.identity(did)["enc_key"]))
        return sealing.Job.new(plaintext, patient, resource=resource, category=category,
                               author=s.wallet.did, custodian=custodian,
                               self_reported=self_reported, replaces=replaces, readers=enc,
                               record_id=record_id)

    def store(self, prepared: Iterable[Prepared], progress: Progress | None = None
              ) -> list[str]:
        """Upload the records to their custodians' vaults (batched, up to ~8 MiB and
        :data:`UPLOAD_BATCH_RECORDS` records per request, each batch as soon as it is
        sealed, so the vault registers one while the next is sealed), then wait until
        they are registered on chain: by each custodian's vault (signed by the
        institution, 32 to a tx), or for self-reported records by this wallet (32 to a
        tx, pipelined). A register tx the chain refused is a :class:`RecordsError`
        naming the record and the chain's code."""
        batch: list[Prepared] = []
        done: list[Prepared] = []
        size = 0
        for p in prepared:
            done.append(p)
            if batch and (p.custodian != batch[0].custodian
                          or size + p.sealed.size > UPLOAD_BATCH_BYTES):
                self._upload(batch)
                batch, size = [], 0
            batch.append(p)
            size += p.sealed.size
            if len(batch) == UPLOAD_BATCH_RECORDS:
                self._upload(batch)
                batch, size = [], 0
        if batch:
            self._upload(batch)
        prepared = done
        self._readers_cache.clear()
        own = [p for p in prepared if p.self_reported]
        txs = [own[i:i + MSGS_PER_TX] for i in range(0, len(own), MSGS_PER_TX)]
        if txs:
            self.session.sender.send_many([[p.msg for p in tx] for tx in txs], progress,
                                          [len(tx) for tx in txs])
        by_vault: dict[str, list[Prepared]] = {}
        for p in prepared:
            if not p.self_reported:
                by_vault.setdefault(p.custodian, []).append(p)
        for custodian, mine in by_vault.items():
            self._await_registered(custodian, mine, progress)
        return [p.record for p in prepared]

    def _await_registered(self, custodian: str, prepared: Sequence[Prepared],
                          progress: Progress | None) -> None:
        """Until the custodian's vault says every record committed (or one refused),
        then each is checked on chain: it must hold exactly what was uploaded."""
        vault = self.session.vault(custodian)
        pending = [p.record for p in prepared]
        deadline, pause = time.monotonic() + REGISTER_TIMEOUT_S, 0.02
        while pending:
            status = vault.registrations(pending)
            for record in pending:
                found = status.get(record, {"status": "unknown"})
                if found["status"] in ("refused", "unknown"):
                    why = f"the chain refused its register tx ({found['code']})" \
                        if found["status"] == "refused" else "the vault has no register job"
                    raise RecordsError(f"record {record} was not registered by the vault of "
                                       f"{custodian}: {why}")
            done = [r for r in pending if status[r]["status"] == "committed"]
            pending = [r for r in pending if status[r]["status"] == "pending"]
            if progress is not None and done:
                progress(len(done))
            if pending:
                if time.monotonic() > deadline:
                    raise RecordsError(f"{len(pending)} record(s) not registered by the "
                                       f"vault of {custodian} within "
                                       f"{REGISTER_TIMEOUT_S:g} s; they stay in its journal")
                time.sleep(pause)
                pause = min(pause * 1.5, 0.1)
        for i in range(0, len(prepared), MANY_PER_QUERY):  # the chain, not the vault,
            part = prepared[i:i + MANY_PER_QUERY]           # says what is registered
            found = self.session.q("records/many",
                                   records=",".join(p.record for p in part))["records"]
            for p in part:
                on_chain = found.get(p.record)
                if on_chain is None or any(on_chain.get(k) != p.msg[k] for k in (
                        "patient", "hash", "size", "commitment", "descriptor")) \
                        or on_chain.get("custodian") != custodian:
                    raise RecordsError(f"record {p.record} is not on chain as uploaded")

    def _upload(self, batch: Sequence[Prepared]) -> None:
        vault = self.session.vault(batch[0].custodian)
        uploads = [Upload(p.sealed.meta, p.wrapped, p.sealed.chunks, p.sealed_descriptor,
                          None if p.self_reported else p.msg) for p in batch]
        if len(uploads) == 1:
            u = uploads[0]
            vault.upload(u.meta, u.wrapped, u.chunks, u.descriptor, u.register)
        else:
            vault.upload_many(uploads)

    def add(self, plaintext: bytes, patient: str, *, resource: str, category: str,
            **kw: Any) -> str:
        return self.store([self.prepare(plaintext, patient, resource=resource,
                                        category=category, **kw)])[0]

    def import_bundle(self, bundle: Mapping[str, Any], patients: Mapping[str, str],
                      progress: Progress | None = None,
                      set_aside: dict[str, int] | None = None,
                      parallel: bool | None = None, split: BundleSplit | None = None
                      ) -> dict[str, list[str]]:
        """Import a FHIR transaction or collection Bundle (e.g. from a synthetic-patient
        generator): every resource is validated, references inside the bundle are
        resolved, and each resource (the Patient too) becomes a record of the right
        patient authored by this wallet. ``patients`` maps the Bundle's Patient ids to
        their registered DIDs. Returns record ids per patient DID. Resources in no
        patient's compartment (Practitioner, Organization, …) are not imported: their
        counts by type are added to ``set_aside`` (why: ``fhir.bundle.SET_ASIDE_REASON``).
        Records are sealed in a pool of worker processes when there are many
        (``vault/bulk.py``; ``parallel=False``: in this process). ``split``: the
        Bundle's ``split_bundle`` if the caller already validated and split it."""
        from phrchain.fhir.bundle import split_bundle

        split = split_bundle(bundle) if split is None else split
        if set_aside is not None:
            for kind, count in split.set_aside().items():
                set_aside[kind] = set_aside.get(kind, 0) + count
        return self.import_splits([split], patients, progress, parallel)

    def import_splits(self, splits: Sequence[BundleSplit], patients: Mapping[str, str],
                      progress: Progress | None = None, parallel: bool | None = None
                      ) -> dict[str, list[str]]:
        """:meth:`import_bundle` of several validated Bundles (``split_bundle``) as one
        stream: sealed, uploaded and registered together in windows of up to
        :data:`IMPORT_WINDOW` records (one wait for the chain per window, not per
        Bundle). Every DID is checked before anything is sealed."""
        from phrchain.fhir import category_of

        for group in (g for split in splits for g in split):
            if group.patient_id not in patients:
                raise RecordsError(f"Bundle Patient {group.patient_id} has no DID in the map")
        out: dict[str, list[str]] = {}
        jobs: list[sealing.Job] = []
        for group in (g for split in splits for g in split):
            did = patients[group.patient_id]
            for res in (group.patient, *group.resources):
                jobs.append(self.job(resource_bytes(res), did,
                                     resource=str(res["resourceType"]),
                                     category=category_of(res)))
                out.setdefault(did, []).append(jobs[-1].record_id.hex())
            if len(jobs) >= IMPORT_WINDOW:
                self.store(sealing.seal_jobs(jobs, parallel=parallel), progress)
                jobs = []
        if jobs:
            self.store(sealing.seal_jobs(jobs, parallel=parallel), progress)
        return out

    def export(self, patient: str | None = None, purpose: str = "PATRQT",
               skipped: list[tuple[str, str]] | None = None) -> dict[str, Any]:
        """Everything the caller may read of ``patient`` (default: the caller, as
        patient) as one FHIR R4 collection Bundle. Records left out (not permitted,
        unreachable vault, a large non-FHIR object) are appended to ``skipped`` as
        ``(record id, reason)``. Each attempt is an audited access."""
        from phrchain.fhir.bundle import export_bundle

        patient = patient or self.session.wallet.did
        owner = patient == self.session.wallet.did
        resources: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.session.q("records/patient", patient=patient,
                                  **({} if after is None else {"after": after}))
            active = [r for r in page["records"]
                      if self.session.descriptor(r)["status"] == "active"]
            # the owner learns what each record is without reading it (keys/own); a
            # reader learns it with the record (a large object is then skipped)
            known, problems = self._descriptors_or_why(active) if owner else ({}, {})
            for record in active:
                if owner and record not in known:
                    _note(skipped, record, problems.get(record,
                                                        "its vault gave no sealed descriptor"))
                    continue
                if record in known and _large(known[record]):
                    _note(skipped, record, "a large object, not a FHIR resource")
                    continue
                try:
                    opened = self.open(record, purpose=purpose)
                    if _large(opened.descriptor):
                        _note(skipped, record, "a large object, not a FHIR resource")
                        continue
                    resources.append(opened.resource())
                except (ApiError, PhrError, ValueError) as exc:
                    _note(skipped, record, str(exc))
            after = page["next"]
            if after is None:
                return export_bundle(resources)

    def _descriptors_or_why(self, records: Sequence[str]
                            ) -> tuple[dict[str, Any], dict[str, str]]:
        """:meth:`descriptors`, and why a record has none (one vault down: asked again
        record by record)."""
        try:
            return self.descriptors(records), {}
        except (ApiError, PhrError, ValueError):
            out: dict[str, Any] = {}
            why: dict[str, str] = {}
            for record in records:
                try:
                    out.update(self.descriptors([record]))
                except (ApiError, PhrError, ValueError) as exc:
                    why[record] = str(exc)
            return out, why

    def add_resource(self, fhir_resource: Mapping[str, Any], patient: str, **kw: Any) -> str:
        """Validate a FHIR R4 resource, then add it as a record."""
        from phrchain.fhir import category_of, validate

        validate(fhir_resource)
        return self.add(resource_bytes(fhir_resource), patient,
                        resource=str(fhir_resource["resourceType"]),
                        category=category_of(fhir_resource), **kw)

    # -- reading -----------------------------------------------------------------------
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
        """One audited access: the record (the chain's fields merged with its opened
        sealed descriptor), the vault's answer, the unwrapped data key, all ciphertext
        chunks and a break-glass receipt (what :meth:`open` and the exchange's pull and
        push build on)."""
        on_chain = self.session.descriptor(record)
        vault = self.session.vault(vault_org or on_chain["custodian"])
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
        data_key = self.session.unwrap(record, answer["wrapped_key"])
        descriptor = self._checked(on_chain, answer, data_key)
        parts = answer["parts"]
        if not parts:  # a large record: fetch its chunks with the ticket
            parts = [vault.chunk(record, i, answer["ticket"])
                     for i in range(descriptor["chunks"])]
        return descriptor, answer, data_key, parts, receipt

    @staticmethod
    def _checked(on_chain: Mapping[str, Any], answer: Mapping[str, Any],
                 data_key: bytes) -> dict[str, Any]:
        """The vault's meta against the chain (hash, size bucket), the sealed descriptor
        opened and checked against the chain's commitment and the meta (exact size,
        chunks): the record merged with what it is."""
        meta = answer["meta"]
        if meta["hash"] != on_chain.get("hash") or meta["patient"] != on_chain["patient"] \
                or size_bucket(int(meta["size"])) != on_chain.get("size"):
            raise VaultError(HASH_MISMATCH, "the vault's metadata differs from the chain's")
        if not answer.get("descriptor"):
            raise VaultError(DESCRIPTOR_INVALID, "the vault returned no sealed descriptor")
        return merged(on_chain, open_descriptor(
            bytes.fromhex(answer["descriptor"]), data_key, bytes.fromhex(on_chain["record"]),
            bytes.fromhex(on_chain["descriptor"])), meta)

    def open(self, record: str, *, action: str = "read", purpose: str = "TREAT",
             vault_org: str | None = None, reason: str | None = None) -> Opened:
        """Fetch, verify (chain hash, AEAD, salted commitment, sealed descriptor) and
        decrypt a record. A break-glass access needs ``reason`` (at least 10
        characters): it is committed to in the signed request, never sent, and the
        result carries the receipt."""
        descriptor, answer, data_key, parts, receipt = self.fetch(record, action, purpose,
                                                                  vault_org, reason)
        plaintext = crypto.open_sealed(
            bytes.fromhex(record), descriptor["patient"], data_key, [p.data for p in parts],
            expected_hash=bytes.fromhex(descriptor["hash"]),
            expected_commitment=bytes.fromhex(descriptor["commitment"]),
            hash_alg=descriptor["hash_alg"])
        return Opened(record, descriptor, plaintext, answer["decision"], receipt)

    def read_range(self, record: str, start: int, length: int, *, purpose: str = "TREAT",
                   vault_org: str | None = None) -> bytes:
        on_chain = self.session.descriptor(record)
        vault = self.session.vault(vault_org or on_chain["custodian"])
        answer = vault.access(record, "read", purpose)
        data_key = self.session.unwrap(record, answer["wrapped_key"])
        descriptor = self._checked(on_chain, answer, data_key)
        layout = crypto.Layout.of_record(descriptor["size"], descriptor["chunks"])
        wanted = layout.covering(start, length)
        by_index = {p.index: p for p in answer["parts"]}
        parts = [by_index.get(i) or vault.chunk(record, i, answer["ticket"]) for i in wanted]
        return crypto.read_range(bytes.fromhex(record), descriptor["patient"], data_key, parts,
                                 start=start, length=length,
                                 expected_hash=bytes.fromhex(descriptor["hash"]),
                                 count=descriptor["chunks"], size=descriptor["size"],
                                 hash_alg=descriptor["hash_alg"])

    def descriptors(self, record_ids: Sequence[str]) -> dict[str, dict[str, Any]]:
        """What the caller's own records (as their patient) are, without reading them:
        the chain's record merged with its opened sealed descriptor, fetched with the
        caller's wrapped keys from each custodian's vault (``keys/own``, batched; not an
        audited read). Erased records, and records whose vault has no descriptor, are
        left out."""
        by_vault: dict[str, list[dict[str, Any]]] = {}
        for record in record_ids:
            on_chain = self.session.descriptor(record)
            if on_chain["status"] != "erased" and "descriptor" in on_chain:
                by_vault.setdefault(on_chain["custodian"], []).append(on_chain)
        out: dict[str, dict[str, Any]] = {}
        for custodian, records in by_vault.items():
            vault = self.session.vault(custodian)
            for i in range(0, len(records), MAX_KEY_ITEMS):
                part = records[i:i + MAX_KEY_ITEMS]
                keys, sealed = vault.own([r["record"] for r in part])
                for r in part:
                    if r["record"] not in sealed:
                        continue
                    data_key = self.session.unwrap(r["record"], keys[r["record"]].hex())
                    out[r["record"]] = merged(r, open_descriptor(
                        sealed[r["record"]], data_key, bytes.fromhex(r["record"]),
                        bytes.fromhex(r["descriptor"])))
        return out

    def my_records(self, scope: Scope | None = None) -> list[dict[str, Any]]:
        """The caller's own records (as patient) not erased, those ``scope`` covers if
        given. Without a scope the chain's records are merged with their opened sealed
        descriptors (:meth:`descriptors`), so each says what it is."""
        out, after = [], None
        while True:
            page = self.session.q("records/patient", patient=self.session.wallet.did,
                                  **({} if after is None else {"after": after}))
            for record in page["records"]:
                d = self.session.descriptor(record)
                if d["status"] != "erased":
                    out.append(d)
            after = page["next"]
            if after is None:
                break
        # what each record is, opened only where asked for or where the scope needs it
        if scope is None:
            known = self.descriptors([d["record"] for d in out])
            out = [known.get(d["record"], d) for d in out]
        return [d for d in out if scope is None or scope.covers(d)]

    def erase(self, record: str, reason: str = "patient_request") -> None:
        self.session.send([Erase(record, reason).to_msg()])


def merged(on_chain: Mapping[str, Any], descriptor: Descriptor,
           meta: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The chain's record with what its opened descriptor says (``OPENED_FIELDS``; the
    chain's size bucket stays as ``bucket``). With the vault's ``meta``, the exact size
    and chunk count must agree with the descriptor's."""
    if meta is not None and (int(meta["size"]), int(meta["chunks"])) != (
            descriptor.size, descriptor.chunks):
        raise VaultError(DESCRIPTOR_INVALID, "the sealed descriptor's size or chunks differ "
                         "from the vault's")
    if size_bucket(descriptor.size) != on_chain.get("size"):
        raise VaultError(DESCRIPTOR_INVALID, "the sealed descriptor's size is not in the "
                         "chain's size bucket")
    opened = descriptor.to_json()
    return {**on_chain, "bucket": on_chain.get("size"),
            **{k: opened[k] for k in OPENED_FIELDS}, "hash_alg": descriptor.hash_alg}


def _large(descriptor: Mapping[str, Any]) -> bool:
    """A large object (genomic data, more than one chunk), not a FHIR resource."""
    return bool(descriptor.get("category") == "genomic" or descriptor.get("chunks", 1) > 1)


def _note(skipped: list[tuple[str, str]] | None, record: str, why: str) -> None:
    if skipped is not None:
        skipped.append((record, why))
