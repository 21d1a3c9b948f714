"""Sharing keys after a grant is key-only and batched: two requests per vault whatever
the number of records, no audited read of the patient's own records, readers can then
open them; the vault's key routes refuse a whole batch for one bad item; and a new
record's key is wrapped for the grantees of ``all`` consents only (scopes name ids)."""

from __future__ import annotations

import secrets
import time
from collections import Counter
from collections.abc import Iterator

import httpx
import pytest

from phrchain.client.http import ApiError
from phrchain.client.phr import Phr
from phrchain.client.vault import VaultClient
from phrchain.modules.consent.messages import Scope
from phrchain.vault import crypto
from tests.consortium import (
    A1,
    B1,
    HOSPITAL_A,
    HOSPITAL_B,
    RR,
    STRANGER,
    Consortium,
    P,
    Q,
    running,
)

N = 6
DAY_MS = 86_400_000


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("share")) as consortium:
        yield consortium


def _records(c: Consortium, n: int) -> list[str]:
    author = c.client(A1)
    prepared = [author.records.prepare(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                       category="other") for _ in range(n)]
    return author.records.store(prepared)


def _count_vault_requests(phr: Phr, c: Consortium) -> Counter[str]:
    """Every request the client sends to any vault, by ``METHOD path``."""
    seen: Counter[str] = Counter()

    def hook(request: httpx.Request) -> None:
        seen[f"{request.method} {request.url.path}"] += 1

    for org in c.directory:
        phr.session.vault(org)._http.event_hooks = {"request": [hook], "response": []}
    return seen


def _patient_reads(c: Consortium, records: list[str]) -> int:
    c.flush()
    return sum(1 for e in c.client(P).audit.log(P.did)
               if e["accessor"] == P.did and e["record"] in records)


def test_sharing_n_records_with_two_readers_is_two_vault_requests(c: Consortium) -> None:
    records = sorted(_records(c, N))
    patient = c.client(P)
    now = time.time_ns() // 1_000_000
    grantee = {"kind": "organization", "id": HOSPITAL_B.did}
    patient.consent.grant(grantee, actions=["read"], scope={"records": records},
                          purposes=["TREAT"], start_ms=now - 60_000, end_ms=now + DAY_MS,
                          share_existing=False)
    readers = patient.consent.grantee_dids(grantee)
    assert sorted(readers) == sorted([HOSPITAL_B.did, B1.did])
    reads_before = _patient_reads(c, records)
    seen = _count_vault_requests(patient, c)

    shared = patient.consent.share(readers, Scope.parse({"records": records}))

    assert shared == N * len(readers)
    assert seen == Counter({"POST /v1/vault/keys/own": 1, "POST /v1/vault/keys": 1})
    assert _patient_reads(c, records) == reads_before  # no audited read of their own
    store = c.vaults[HOSPITAL_A.did].store
    for record in records:
        assert {HOSPITAL_B.did, B1.did} <= set(store.readers(bytes.fromhex(record)))
        assert c.client(B1).records.open(record).plaintext == b'{"resourceType":"Basic"}'


def test_only_the_patient_gets_their_own_keys(c: Consortium) -> None:
    record = _records(c, 1)[0]
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A1) as vault, \
            pytest.raises(ApiError) as refused:
        vault.own_keys([record])  # A1 holds a key, but is not the patient
    assert (refused.value.codespace, refused.value.code) == ("vault", 26)
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, P) as vault:
        own = vault.own_keys([record])
    assert crypto.unwrap_key(own[record], P.encryption_key, bytes.fromhex(record), P.did)


def test_a_batch_with_one_bad_item_is_refused_whole(c: Consortium) -> None:
    good, other = _records(c, 2)
    store = c.vaults[HOSPITAL_A.did].store
    held = {r: set(store.readers(bytes.fromhex(r))) for r in (good, other)}
    wrapped = crypto.wrap_key(secrets.token_bytes(32), B1.enc_key, bytes.fromhex(good), B1.did)
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, P) as vault, \
            pytest.raises(ApiError) as refused:
        vault.share_keys([(good, B1.did, wrapped), (other, STRANGER.did, bytes(80))])
    assert (refused.value.status, refused.value.code) == (403, 30)
    assert STRANGER.did in refused.value.message and other in refused.value.message
    assert {r: set(store.readers(bytes.fromhex(r))) for r in (good, other)} == held


def test_a_batch_by_anyone_but_the_patient_is_refused(c: Consortium) -> None:
    record = _records(c, 1)[0]
    store = c.vaults[HOSPITAL_A.did].store
    held = set(store.readers(bytes.fromhex(record)))
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A1) as vault, \
            pytest.raises(ApiError) as refused:
        vault.share_keys([(record, B1.did, bytes(80))])
    assert (refused.value.status, refused.value.code) == (403, 30)
    assert set(store.readers(bytes.fromhex(record))) == held


def test_a_new_record_is_wrapped_for_the_grantees_of_all_consents_only(c: Consortium) -> None:
    """``RecordsClient.prepare``'s standing readers: a consent naming record ids covers
    those records only, so a new record's key goes to the patient, its author and
    custodian, and the grantees of read/pull ``all`` consents (one ``consent/readers``
    query per patient for a batch); a copy of a named record also to its grantees."""
    author = c.client(A1)
    old = author.records.add(b'{"resourceType":"Basic"}', Q.did, resource="Basic",
                             category="other")
    patient = c.client(Q)
    now = time.time_ns() // 1_000_000
    period = {"start_ms": now - 60_000, "end_ms": now + DAY_MS}
    patient.consent.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                          scope={"records": [old]}, purposes=["TREAT"], **period)
    patient.consent.grant({"kind": "role", "id": "researcher"}, actions=["read"],
                          scope={"all": True}, purposes=["HRESCH"], **period)
    asked: list[dict[str, object]] = []
    ask = author.session.q

    def counting(path: str, **data: object) -> object:
        if path == "consent/readers":
            asked.append(dict(data))
        return ask(path, **data)

    author.session.q = counting  # type: ignore[method-assign]
    try:
        prepared = [author.records.prepare(b'{"resourceType":"Basic"}', Q.did,
                                           resource=kind, category=category)
                    for kind, category in (("Basic", "other"), ("Observation", "laboratory"))]
        copy_readers = {r["did"] for r in author.records._readers(Q.did, record=old)}
    finally:
        author.session.q = ask  # type: ignore[method-assign]
    assert asked == [{"patient": Q.did}, {"patient": Q.did, "record": old}]
    for p in prepared:
        assert set(p.wrapped) == {Q.did, RR.did, A1.did, HOSPITAL_A.did}
    assert {Q.did, RR.did, B1.did} <= copy_readers
    new = author.records.store(prepared)
    assert c.client(RR).records.open(new[0], purpose="HRESCH").plaintext == \
        b'{"resourceType":"Basic"}'
    with pytest.raises(ApiError, match="out_of_scope"):
        c.client(B1).records.open(new[0])
    assert c.client(B1).records.open(old).plaintext == b'{"resourceType":"Basic"}'
