"""Verification of a portable record (``docs/portable.md`` § What is verified).

Trust: only what the *caller* supplies — the solo validator's DID (and optionally the
chain id). The file's own description of its chain is never used as an anchor.

:func:`verify_payload` checks a decrypted payload offline, in a fixed order, and raises
:class:`~phrchain.client.portable_file.PortableError` naming the first failing item:

1. the signed header at the file's height H, against the caller's validator;
2. the patient's identity at H (state proof), and that the file's keys are its keys;
3. per record, in file order: the descriptor's state proof at H, that it is the
   patient's and not erased, the ciphertext's length, the chunk leaf hashes against the
   descriptor's Merkle root, every chunk against its leaf hash, the patient's wrapped
   key, every chunk's AEAD, and the registered commitment over salt || plaintext;
4. per left-out record: its descriptor's state proof;
5. per consent: its state proof at H and that it is the patient's;
6. the patient's audit-log head: its state proof at H and its frontier.

:func:`check_target` then checks a node the payload is about to be imported into: the
same chain (chain id, and its header at H equals the file's), every record still
registered, unchanged and not erased *now*, the patient's key still current, and the
target an active care organization. Neither writes anything.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from phrchain.client.anchors import SoloAnchor
from phrchain.client.audit import check_head
from phrchain.client.portable_file import CarriedRecord, Payload, PortableError, split_chunks
from phrchain.client.verify import verify_header, verify_query_against_header
from phrchain.client.wallet import WalletError
from phrchain.core import encoding, rfc9162
from phrchain.core.block import SignedHeader
from phrchain.core.errors import CryptoError, PhrError, ProofError
from phrchain.modules.consent.keys import consent_key
from phrchain.modules.identity import CARE_ORG_TYPES
from phrchain.modules.identity.keys import id_key
from phrchain.modules.records.keys import record_key
from phrchain.modules.records.messages import MAX_SIZE, size_bucket
from phrchain.vault import crypto
from phrchain.vault import errors as vault_errors
from phrchain.vault.descriptor import Descriptor, open_descriptor
from phrchain.vault.errors import VaultError

__all__ = ["CarriedCheck", "PortableReport", "Verified", "check_target", "verify_payload"]


@dataclass(frozen=True, slots=True)
class CarriedCheck:
    """A verified record: its proven state, and what its opened sealed descriptor says
    (type, category, exact size and chunks)."""

    record: str
    resource: str
    category: str
    status: str
    custodian: str
    size: int
    chunks: int
    hash: str
    commitment: str

    @classmethod
    def of(cls, d: Mapping[str, Any], opened: Descriptor) -> CarriedCheck:
        return cls(d["record"], opened.resource, opened.category, d["status"],
                   d["custodian"], opened.size, opened.chunks, d["hash"], d["commitment"])


@dataclass
class PortableReport:
    """What was verified (and, after an import, what was written)."""

    patient: str
    chain_id: str
    validator: str
    height: int
    app_hash: str
    header_hash: str
    records: list[CarriedCheck]
    left_out: list[dict[str, Any]]
    consents: list[str]
    audit_size: int
    audit_root: str
    node_height: int | None = None  # the latest height the target node was checked at
    target: str | None = None
    holders_added: list[str] = field(default_factory=list)
    uploaded: list[str] = field(default_factory=list)
    written: bool = False

    def counts(self) -> dict[str, int]:
        return {"headers": 1, "records": len(self.records),
                "chunks": sum(r.chunks for r in self.records),
                "ciphertext_bytes": sum(r.size for r in self.records),
                "commitments": len(self.records), "wrapped_keys": len(self.records),
                "left_out": len(self.left_out), "consents": len(self.consents),
                "audit_entries": self.audit_size,
                # identity + records + left out + consents + audit head
                "state_proofs": 2 + len(self.records) + len(self.left_out)
                + len(self.consents)}

    def to_json(self) -> dict[str, Any]:
        return {"patient": self.patient, "chain_id": self.chain_id,
                "validator": self.validator, "height": self.height,
                "app_hash": self.app_hash, "header_hash": self.header_hash,
                "counts": self.counts(),
                "records": [{"record": r.record, "resource": r.resource,
                             "category": r.category, "status": r.status,
                             "custodian": r.custodian, "chunks": r.chunks, "size": r.size,
                             "hash": r.hash} for r in self.records],
                "left_out": [{"record": e["record"], "reason": e["reason"]}
                             for e in self.left_out],
                "consents": self.consents,
                "audit_head": {"size": self.audit_size, "root": self.audit_root},
                "node_height": self.node_height, "target": self.target,
                "holders_added": self.holders_added, "uploaded": self.uploaded,
                "written": self.written}

    def lines(self) -> list[str]:
        c = self.counts()
        out = [
            f"portable record of {self.patient} on chain {self.chain_id!r}",
            f"  header at height {self.height} (hash {self.header_hash}, app hash "
            f"{self.app_hash}): signature verified with validator {self.validator}",
            f"  {c['state_proofs']} state proof(s) verified against that app hash: the "
            f"patient's identity, {c['records']} record descriptor(s), {c['left_out']} "
            f"left-out descriptor(s), {c['consents']} consent(s), the audit-log head",
            f"  {c['records']} record(s), {c['chunks']} chunk(s), {c['ciphertext_bytes']} "
            "ciphertext bytes: every chunk's leaf hash matches its descriptor's Merkle "
            "root, every chunk decrypts, every wrapped key unwraps with the patient's key, "
            "every salt+plaintext reproduces its registered commitment",
        ]
        out += [f"    {r.record} {r.resource} ({r.category}, {r.status}), {r.chunks} "
                f"chunk(s), root {r.hash}" for r in self.records]
        out += [f"  left out (not carried, still at its vaults): {e['record']}: "
                f"{e['reason']}" for e in self.left_out]
        out.append(f"  audit-log head: {self.audit_size} entr"
                   f"{'y' if self.audit_size == 1 else 'ies'}, root {self.audit_root}")
        if self.node_height is not None:
            out.append(f"  target node: same chain, same header at height {self.height}; "
                       f"every record still registered and not erased at height "
                       f"{self.node_height}")
        if self.written:
            out.append(f"  imported into the vault of {self.target}: {len(self.uploaded)} "
                       f"record(s) uploaded, {len(self.holders_added)} holder(s) added on "
                       "chain (records/add_holder)")
        return out


@dataclass
class Verified:
    """A payload that passed :func:`verify_payload`: the report, plus what an import
    needs (proven descriptors and the unwrapped data keys)."""

    payload: Payload
    report: PortableReport
    descriptors: dict[str, dict[str, Any]]
    data_keys: dict[str, bytes] = field(repr=False)
    opened: dict[str, Descriptor] = field(default_factory=dict, repr=False)


@contextlib.contextmanager
def item(name: str) -> Iterator[None]:
    """Name the item being checked in whatever refuses it."""
    try:
        yield
    except PortableError as exc:
        raise PortableError(f"{name}: {exc}") from None
    except (ProofError, CryptoError, VaultError, WalletError) as exc:
        raise PortableError(f"{name}: {exc}") from None
    except (PhrError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise PortableError(f"{name}: malformed ({type(exc).__name__}: {exc})") from None


class _FileHeaders:
    """A "node" serving only the file's own header, for :class:`SoloAnchor`."""

    def __init__(self, height: int, header: dict[str, Any]) -> None:
        self.height, self._header = height, header

    def header(self, height: int) -> dict[str, Any]:
        if height != self.height:
            raise ProofError(f"the file carries no header at height {height}")
        return self._header


