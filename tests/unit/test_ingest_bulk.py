"""Bulk ingest (issue 20): ``records/many`` answers as ``records/get`` does for each id,
and sealing in the worker pool (``vault/bulk.py``) gives the same records as the serial
reference path."""

from __future__ import annotations

import os
from typing import Any

import pytest

from phrchain.core.errors import CodedError
from phrchain.core.keys import EncryptionKey
from phrchain.vault import bulk, crypto
from phrchain.vault.descriptor import open_descriptor
from tests.world import A1, HOSPITAL_A, P, Q, World, new_id, register_msg

# -- records/many ----------------------------------------------------------------------


def test_many_answers_each_id_as_get_does() -> None:
    w = World()
    ids = [register_msg(P)["record"] for _ in range(2)]
    for record in ids:
        w.ok(HOSPITAL_A, {**register_msg(P), "record": record})
    erased = w.record(author=A1, patient=Q)
    w.ok(Q, {"type": "records/erase", "record": erased, "reason": "patient_request"})
    missing = new_id()
    asked = [*ids, erased, missing]
    for form in (",".join(asked), asked):
        got = w.query("records/many", records=form)["records"]
        assert list(got) == asked
        assert got == {r: w.query("records/get", record=r) for r in asked}
    assert got[missing] is None and got[erased]["status"] == "erased"


@pytest.mark.parametrize("records", [
    "", "ABC", new_id() + ",", ",".join([new_id()] * 2), [new_id(), 5], 7, None,
    ",".join(new_id() for _ in range(257)),
])
def test_many_refuses_bad_lists(records: Any) -> None:
    w = World()
    with pytest.raises(CodedError) as exc:
        w.query("records/many", **({} if records is None else {"records": records}))
    assert (exc.value.error.codespace, exc.value.error.code) == ("query", 2)
    assert "object ids" in str(exc.value)


# -- sealing in a pool -----------------------------------------------------------------

READERS = {f"did:example:{i}": EncryptionKey(bytes([i + 1]) * 32) for i in range(3)}


def jobs(n: int) -> list[bulk.Job]:
    return [bulk.Job.new(os.urandom(50 + 300 * (i % 4)), P.did, resource="Observation",
                         category="laboratory", author=A1.did, custodian=HOSPITAL_A.did,
                         self_reported=i % 5 == 0, replaces=None,
                         readers={d: k.public_key for d, k in READERS.items()})
            for i in range(n)]


def same(a: bulk.Prepared, b: bulk.Prepared) -> None:
    """Byte for byte, except the HPKE wraps (fresh ephemeral keys), which must open to
    the same data key."""
    assert (a.sealed, a.msg, a.custodian, a.descriptor, a.sealed_descriptor,
            a.self_reported) == (b.sealed, b.msg, b.custodian, b.descriptor,
                                 b.sealed_descriptor, b.self_reported)
    assert set(a.wrapped) == set(b.wrapped) == set(READERS)
    rid = a.sealed.record_id
    for did, key in READERS.items():
        assert crypto.unwrap_key(a.wrapped[did], key, rid, did) == a.sealed.data_key \
            == crypto.unwrap_key(b.wrapped[did], key, rid, did)


def test_the_pool_seals_as_the_serial_reference_does() -> None:
    work = jobs(bulk.POOL_MIN + 7)
    serial = list(bulk.seal_jobs(work, parallel=False))
    try:
        assert bulk.start() >= 1 or bulk.pool_size() == 1
        pooled = list(bulk.seal_jobs(work))  # a running pool takes POOL_MIN jobs or more
    finally:
        bulk.shutdown()
    assert len(serial) == len(pooled) == len(work)
    for job, a, b in zip(work, serial, pooled, strict=True):
        same(a, b)
        assert a.sealed.record_id == job.record_id
        plain = crypto.open_sealed(job.record_id, P.did, a.sealed.data_key,
                                   list(a.sealed.chunks),
                                   expected_hash=a.sealed.meta.hash,
                                   expected_commitment=a.sealed.meta.commitment)
        assert plain == job.plaintext
        opened = open_descriptor(a.sealed_descriptor, a.sealed.data_key, job.record_id,
                                 bytes.fromhex(a.msg["descriptor"]))
        assert (opened.resource, opened.author, opened.size) == (
            "Observation", A1.did, a.sealed.size)
        assert ("custodian" in a.msg and a.msg["custodian"] == HOSPITAL_A.did) \
            == job.self_reported


def test_a_broken_pool_falls_back_to_the_serial_path() -> None:
    work = jobs(bulk.POOL_MIN)
    bulk.start()
    pool = bulk._pool
    bulk.shutdown()
    if pool is None:  # one core: there is no pool, the serial path is all there is
        assert bulk.pool_size() == 1
        return
    bulk._pool = pool  # a shut-down pool refuses work: sealed here instead
    try:
        out = list(bulk.seal_jobs(work))
    finally:
        bulk._pool = None
    assert [p.sealed.record_id for p in out] == [j.record_id for j in work]
    assert bulk._pool is None


def test_no_pool_is_started_below_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bulk, "POOL_THRESHOLD", 80)
    assert bulk._pool is None
    assert len(list(bulk.seal_jobs(jobs(79)))) == 79
    assert bulk._pool is None
    monkeypatch.setenv("PHRCHAIN_SEAL_WORKERS", "0")  # the operator's choice: no pool
    assert bulk.pool_size() == 1 and bulk.start() == 0
    assert len(list(bulk.seal_jobs(jobs(80)))) == 80 and bulk._pool is None
