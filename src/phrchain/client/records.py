"""Patient-controlled records from the client side: seal, store, register, read, share.

A :class:`RecordsClient` acts for one wallet (a practitioner, an organization or a
patient) against its node and the vaults of the institutions in ``directory`` (vault
org DID → base URL). All cryptography happens here, on the caller's machine: the vault
only ever sees ciphertext and wrapped keys, the chain only descriptors.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from phrchain.client import breakglass, builder
from phrchain.client.breakglass import Receipt
from phrchain.client.http import NONCE_RACE, NONCE_RETRIES, ApiError, NodeClient
from phrchain.client.vault import VaultClient
from phrchain.client.wallet import Wallet
from phrchain.core.errors import PhrError
from phrchain.modules.consent.messages import Scope
from phrchain.modules.records.messages import CATEGORIES, RESOURCE_RE
from phrchain.vault import crypto
from phrchain.vault.crypto import ChunkPart, RecordMeta, Sealed
from phrchain.vault.errors import HASH_MISMATCH, VaultError


class RecordsError(PhrError):
    """Something the client needs is not there: an unknown DID or record, a vault with
    no known address, a Bundle patient without a DID."""


MSGS_PER_TX = 32
UPLOAD_BATCH_BYTES = 8 << 20
Progress = Callable[[int], None]


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
    """The plaintext of a FHIR record: compact JSON with sorted keys. FHIR carries
    decimals, so this is not the chain's integer-only encoding; it need not be: the
    commitment covers these exact bytes, which travel inside the ciphertext."""
    return json.dumps(resource, sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode()


class RecordsClient:
    def __init__(self, node: NodeClient, wallet: Wallet, directory: Mapping[str, str]) -> None:
        self.node, self.wallet, self.directory = node, wallet, dict(directory)
        self._vaults: dict[str, VaultClient] = {}
        self._identities: dict[str, dict[str, Any]] = {}
        self._pending_nonce = 0
        # Readers by (patient, resource type, category), for one bulk operation: a
        # consent granted meanwhile is served by the patient's re-wrapping.
        self._readers_cache: dict[tuple[str, str, str], list[dict[str, Any]]] = {}

    def close(self) -> None:
        for v in self._vaults.values():
            v.close()

    def vault(self, org: str) -> VaultClient:
        if org not in self._vaults:
            if org not in self.directory:
                raise RecordsError(f"no vault address known for {org}")
            self._vaults[org] = VaultClient(self.directory[org], org, self.wallet)
        return self._vaults[org]

    # -- chain helpers -----------------------------------------------------------------
    def q(self, path: str, **data: Any) -> Any:
        return self.node.query(path, {k: str(v) for k, v in data.items()})["value"]

    def identity(self, did: str) -> dict[str, Any]:
        if did not in self._identities:
            found = self.q("identity/did", did=did)
            if found is None:
                raise RecordsError(f"{did} is not registered")
            self._identities[did] = found
        return self._identities[did]

    def send(self, msgs: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """Sign and submit one tx and wait for its commit (nonce races retried)."""
        return self.node.send(self.wallet, msgs)

    def descriptor(self, record: str) -> dict[str, Any]:
        found = self.q("records/get", record=record)
        if found is None:
            raise RecordsError(f"record {record} is not registered")
        return dict(found)

    # -- writing -----------------------------------------------------------------------
    def custodian_of_me(self) -> str:
        me = self.identity(self.wallet.did)
        return str(me["did"] if me["kind"] == "organization" else me.get("organization", ""))

    def prepare(self, plaintext: bytes, patient: str, *, resource: str, category: str,
                custodian: str | None = None, replaces: str | None = None,
                record_id: bytes | None = None) -> Prepared:
        """Seal ``plaintext`` for ``patient`` and wrap its key for every reader the chain
        names now (the patient, standing-consent grantees), the author and custodian."""
        custodian = custodian or self.custodian_of_me()
        record_id = record_id or secrets.token_bytes(16)
        sealed = crypto.seal(record_id, patient, plaintext)
        readers = self._readers(patient, resource, category)
        enc = {r["did"]: bytes.fromhex(r["enc_key"]) for r in readers}
        for did in (self.wallet.did, custodian):
            enc.setdefault(did, bytes.fromhex(self.identity(did)["enc_key"]))
        wrapped = {did: crypto.wrap_key(sealed.data_key, key, record_id, did)
                   for did, key in enc.items()}
        msg: dict[str, Any] = {"type": "records/register", **sealed.meta.descriptor_fields(),
                               "resource": resource, "category": category}
        if custodian != self.custodian_of_me():
            msg["custodian"] = custodian
        if replaces is not None:
            msg["replaces"] = replaces
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
        self.send_all([[p.msg for p in prepared[i:i + MSGS_PER_TX]]
                       for i in range(0, len(prepared), MSGS_PER_TX)], progress,
                      [len(prepared[i:i + MSGS_PER_TX])
                       for i in range(0, len(prepared), MSGS_PER_TX)])
        return [p.record for p in prepared]

    def _upload(self, batch: Sequence[Prepared]) -> None:
        vault = self.vault(batch[0].custodian)
        if len(batch) == 1:
            vault.upload(batch[0].sealed.meta, batch[0].wrapped, batch[0].sealed.chunks)
        else:
            vault.upload_many([(p.sealed.meta, p.wrapped, p.sealed.chunks) for p in batch])

    def send_all(self, txs: Sequence[Sequence[Mapping[str, Any]]],
                 progress: Progress | None = None, weights: Sequence[int] = ()) -> None:
        """Sign and submit several txs with consecutive nonces without waiting between
        them, then wait for each to commit; raise on the first failure."""
        hashes = self._submit_all(txs)
        for i, tx_hash in enumerate(hashes):
            status = self._wait(tx_hash)
            result = status.get("result") or {}
            if status.get("status") != "committed" or result.get("code", 0) != 0:
                raise ApiError.from_result(result or {"codespace": "client", "code": 3,
                                                      "log": f"tx {tx_hash} {status}"})
            if progress is not None:
                progress(weights[i] if i < len(weights) else 1)

    def _submit_all(self, txs: Sequence[Sequence[Mapping[str, Any]]]) -> list[str]:
        chain_id = self.node.chain_id()
        hashes: list[str] = []
        attempt = 0
        while len(hashes) < len(txs):
            nonce = self.node.next_nonce(self.wallet.did)
            if hashes:  # some went in: continue after what is already pending
                nonce = max(nonce, self._pending_nonce + 1)
            raw = builder.sign(self.wallet, chain_id, nonce,
                               [dict(m) for m in txs[len(hashes)]])
            try:
                answer = self.node.submit(raw, "check")
            except ApiError as exc:
                attempt += 1
                if (exc.codespace, exc.code) not in NONCE_RACE or attempt >= NONCE_RETRIES:
                    raise
                time.sleep(0.02 * attempt)
                continue
            self._pending_nonce = nonce
            hashes.append(answer["hash"])
        return hashes

    def _wait(self, tx_hash: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            status = self.node.tx(tx_hash)
            if status.get("status") not in ("pending", "unknown") \
                    or time.monotonic() > deadline:
                return status
            time.sleep(0.01)

    def add(self, plaintext: bytes, patient: str, *, resource: str, category: str,
            **kw: Any) -> str:
        return self.store([self.prepare(plaintext, patient, resource=resource,
                                        category=category, **kw)])[0]

    def import_bundle(self, bundle: Mapping[str, Any], patients: Mapping[str, str],
                      progress: Progress | None = None) -> dict[str, list[str]]:
        """Import a FHIR transaction or collection Bundle (e.g. from a synthetic-patient
        generator): every resource is validated, references inside the bundle are
        resolved, and each resource (the Patient too) becomes a record of the right
        patient authored by this wallet. ``patients`` maps the Bundle's Patient ids to
        their registered DIDs. Returns record ids per patient DID."""
        from phrchain.fhir import category_of
        from phrchain.fhir.bundle import split_bundle

        split = split_bundle(bundle)
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

        patient = patient or self.wallet.did
        resources: list[dict[str, Any]] = []
        after = None
        while True:
            page = self.q("records/patient", patient=patient,
                          **({} if after is None else {"after": after}))
            for record in page["records"]:
                d = self.descriptor(record)
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
        """A patient without any consent has the same readers for every kind of record
        (``consent/readers``: the patient, plus grantees of covering consents): ask once
        for all the (resource type, category) pairs of a bulk import, not ~10 times.

        Readers first, then the consent list: consents are never deleted, so an empty
        list at the later height means there was none at the earlier one either."""
        missing = sorted(k for k in kinds if (patient, *k) not in self._readers_cache
                         and RESOURCE_RE.fullmatch(k[0]) and k[1] in CATEGORIES)
        if len(missing) < 2:
            return
        readers = self._readers(patient, *missing[0])
        if self.q("consent/patient", patient=patient)["consents"]:
            return
        for resource, category in missing[1:]:
            self._readers_cache[(patient, resource, category)] = readers

    def _readers(self, patient: str, resource: str, category: str) -> list[dict[str, Any]]:
        key = (patient, resource, category)
        if key not in self._readers_cache:
            self._readers_cache[key] = self.q("consent/readers", patient=patient,
                                              resource=resource, category=category)["readers"]
        return self._readers_cache[key]

    def _data_key(self, record: str, wrapped_hex: str) -> bytes:
        return crypto.unwrap_key(bytes.fromhex(wrapped_hex), self.wallet.encryption_key,
                                 bytes.fromhex(record), self.wallet.did)

    def _fetch(self, record: str, action: str, purpose: str, vault_org: str | None,
               reason: str | None = None
               ) -> tuple[dict[str, Any], dict[str, Any], bytes, list[ChunkPart],
                          Receipt | None]:
        descriptor = self.descriptor(record)
        vault = self.vault(vault_org or descriptor["custodian"])
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
            record, vault.vault, self.wallet.did, vault.last_headers, salt, justification)
        if answer["meta"]["hash"] != descriptor.get("hash"):
            raise VaultError(HASH_MISMATCH, "the vault's metadata differs from the chain's")
        data_key = self._data_key(record, answer["wrapped_key"])
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
        descriptor, answer, data_key, parts, receipt = self._fetch(record, action, purpose,
                                                                   vault_org, reason)
        plaintext = crypto.open_sealed(
            bytes.fromhex(record), descriptor["patient"], data_key, [p.data for p in parts],
            expected_hash=bytes.fromhex(descriptor["hash"]),
            expected_commitment=bytes.fromhex(descriptor["commitment"]))
        return Opened(record, descriptor, plaintext, answer["decision"], receipt)

    def read_range(self, record: str, start: int, length: int, *, purpose: str = "TREAT",
                   vault_org: str | None = None) -> bytes:
        descriptor = self.descriptor(record)
        vault = self.vault(vault_org or descriptor["custodian"])
        answer = vault.access(record, "read", purpose)
        data_key = self._data_key(record, answer["wrapped_key"])
        layout = crypto.Layout.of_record(descriptor["size"], descriptor["chunks"])
        wanted = layout.covering(start, length)
        by_index = {p.index: p for p in answer["parts"]}
        parts = [by_index.get(i) or vault.chunk(record, i, answer["ticket"]) for i in wanted]
        return crypto.read_range(bytes.fromhex(record), descriptor["patient"], data_key, parts,
                                 start=start, length=length,
                                 expected_hash=bytes.fromhex(descriptor["hash"]),
                                 count=descriptor["chunks"], size=descriptor["size"])

    # -- consent and sharing (patient) -------------------------------------------------
    def grant(self, grantee: Mapping[str, Any], *, actions: Iterable[str],
              scope: Mapping[str, Any], purposes: Iterable[str], start_ms: int, end_ms: int,
              share_existing: bool = True) -> str:
        """Grant a consent; with ``share_existing``, re-wrap the keys of the patient's
        existing records it covers for the grantee (the vault never sees a data key)."""
        consent = secrets.token_hex(16)
        self.send([{"type": "consent/grant", "consent": consent, "grantee": dict(grantee),
                    "actions": sorted(set(actions)), "scope": dict(scope),
                    "purposes": sorted(set(purposes)),
                    "period": {"start_ms": start_ms, "end_ms": end_ms}}])
        if share_existing:
            self.share(self.grantee_dids(grantee), Scope.parse(scope))
        return consent

    def revoke(self, consent: str) -> None:
        self.send([{"type": "consent/revoke", "consent": consent}])

    def grantee_dids(self, grantee: Mapping[str, Any]) -> list[str]:
        if grantee["kind"] == "practitioner":
            return [grantee["id"]]
        if grantee["kind"] == "organization":
            members = self.q("identity/organization", organization=grantee["id"])["members"]
            return [grantee["id"], *members]
        dids = self.q("identity/role", role=grantee["id"])["dids"]
        org = grantee.get("organization")
        return [d for d in dids if org is None or self.identity(d)["organization"] == org]

    def my_records(self, scope: Scope | None = None) -> list[dict[str, Any]]:
        out, after = [], None
        while True:
            page = self.q("records/patient", patient=self.wallet.did,
                          **({} if after is None else {"after": after}))
            for record in page["records"]:
                d = self.descriptor(record)
                if d["status"] != "erased" and (scope is None or scope.covers(d)):
                    out.append(d)
            after = page["next"]
            if after is None:
                return out

    def share(self, readers: Sequence[str], scope: Scope) -> int:
        """Re-wrap each covered record's key for ``readers`` at every vault holding it."""
        shared = 0
        for d in self.my_records(scope):
            record_id = bytes.fromhex(d["record"])
            answer = self.vault(d["custodian"]).access(d["record"], "read", "PATRQT")
            data_key = self._data_key(d["record"], answer["wrapped_key"])
            for did in readers:
                enc = bytes.fromhex(self.identity(did)["enc_key"])
                wrapped = crypto.wrap_key(data_key, enc, record_id, did)
                for holder in self.q("records/holders", record=d["record"])["holders"]:
                    if holder in self.directory:
                        self.vault(holder).share_key(d["record"], did, wrapped)
                shared += 1
        return shared

    def approve(self, request: str, end_ms: int, share_existing: bool = True) -> None:
        self.send([{"type": "exchange/approve", "request": request, "end_ms": end_ms}])
        if share_existing:
            req = self.q("exchange/get", request=request)
            self.share([req["requester"]], Scope.parse(req["scope"]))

    def deny(self, request: str) -> None:
        self.send([{"type": "exchange/deny", "request": request}])

    def erase(self, record: str, reason: str = "patient_request") -> None:
        self.send([{"type": "records/erase", "record": record, "reason": reason}])

    # -- exchange (providers) ----------------------------------------------------------
    def request_pull(self, patient: str, scope: Mapping[str, Any], purpose: str) -> str:
        request = secrets.token_hex(16)
        self.send([{"type": "exchange/request", "request": request, "patient": patient,
                    "scope": dict(scope), "purpose": purpose}])
        return request

    def _copy_keys(self, record_id: bytes, data_key: bytes, dids: Iterable[str]
                   ) -> dict[str, bytes]:
        return {did: crypto.wrap_key(data_key, bytes.fromhex(self.identity(did)["enc_key"]),
                                     record_id, did) for did in dids}

    def pull(self, request: str, record: str) -> Opened:
        """Fetch a record under an approved pull and keep a copy in my institution's
        vault (which records the copy on chain)."""
        req = self.q("exchange/get", request=request)
        descriptor, answer, data_key, parts, _ = self._fetch(record, "pull", req["purpose"],
                                                             None)
        record_id = bytes.fromhex(record)
        chunks = [p.data for p in parts]
        plaintext = crypto.open_sealed(record_id, descriptor["patient"], data_key, chunks,
                                       expected_hash=bytes.fromhex(descriptor["hash"]),
                                       expected_commitment=bytes.fromhex(
                                           descriptor["commitment"]))
        mine = self.custodian_of_me()
        meta = RecordMeta(record_id, descriptor["patient"], bytes.fromhex(descriptor["hash"]),
                          descriptor["size"], descriptor["chunks"],
                          bytes.fromhex(descriptor["commitment"]))
        self.vault(mine).copy(meta, self._copy_keys(record_id, data_key,
                                                    {self.wallet.did, mine}),
                              chunks, pull=request)
        return Opened(record, descriptor, plaintext, answer["decision"])

    def push(self, record: str, to: str, purpose: str = "TREAT") -> None:
        """Send a record I may read to another provider's institution, under the
        patient's push consent for that provider."""
        descriptor, _, data_key, parts, _ = self._fetch(record, "read", purpose, None)
        self.send([{"type": "exchange/push", "record": record, "to": to, "purpose": purpose}])
        recipient = self.identity(to)
        org = to if recipient["kind"] == "organization" else recipient["organization"]
        record_id = bytes.fromhex(record)
        meta = RecordMeta(record_id, descriptor["patient"], bytes.fromhex(descriptor["hash"]),
                          descriptor["size"], descriptor["chunks"],
                          bytes.fromhex(descriptor["commitment"]))
        self.vault(org).copy(meta, self._copy_keys(record_id, data_key, {to, org}),
                             [p.data for p in parts])

    # -- audit -------------------------------------------------------------------------
    def audit_log(self, patient: str, anchor: Any = None) -> list[dict[str, Any]]:
        """Every audit entry of ``patient``, each proven included in the latest log head,
        and that head proven through ``anchor`` (``client/anchors.py``: a pinned solo
        validator or a CometBFT validator set). Without one, the solo validator the node
        names is used, which only checks the node against itself. Raises
        :class:`~phrchain.core.errors.ProofError` on any failure."""
        from phrchain.client.anchors import SoloAnchor
        from phrchain.client.audit import AuditReader

        if anchor is None:
            anchor = SoloAnchor(self.node, str(self.node.status()["validator"]),
                                self.node.chain_id())
        return AuditReader(self.node, patient, anchor).log()


def _note(skipped: list[tuple[str, str]] | None, record: str, why: str) -> None:
    if skipped is not None:
        skipped.append((record, why))