def _proven(answer: Mapping[str, Any], header: dict[str, Any], validator: str, key: bytes,
            chain_id: str, height: int) -> Any:
    try:
        value = verify_query_against_header(answer, header, validator, expected_key=key,
                                            chain_id=chain_id)
    except (ProofError, CryptoError) as exc:
        raise ProofError(f"state proof does not match the app hash at height {height} "
                         f"({exc})") from None
    if value is None:
        raise ProofError(f"the state proof shows it absent at height {height}")
    return value


# -- offline ---------------------------------------------------------------------------------
def verify_payload(payload: Payload, validator: str, chain_id: str | None = None) -> Verified:
    """Check everything in ``payload`` against ``validator`` (see the module docstring)."""
    height, wallet = payload.height, payload.wallet
    with item(f"header at height {height}"):
        header = verify_header(payload.header, validator, chain_id)
        if header.height != height:
            raise ProofError(f"the file's header is for height {header.height}")
    chain = header.chain_id

    def proven(answer: Mapping[str, Any], key: bytes) -> Any:
        return _proven(answer, payload.header, validator, key, chain, height)

    with item("patient identity"):
        identity = proven(payload.identity, id_key(wallet.did))
        if identity["kind"] != "patient" or identity["status"] != "active":
            raise ProofError(f"{wallet.did} is not an active patient at height {height}")
        if identity["signing_key"] != wallet.signing_key.public_key.hex() \
                or identity["enc_key"] != wallet.enc_key.hex():
            raise ProofError("the file's keys are not the identity's keys at height "
                             f"{height}")
    descriptors: dict[str, dict[str, Any]] = {}
    data_keys: dict[str, bytes] = {}
    opened: dict[str, Descriptor] = {}
    checks = []
    for carried in payload.records:
        with item(f"record {carried.record}"):
            d = proven(carried.proof, record_key(carried.record))
            _check_descriptor(d, carried.record, wallet.did, height)
            data_keys[carried.record], opened[carried.record] = _check_ciphertext(
                carried, d, payload)
        if carried.record in descriptors:
            raise PortableError(f"record {carried.record}: carried twice")
        descriptors[carried.record] = d
        checks.append(CarriedCheck.of(d, opened[carried.record]))
    for entry in payload.left_out:
        with item(f"left-out record {entry['record']}"):
            d = proven(entry["proof"], record_key(entry["record"]))
            _check_descriptor(d, entry["record"], wallet.did, height)
    consents = []
    for entry in payload.consents:
        with item(f"consent {entry['consent']}"):
            consent = proven(entry["proof"], consent_key(entry["consent"]))
            if consent["consent"] != entry["consent"] or consent["patient"] != wallet.did:
                raise ProofError("the proven consent is another patient's or another id")
        consents.append(entry["consent"])
    with item("audit-log head"):
        head = check_head(payload.audit_head,
                          SoloAnchor(_FileHeaders(height, payload.header), validator, chain),
                          wallet.did)
        if head.height != height:
            raise ProofError(f"proven at height {head.height}, not the file's {height}")
    report = PortableReport(wallet.did, chain, validator, height, header.app_hash.hex(),
                            header.hash().hex(), checks, list(payload.left_out), consents,
                            head.size, head.root.hex())
    return Verified(payload, report, descriptors, data_keys, opened)


