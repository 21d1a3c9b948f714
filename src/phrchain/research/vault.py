"""The custodian vault's release of a research dataset (issue 17), off chain.

Given a data request the chain has matched, the vault takes the records it holds whose
owner pseudonym was matched ``included`` and whose donation still covers them, groups
them per donor, de-identifies them (:mod:`phrchain.deid`), runs the release gates, and
builds the ``research/release`` manifest: the dataset root, the leaves (record
commitment, donation version) and their RFC 9162 root, the configuration's hash, the
k and l reached, the key's commitment, and the approver's signature. Only a dataset
that passed every gate gets a manifest.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from phrchain.core import keys, rfc9162
from phrchain.deid import Config, Dataset, Group, deidentify, gates
from phrchain.deid.pseudonyms import key_commitment
from phrchain.modules.research import leaf_bytes, release_bytes
from phrchain.modules.research.messages import Leaf, Release, ReleasePart, release_part_bytes
from phrchain.vault import crypto

Query = Callable[..., Any]    # query(path, **data) -> the answer's value
DESCRIPTOR_BATCH = 500        # record ids per research/records query (it takes 1000)

__all__ = ["HeldRecord", "Released", "approve", "descriptors", "eligible", "key_commitment",
           "manifest_to_sign", "open_for_study", "open_held", "prepare", "release",
           "seal_for_study", "to_sign"]


@dataclass(frozen=True, slots=True)
class HeldRecord:
    """A record the vault holds, opened: its id and its FHIR resource."""

    record: str
    resource: Mapping[str, Any]


class _Blobs(Protocol):
    def get_meta(self, record_id: bytes) -> crypto.RecordMeta: ...

    def get_wrapped_key(self, record_id: bytes, reader: str) -> bytes: ...

    def iter_chunks(self, record_id: bytes) -> Iterator[bytes]: ...


class Custodian(Protocol):
    """What :func:`open_held` needs of a vault (``gateway.service.Vault`` has it): its
    blob store, its organization's DID and X25519 key (the custodian's wrapped copy)."""

    @property
    def store(self) -> _Blobs: ...

    @property
    def org(self) -> str: ...

    @property
    def org_enc(self) -> keys.EncryptionKey: ...


def open_held(vault: Custodian, records: Iterable[str]) -> list[HeldRecord]:
    """The custodian opens its own copies: each record's data key unwrapped with the
    organization's key, every chunk checked against the registered hash and commitment
    (``crypto.open_sealed``), the plaintext parsed as the FHIR resource it is."""
    out = []
    for record in records:
        rid = bytes.fromhex(record)
        meta = vault.store.get_meta(rid)
        data_key = crypto.unwrap_key(vault.store.get_wrapped_key(rid, vault.org),
                                     vault.org_enc, rid, vault.org)
        plaintext = crypto.open_sealed(rid, meta.patient, data_key,
                                       list(vault.store.iter_chunks(rid)),
                                       expected_hash=meta.hash,
                                       expected_commitment=meta.commitment,
                                       chunk_size=meta.chunk_size)
        del data_key
        out.append(HeldRecord(record, json.loads(plaintext)))
    return out


@dataclass(frozen=True, slots=True)
class Released:
    dataset: Dataset
    manifest: Release | ReleasePart
    donors: tuple[str, ...]
    study: str = ""
    config: str = ""     # the configuration's digest and the key's commitment (what a
    key: str = ""        # continuation part's approver signs with it)


def eligible(query: Query, request: str, held: Sequence[HeldRecord], now_ms: int
             ) -> dict[str, tuple[int, list[tuple[HeldRecord, str]]]]:
    """``{donor: (donation version, [(record, its commitment)])}``: the held records the
    chain will accept in a manifest of ``request`` (the same checks as
    ``research/release``). The held records' descriptors come in batches
    (``research/records``); only their owners are looked up: their outcome of the
    request (one state key each) and their donation."""
    outcomes: dict[str, Any] = {}
    donations: dict[str, Any] = {}
    found: dict[str, tuple[int, list[tuple[HeldRecord, str]]]] = {}
    records = descriptors(query, [item.record for item in held])
    for item in held:
        record = records[item.record]
        if record is None or record["status"] != "active":
            continue
        donor = record["patient"]
        if donor not in outcomes:
            outcomes[donor] = query("research/outcome", request=request, donor=donor)
        outcome = outcomes[donor]
        if outcome is None or outcome["outcome"] != "included":
            continue
        if donor not in donations:
            donations[donor] = query("research/donation", donor=donor)
        donation = donations[donor]
        period = donation["period"]
        if donation["status"] != "active" or donation["version"] != outcome["donation"] \
                or not period["start_ms"] <= now_ms < period["end_ms"] \
                or ("all" not in donation["scope"]
                    and item.record not in donation["scope"]["records"]):
            continue
        found.setdefault(donor, (outcome["donation"], []))[1].append(
            (item, str(record["commitment"])))
    return found


def descriptors(query: Query, ids: Sequence[str]) -> dict[str, Any]:
    """``{record id: descriptor or None}``, ``DESCRIPTOR_BATCH`` ids per chain query."""
    distinct = list(dict.fromkeys(ids))
    found: dict[str, Any] = {}
    for start in range(0, len(distinct), DESCRIPTOR_BATCH):
        batch = ",".join(distinct[start:start + DESCRIPTOR_BATCH])
        found.update(query("research/records", records=batch)["records"])
    return found


def prepare(query: Query, request: str, held: Sequence[HeldRecord], *, config: Config,
            key: bytes, dataset: str, reference_year: int, recorded: str, now_ms: int,
            part: int = 1) -> Released:
    """De-identify and gate the eligible records; raise the gate's refusal
    (:class:`~phrchain.deid.DeidError`) or return the dataset and its manifest, not yet
    approved (``approver`` empty: :func:`approve` signs it). ``part`` > 1: a
    continuation of ``dataset`` (``research/release_part``, same configuration and
    key: pseudonyms and date offsets stay consistent across parts); records already in
    the dataset are left out."""
    study = query("research/request", request=request)["study"]
    terms_of = query("research/study", study=study)
    if part > 1:
        held = [h for h in held
                if query("research/leaf", dataset=dataset, record=h.record) is None]
    chosen = eligible(query, request, held, now_ms)
    donors = sorted(chosen)
    groups = [Group(tuple(h.resource for h, _ in chosen[d][1])) for d in donors]
    result = deidentify(groups, config, key, study=study, dataset=dataset,
                        reference_year=reference_year, recorded=recorded)
    result.check()
    # The study's terms may ask more than the configuration: the stricter one gates.
    gates.require(result.report["k"]["reached"], result.report["l"]["reached"],
                  max(config.k, terms_of["k"]), max(config.l, terms_of["l"]), {})
    leaves = sorted((h.record, chosen[d][0], c) for d in donors for h, c in chosen[d][1])
    leaves_root = rfc9162.root_from_leaf_hashes(
        [rfc9162.leaf_hash(leaf_bytes(c, v)) for _, v, c in leaves]).hex()
    resources, k, l_reached = (sum(len(v) for v in result.lines.values()),
                               result.report["k"]["reached"], result.report["l"]["reached"])
    chosen_leaves = tuple(Leaf(r, v) for r, v, _ in leaves)
    manifest: Release | ReleasePart = Release(
        dataset, request, result.root, resources, chosen_leaves, leaves_root, config.digest,
        k, l_reached, key_commitment(key), "", b"") if part == 1 else ReleasePart(
        dataset, part, result.root, resources, chosen_leaves, leaves_root, k, l_reached,
        "", b"")
    return Released(result, manifest, tuple(donors), study, config.digest,
                    key_commitment(key))


def to_sign(released: Released) -> bytes:
    """The bytes the approver signs for ``released`` (``release_bytes``)."""
    return manifest_to_sign(released.manifest, released.study, released.config,
                            released.key)


def manifest_to_sign(m: Release | ReleasePart, study: str, config: str, key: str) -> bytes:
    """The bytes an approver signs for manifest ``m`` of ``study`` (a continuation part
    signs the dataset's configuration digest and key commitment with it)."""
    if isinstance(m, ReleasePart):
        return release_part_bytes(m.dataset, study, m.part, m.root, m.leaves_root, config,
                                  key)
    return release_bytes(m.dataset, study, m.root, m.leaves_root, m.config, m.key)


def approve(released: Released, approver: str, approval: bytes) -> Released:
    """``released`` with its approver's DID and signature (checked by the chain)."""
    return dataclasses.replace(released, manifest=dataclasses.replace(
        released.manifest, approver=approver, approval=approval))


def release(query: Query, request: str, held: Sequence[HeldRecord], *, config: Config,
            key: bytes, dataset: str, reference_year: int, recorded: str, now_ms: int,
            approver: keys.SigningKey, part: int = 1) -> Released:
    """:func:`prepare` and approve with the approver's key at hand."""
    prepared = prepare(query, request, held, config=config, key=key, dataset=dataset,
                       reference_year=reference_year, recorded=recorded, now_ms=now_ms,
                       part=part)
    return approve(prepared, approver.did, approver.sign(to_sign(prepared)))


def _aad(dataset: str, name: str) -> bytes:
    return f"phrchain/research/dataset/v1|{dataset}|{name}".encode()


def seal_for_study(dataset: Dataset, dataset_id: str, reader_did: str,
                   reader_enc_public: bytes) -> dict[str, Any]:
    """The dataset's files re-encrypted for the study's reader (the institute's
    registered X25519 key): one fresh AES-256-GCM key, HPKE-wrapped to the reader and
    bound to the dataset id; each file sealed with its name as associated data."""
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    data_key = AESGCM.generate_key(256)
    aead, files = AESGCM(data_key), {}
    for rtype, lines in sorted(dataset.lines.items()):
        name = f"{rtype}.ndjson"
        nonce = os.urandom(12)
        body = "".join(x + "\n" for x in lines).encode()
        files[name] = (nonce + aead.encrypt(nonce, body, _aad(dataset_id, name))).hex()
    wrapped = crypto.wrap_key(data_key, reader_enc_public, bytes.fromhex(dataset_id),
                              reader_did)
    del data_key
    return {"dataset": dataset_id, "reader": reader_did, "key": wrapped.hex(),
            "files": files}


def open_for_study(sealed: Mapping[str, Any], reader_key: keys.EncryptionKey
                   ) -> dict[str, bytes]:
    """``{file name: NDJSON bytes}`` of a :func:`seal_for_study` package (raises
    :class:`~phrchain.vault.errors.VaultError` or ``InvalidTag`` on any change)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    dataset_id, reader = str(sealed["dataset"]), str(sealed["reader"])
    data_key = crypto.unwrap_key(bytes.fromhex(sealed["key"]), reader_key,
                                 bytes.fromhex(dataset_id), reader)
    aead = AESGCM(data_key)
    out = {}
    for name, blob_hex in sealed["files"].items():
        blob = bytes.fromhex(blob_hex)
        out[name] = aead.decrypt(blob[:12], blob[12:], _aad(dataset_id, name))
    return out
