"""Registration by the vault (v2, docs/privacy-v2-design.md § 2): a practitioner uploads
to its own institution's vault, which registers the record signed by the institution.
No register tx is signed by a practitioner, and no resource type, category or author
of a record is in any chain byte; the vault refuses uploads whose register message does
not describe them; a refused register tx reaches the uploader as a clear error; a
crash between acceptance and commit re-sends."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.http import ApiError
from phrchain.client.records import RecordsError, resource_bytes
from phrchain.client.vault import VaultClient
from phrchain.core import encoding
from phrchain.core.tx import build_tx, decode_tx
from phrchain.fhir.bundle import split_bundle
from phrchain.fhir.synthetic import generate_bundle
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.modules.records.messages import CATEGORIES, Register, size_bucket
from phrchain.vault.requests import Verified
from phrchain.vault.wire import Upload
from tests.consortium import (
    A1,
    A2,
    AE,
    B1,
    HOSPITAL_A,
    HOSPITAL_B,
    STRANGER,
    Consortium,
    P,
    Q,
    running,
)

BASIC = {"resourceType": "Basic", "code": {"text": "note"}}


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("registration")) as consortium:
        yield consortium


def code(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, str, int]:
    return exc.value.status, exc.value.codespace, exc.value.code


def chain_bytes(c: Consortium) -> tuple[list[bytes], list[bytes], list[tuple[bytes, bytes]]]:
    """Every committed tx, every result (events), every state row."""
    txs, results = [], []
    for height in range(1, c.node.blocks.height() + 1):
        block = c.node.block(height)
        assert block is not None
        for tx in block[1]:
            txs.append(tx.raw)
            results.append(encoding.encode(tx.result))
    return txs, results, list(c.node.state.iterate(b""))


def test_no_practitioner_signs_a_register_and_nothing_descriptive_is_on_chain(
        c: Consortium) -> None:
    bundle = generate_bundle(3, 0, resources=10)
    fhir_id = next(e["resource"]["id"] for e in bundle["entry"]
                   if e["resource"]["resourceType"] == "Patient")
    ids = c.client(A1).records.import_bundle(bundle, {fhir_id: P.did})[P.did]
    one = c.client(AE).records.add_resource(BASIC, P.did)
    ids.append(one)
    every = {e["resource"]["resourceType"] for e in bundle["entry"]}   # set-aside too
    kinds = {str(r["resourceType"]) for g in split_bundle(bundle)
             for r in (g.patient, *g.resources)} | {"Basic"}
    txs, results, rows = chain_bytes(c)
    registers = [(decode_tx(raw), m) for raw in txs for m in decode_tx(raw).msgs
                 if m["type"] == "records/register"]
    assert {m["record"] for _, m in registers} >= set(ids)
    signers = {tx.signer for tx, _ in registers}
    assert signers == {HOSPITAL_A.did}, signers  # never A1 or AE
    # what the records are is sealed: in no tx, event or state row of the chain
    record_rows = [v for k, v in rows if k.startswith(b"records/")]
    words = sorted(every | kinds) + [f'"{c}"' for c in sorted(CATEGORIES)]
    for blob in [*txs, *results, *(k + v for k, v in rows)]:
        for word in words:
            assert word.encode() not in blob, word
    for did in (A1.did, AE.did):  # authors: in no register tx, record row or records event
        assert not any(did.encode() in encoding.encode(m) for _, m in registers)
        assert not any(did.encode() in v for v in record_rows)
        assert not any(did.encode() in r and b"records." in r for r in results)
    for record in ids:
        d = c.query("records/get", record=record)
        assert set(d) == {"record", "patient", "custodian", "hash", "size", "commitment",
                          "descriptor", "self_reported", "status", "height", "time_ms",
                          "replaces", "superseded_by"}
        assert d["size"] >= 4096 and d["size"] & (d["size"] - 1) == 0
    # and the owner still learns what each is, from the sealed descriptors
    known = c.client(P).records.descriptors(ids)
    assert {d["resource"] for d in known.values()} == kinds
    assert known[one]["author"] == AE.did


def _upload(c: Consortium, who: Any, *, patient: str = P.did, msg_patch: dict[str, Any] |
            None = None, descriptor: bool = True, register: bool = True,
            org: Any = HOSPITAL_A) -> list[str]:
    """A custody upload of a fresh record prepared by ``who`` (patched on the way)."""
    prepared = c.client(A1).records.prepare(resource_bytes(BASIC), patient, resource="Basic",
                                            category="other")
    msg = {**prepared.msg, **(msg_patch or {})}
    with VaultClient(c.directory[org.did], org.did, who) as vault:
        return vault.upload(prepared.sealed.meta, prepared.wrapped, prepared.sealed.chunks,
                            prepared.sealed_descriptor if descriptor else None,
                            msg if register else None)


@pytest.mark.parametrize(("who", "kw", "why"), [
    (B1, {}, "does not author records"),                       # another institution's staff
    (STRANGER, {}, "not registered on chain"),
    (A1, {"descriptor": False}, "sealed descriptor"),
    (A1, {"register": False}, "records/register message"),
    (A1, {"msg_patch": {"hash": "00" * 32}}, "does not describe"),
    (A1, {"msg_patch": {"size": 8192}}, "does not describe"),
    (A1, {"msg_patch": {"commitment": "11" * 32}}, "does not describe"),
    (A1, {"msg_patch": {"record": "22" * 16}}, "does not describe"),
    (A1, {"msg_patch": {"patient": Q.did}}, "does not describe"),
    (A1, {"msg_patch": {"custodian": HOSPITAL_B.did}}, "registers records kept by"),
    (A1, {"msg_patch": {"resource": "Basic"}}, "malformed"),  # v1 fields are refused
    (A1, {"msg_patch": {"type": "records/erase"}}, "records/register message"),
    (P, {}, "registered by its patient"),                       # the patient signs its own
])
def test_a_custody_upload_must_carry_a_register_message_describing_it(
        c: Consortium, who: Any, kw: dict[str, Any], why: str) -> None:
    before = c.vaults[HOSPITAL_A.did].journal.backlog()
    with pytest.raises(ApiError) as refused:
        _upload(c, who, **kw)
    assert code(refused) == (403, "vault", 30) and why in refused.value.message
    assert c.vaults[HOSPITAL_A.did].journal.backlog() <= before  # no job journaled


def test_a_refused_register_tx_is_a_clear_error_and_holds_back_no_other_record(
        c: Consortium) -> None:
    a1 = c.client(A1)
    good = a1.records.prepare(resource_bytes(BASIC), P.did, resource="Basic",
                              category="other")
    bad = a1.records.prepare(resource_bytes(BASIC), STRANGER.did, resource="Basic",
                             category="other")   # not a registered patient: records/5
    with pytest.raises(RecordsError, match=r"refused its register tx \(records/5\)") as err:
        a1.records.store([good, bad])
    assert bad.record in str(err.value)
    assert c.query("records/get", record=good.record) is not None   # sent again alone
    assert c.query("records/get", record=bad.record) is None
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A1) as vault:
        assert vault.registrations([good.record, bad.record]) == {
            good.record: {"status": "committed"},
            bad.record: {"status": "refused", "code": "records/5"}}
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A2) as vault, \
            pytest.raises(ApiError) as other:
        vault.registrations([good.record])   # only the uploader or the institution
    assert code(other) == (403, "vault", 26)


def test_the_author_reads_through_the_vault_and_a_colleague_does_not(c: Consortium) -> None:
    record = c.client(A1).records.add_resource(BASIC, P.did)
    opened = c.client(A1).records.open(record)
    assert opened.decision["reason"] == "author"
    assert (opened.descriptor["author"], opened.descriptor["resource"]) == (A1.did, "Basic")
    assert opened.descriptor["bucket"] == c.query("records/get", record=record)["size"]
    with pytest.raises(ApiError, match="no_consent"):
        c.client(A2).records.open(record)
    assert c.client(HOSPITAL_A).records.open(record).decision["reason"] == "custodian"


def _staff_request(caller: str) -> Verified:
    return Verified(caller, secrets.token_hex(16), time.time_ns() // 1_000_000,
                    secrets.token_hex(32))


def test_a_crash_after_accepting_and_before_commit_sends_again(c: Consortium,
                                                               tmp_path: Path) -> None:
    """The register job is durable with the request: a vault that stops before its
    sender ran sends it after the restart; one whose tx committed before the journal
    noted it finds the record on chain as described and counts it committed."""
    directory = tmp_path / "vault-a-again"
    a1 = c.client(A1)
    first, second = (a1.records.prepare(resource_bytes(BASIC), P.did, resource="Basic",
                                        category="other") for _ in range(2))
    vault = Vault(VaultConfig(directory), LocalChain(c.node), HOSPITAL_A.signing_key,
                  HOSPITAL_A.encryption_key)   # never started: no sender thread
    for p in (first, second):
        registering = vault.upload(_staff_request(A1.did), Upload(
            p.sealed.meta, p.wrapped, p.sealed.chunks, p.sealed_descriptor, p.msg))
        assert registering == [p.record]
    assert vault.journal.backlog() == 2
    vault.close()                               # the "crash": nothing sent
    assert c.query("records/get", record=first.record) is None
    # the second one's tx did commit before the crash, unknown to the journal
    with c.client(HOSPITAL_A).session as s:
        s.send([second.msg])
    again = Vault(VaultConfig(directory), LocalChain(c.node), HOSPITAL_A.signing_key,
                  HOSPITAL_A.encryption_key)
    try:
        assert again.journal.backlog() == 2
        assert again.sender.flush() == 2
        assert again.journal.backlog() == 0
        status = again.journal.registrations([first.record, second.record])
        assert {r: s[0] for r, s in status.items()} == {first.record: "committed",
                                                       second.record: "committed"}
        for p in (first, second):
            d = c.query("records/get", record=p.record)
            assert d["custodian"] == HOSPITAL_A.did and d["hash"] == p.msg["hash"]
        assert again.store.get_descriptor(bytes.fromhex(first.record)) == (
            first.sealed_descriptor, A1.did)   # the local author, kept off chain
    finally:
        again.close()


def test_a_self_reported_record_is_registered_by_its_patient(c: Consortium) -> None:
    p = c.client(P)
    record = p.records.add(resource_bytes(BASIC), P.did, resource="Basic", category="other",
                           custodian=HOSPITAL_B.did)
    d = c.query("records/get", record=record)
    assert d["self_reported"] and d["custodian"] == HOSPITAL_B.did
    txs, _, _ = chain_bytes(c)
    signer = next(decode_tx(raw).signer for raw in txs for m in decode_tx(raw).msgs
                  if m.get("record") == record and m["type"] == "records/register")
    assert signer == P.did
    assert p.records.open(record).descriptor["author"] == P.did


def test_size_bucket_of_the_register_message_is_what_the_vault_checks(c: Consortium) -> None:
    prepared = c.client(A1).records.prepare(b"x" * 5000, P.did, resource="Basic",
                                            category="other")
    assert prepared.msg["size"] == size_bucket(prepared.sealed.size) == 8192
    assert Register.parse(prepared.msg).descriptor == prepared.descriptor.commitment().hex()
    nonce = int(c.query("identity/nonce", did=A1.did)["last_nonce"]) + 1
    raw = build_tx(A1.signing_key, c.node.app.chain_id, nonce, [prepared.msg])
    refused = c.node.submit(raw)   # a practitioner may not register: records/1
    assert (refused.codespace, refused.code) == ("records", 1)