def _check_descriptor(d: Mapping[str, Any], record: str, patient: str, height: int) -> None:
    if d["record"] != record or d["patient"] != patient:
        raise ProofError("the proven descriptor is another record's or another patient's")
    if d["status"] == "erased":
        raise ProofError(f"erased at height {d['erased_height']} (before the export at "
                         f"height {height})")


def _check_ciphertext(carried: CarriedRecord, d: Mapping[str, Any], payload: Payload
                      ) -> tuple[bytes, Descriptor]:
    """Leaf hashes → root, chunks → leaves, wrapped key, AEAD, commitment, the sealed
    descriptor against its commitment; the data key and the opened descriptor. The
    exact size is the ciphertext's length (in the chain's bucket), the chunk count the
    leaves' (the root binds them)."""
    size, count = len(carried.ciphertext), len(carried.leaves)
    if not 0 < size <= MAX_SIZE or size_bucket(size) != d["size"]:
        raise ProofError(f"ciphertext is {size} bytes, not in the registered size bucket "
                         f"{d['size']}")
    if rfc9162.root_from_leaf_hashes(carried.leaves).hex() != d["hash"]:
        raise ProofError(f"chunk leaf hashes do not hash to the descriptor's Merkle root "
                         f"{d['hash']}")
    chunks = split_chunks(carried.ciphertext, size, count)
    for i, chunk in enumerate(chunks):
        if rfc9162.leaf_hash(chunk) != carried.leaves[i]:
            raise ProofError(f"chunk {i} leaf hash mismatch")
    record_id = bytes.fromhex(carried.record)
    data_key = _unwrap(carried.wrapped_key, payload, record_id)
    try:
        crypto.open_stream(record_id, d["patient"], data_key, chunks, _Discard(),
                           leaf_hashes=carried.leaves, expected_hash=bytes.fromhex(d["hash"]),
                           expected_commitment=bytes.fromhex(d["commitment"]), size=size)
    except VaultError as exc:
        if exc.error is vault_errors.COMMITMENT_MISMATCH:
            raise ProofError("the decrypted salt+plaintext does not reproduce the "
                             f"registered commitment {d['commitment']}") from None
        raise ProofError(f"does not decrypt: {exc}") from None
    if carried.descriptor is None:
        raise ProofError("carries no sealed descriptor")
    try:
        opened = open_descriptor(carried.descriptor, data_key, record_id,
                                 bytes.fromhex(d["descriptor"]))
    except VaultError as exc:
        raise ProofError(f"sealed descriptor: {exc}") from None
    if (opened.size, opened.chunks) != (size, count):
        raise ProofError(f"the sealed descriptor says {opened.size} bytes in "
                         f"{opened.chunks} chunk(s), the file carries {size} in {count}")
    return data_key, opened


def _unwrap(wrapped: bytes, payload: Payload, record_id: bytes) -> bytes:
    wallet = payload.wallet
    last: VaultError | None = None
    for key in (wallet.encryption_key, *wallet.retired_encryption_keys):
        try:
            return crypto.unwrap_key(wrapped, key, record_id, wallet.did)
        except VaultError as exc:
            last = exc
    raise ProofError(f"the patient's wrapped key does not unwrap ({last})")


class _Discard:
    def write(self, data: bytes, /) -> int:
        return len(data)


# -- online ----------------------------------------------------------------------------------
@dataclass
class Target:
    """What the import writes: which records need ``records/add_holder``, and the keys
    to wrap for the target institution (and its standing-consent readers)."""

    org: str
    org_enc_key: bytes
    latest: int
    holders: dict[str, list[str]]


def check_target(verified: Verified, node: Any, validator: str, org: str) -> Target:
    """Check the node about to receive ``verified`` (module docstring); raise
    :class:`PortableError` naming the first failing item."""
    report, wallet = verified.report, verified.payload.wallet
    live = SoloAnchor(node, validator, report.chain_id)
    with item("target chain"):
        if node.chain_id() != report.chain_id:
            raise ProofError(f"the node runs chain {node.chain_id()!r}, the file is from "
                             f"{report.chain_id!r}")
        theirs = SignedHeader.from_json(live.signed_header(report.height)).header
        if theirs.hash().hex() != report.header_hash:
            raise ProofError(f"the node's header at height {report.height} differs from "
                             "the file's (another chain, or a fork)")
        latest = int(SignedHeader.from_json(node.header(None)).header.height)
        live.signed_header(latest)

    def now(path: str, data: dict[str, str], key: bytes) -> Any:
        answer = node.query(path, data, height=latest, prove=True)
        raw = live.prove_raw(answer, key)
        return None if raw is None else encoding.decode(bytes.fromhex(raw))

    with item("patient identity now"):
        identity = now("identity/did", {"did": wallet.did}, id_key(wallet.did))
        if identity is None or identity["status"] != "active" \
                or identity["signing_key"] != wallet.signing_key.public_key.hex():
            raise ProofError(f"at height {latest} {wallet.did} is not active with the "
                             "file's signing key (rotated or revoked since the export?)")
    with item(f"target organization {org}"):
        target = now("identity/did", {"did": org}, id_key(org))
        if target is None or target["status"] != "active" \
                or target["kind"] != "organization" \
                or target["org_type"] not in CARE_ORG_TYPES:
            raise ProofError(f"not an active care organization at height {latest}")
    holders = {}
    for record, before in verified.descriptors.items():
        with item(f"record {record}"):
            d = now("records/get", {"record": record}, record_key(record))
            if d is None:
                raise ProofError(f"not registered at height {latest}")
            if d["status"] == "erased":
                raise ProofError(f"erased on chain at height {d['erased_height']} "
                                 f"({d['reason']}), after the export")
            if any(d[k] != before[k] for k in ("patient", "hash", "commitment", "size",
                                                "descriptor")):
                raise ProofError(f"the chain's descriptor at height {latest} differs from "
                                 "the file's")
            holders[record] = list(node.query("records/holders", {"record": record},
                                              height=latest)["value"]["holders"])
    report.node_height, report.target = latest, org
    return Target(org, bytes.fromhex(target["enc_key"]), latest, holders)
