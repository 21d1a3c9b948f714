"""The vault refuses what it must: oversize bodies, callers over their rate, uploads by
other institutions' staff, key shares by anyone but the patient, and copies nobody
pushed or pulled. Each refusal has its stable code and changes nothing."""

from __future__ import annotations

import dataclasses
import secrets
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.api.server import BackgroundServer
from phrchain.client.breakglass import commit
from phrchain.client.http import ApiError
from phrchain.client.vault import VaultClient
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.vault import crypto
from tests.consortium import (
    A1,
    A2,
    B1,
    HOSPITAL_A,
    HOSPITAL_B,
    STRANGER,
    Consortium,
    P,
    Q,
    running,
)


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("refusals")) as consortium:
        yield consortium


def sealed_for(patient: str, *readers: tuple[str, bytes]) -> tuple[crypto.Sealed,
                                                                     dict[str, bytes]]:
    rid = secrets.token_bytes(16)
    sealed = crypto.seal(rid, patient, b'{"resourceType":"Basic"}')
    return sealed, {did: crypto.wrap_key(sealed.data_key, key, rid, did)
                    for did, key in readers}


def code(exc: pytest.ExceptionInfo[ApiError]) -> tuple[int, str, int]:
    return exc.value.status, exc.value.codespace, exc.value.code


def test_upload_by_another_institutions_staff_is_refused(c: Consortium) -> None:
    sealed, keys = sealed_for(P.did, (HOSPITAL_A.did, HOSPITAL_A.enc_key))
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, B1) as vault, \
            pytest.raises(ApiError) as refused:
        vault.upload(sealed.meta, keys, sealed.chunks)
    assert code(refused) == (403, "vault", 30)
    assert sealed.record_id not in c.vaults[HOSPITAL_A.did].store.record_ids()


def test_upload_must_wrap_the_key_for_the_custodian(c: Consortium) -> None:
    sealed, keys = sealed_for(P.did, (A1.did, A1.enc_key))
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A1) as vault, \
            pytest.raises(ApiError) as refused:
        vault.upload(sealed.meta, keys, sealed.chunks)
    assert code(refused) == (403, "vault", 30)


def test_only_the_patient_shares_a_key(c: Consortium) -> None:
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A1) as vault, \
            pytest.raises(ApiError) as refused:
        vault.share_key(record, B1.did, bytes(80))
    assert code(refused) == (403, "vault", 30)
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, Q) as vault, \
            pytest.raises(ApiError):
        vault.share_key(record, B1.did, bytes(80))
    assert B1.did not in c.vaults[HOSPITAL_A.did].store.readers(bytes.fromhex(record))


def test_a_copy_needs_a_push_or_an_approved_pull(c: Consortium) -> None:
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    rid = bytes.fromhex(record)
    meta = c.vaults[HOSPITAL_A.did].store.get_meta(rid)
    chunks = list(c.vaults[HOSPITAL_A.did].store.iter_chunks(rid))
    with VaultClient(c.directory[HOSPITAL_B.did], HOSPITAL_B.did, B1) as vault:
        with pytest.raises(ApiError) as refused:
            vault.copy(meta, {}, chunks)
        assert code(refused) == (403, "vault", 30)
        pending = c.client(B1).exchange.request_pull(P.did, {"records": [record]}, "TREAT")
        with pytest.raises(ApiError) as not_approved:
            vault.copy(meta, {}, chunks, pull=pending)
        assert code(not_approved) == (403, "vault", 30)
    assert rid not in c.vaults[HOSPITAL_B.did].store.record_ids()


def test_the_patient_uploads_a_copy_only_where_they_made_a_holder(c: Consortium) -> None:
    """A patient (the portable record) may place a copy of their own record in a vault
    only after ``records/add_holder`` names that vault's institution; another patient
    never may, and the copy must be the registered one."""
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    rid = bytes.fromhex(record)
    store_b = c.vaults[HOSPITAL_B.did].store
    meta = c.vaults[HOSPITAL_A.did].store.get_meta(rid)
    chunks = list(c.vaults[HOSPITAL_A.did].store.iter_chunks(rid))
    with VaultClient(c.directory[HOSPITAL_B.did], HOSPITAL_B.did, P) as vault:
        with pytest.raises(ApiError) as not_yet:
            vault.copy(meta, {}, chunks)
        assert code(not_yet) == (403, "vault", 30) and "add_holder" in not_yet.value.message
    assert rid not in store_b.record_ids()
    c.client(P).session.send([{"type": "records/add_holder", "record": record,
                               "org": HOSPITAL_B.did}])
    with VaultClient(c.directory[HOSPITAL_B.did], HOSPITAL_B.did, Q) as vault, \
            pytest.raises(ApiError) as other_patient:
        vault.copy(meta, {}, chunks)
    assert code(other_patient) == (403, "vault", 30)
    forged = dataclasses.replace(meta, commitment=bytes(32))
    with VaultClient(c.directory[HOSPITAL_B.did], HOSPITAL_B.did, P) as vault:
        with pytest.raises(ApiError) as wrong_commitment:
            vault.copy(forged, {}, chunks)
        assert code(wrong_commitment) == (409, "vault", 29)
        # a size or chunk count that is not the registered one never lands: refused as a
        # malformed framing (vault/25, vault/5) or, if it framed, as not what the chain
        # describes (vault/29)
        for field, value in (("size", meta.size - 1), ("chunks", meta.chunks + 1)):
            with pytest.raises(ApiError) as wrong_shape:
                vault.copy(dataclasses.replace(meta, **{field: value}), {}, chunks)
            assert code(wrong_shape) in {(400, "vault", 25), (400, "vault", 5),
                                         (409, "vault", 29)}, field
        assert rid not in store_b.record_ids()
        vault.copy(meta, {}, chunks)
    assert rid in store_b.record_ids()


def test_oversize_body_and_rate_limit(c: Consortium, tmp_path: Path) -> None:
    vault = Vault(VaultConfig(tmp_path / "small-vault", rate_per_s=1, burst=3),
                  LocalChain(c.node), HOSPITAL_A.signing_key, HOSPITAL_A.encryption_key)
    try:
        with BackgroundServer(create_vault_app(vault, max_body=4096)) as url, \
                VaultClient(url, HOSPITAL_A.did, A1) as client:
            _, keys = sealed_for(P.did, (HOSPITAL_A.did, HOSPITAL_A.enc_key))
            big = crypto.seal(secrets.token_bytes(16), P.did, b"x" * 10_000)
            with pytest.raises(ApiError) as too_big:
                client.upload(big.meta, keys, big.chunks)
            assert code(too_big) == (413, "vault", 33)
            statuses = []
            for _ in range(6):
                try:
                    client.access("00" * 16)
                except ApiError as exc:
                    statuses.append((exc.status, exc.code))
            assert (429, 34) in statuses  # a burst of 3, then one per second
            time.sleep(1.1)
            with pytest.raises(ApiError) as later:
                client.access("00" * 16)
            assert code(later) == (404, "vault", 11)  # admitted again: just unknown
    finally:
        vault.close()


def test_a_reupload_cannot_replace_a_readers_key(c: Consortium) -> None:
    """Anyone who may upload or copy a record only adds readers: the patient's wrapped
    key stays the one that opens the record."""
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    meta, chunks, sealed, msg = c.held(HOSPITAL_A, record)
    garbage = {P.did: bytes(80), HOSPITAL_A.did: bytes(80)}
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A2) as vault:
        # same institution: accepted, adds nothing (its register job finds the record
        # on chain as described and counts as committed)
        assert vault.upload(meta, garbage, chunks, sealed, msg) == [record]
        c.flush()
        assert vault.registrations([record]) == {record: {"status": "committed"}}
    c.client(P).consent.grant({"kind": "practitioner", "id": B1.did}, actions=["push", "read"],
                              scope={"records": [record]}, purposes=["TREAT"],
                              start_ms=time.time_ns() // 1_000_000 - 1000,
                              end_ms=time.time_ns() // 1_000_000 + 86_400_000, share_existing=False)
    c.client(HOSPITAL_A).exchange.push(record, B1.did)
    with VaultClient(c.directory[HOSPITAL_B.did], HOSPITAL_B.did, A2) as vault:
        vault.copy(meta, {B1.did: bytes(80)}, chunks)  # B1 already has the pushed key
    assert c.client(P).records.open(record).plaintext == b'{"resourceType":"Basic"}'
    assert c.client(B1).records.open(record, vault_org=HOSPITAL_B.did).plaintext == \
        b'{"resourceType":"Basic"}'
    with VaultClient(c.directory[HOSPITAL_B.did], HOSPITAL_B.did, STRANGER) as vault, \
            pytest.raises(ApiError) as stranger:
        vault.copy(meta, {}, chunks)
    assert code(stranger) == (403, "vault", 30)


def test_a_chunked_body_without_length_is_bounded_too(c: Consortium, tmp_path: Path) -> None:
    """A signed body in chunked transfer encoding (no length to refuse up front) is cut
    off at the limit; an unsigned one is refused before any of it is read."""
    import httpx

    from phrchain.vault.requests import sign_request

    vault = Vault(VaultConfig(tmp_path / "v"), LocalChain(c.node), HOSPITAL_A.signing_key,
                  HOSPITAL_A.encryption_key)
    try:
        with BackgroundServer(create_vault_app(vault, max_body=1024)) as url:
            def body() -> Iterator[bytes]:
                for _ in range(64):
                    yield b"x" * 256  # 16 KiB in chunked transfer encoding, no length

            headers = sign_request(A1.signing_key, A1.did, HOSPITAL_A.did, "POST",
                                   "/v1/vault/batch", {}, b"x" * 16384,
                                   time.time_ns() // 1_000_000)
            r = httpx.post(f"{url}/v1/vault/batch", content=body(), headers=headers)
            assert r.status_code == 413 and r.json()["error"]["code"] == 33
            r = httpx.post(f"{url}/v1/vault/batch", content=body())
            assert r.status_code == 401 and r.json()["error"]["code"] == 20
    finally:
        vault.close()


def test_break_glass_must_commit_to_a_reason_and_only_break_glass_does(
        c: Consortium) -> None:
    """Refused before any decision: nothing is audited, nothing released."""
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    _, justification = commit("suspected anaphylaxis, patient cannot speak")
    asked = []
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A2) as client:
        for action, given in (("break_glass", None), ("break_glass", "XYZ"),
                              ("break_glass", justification.upper()),
                              ("read", justification)):
            with pytest.raises(ApiError) as refused:
                client.access(record, action, "ETREAT" if action == "break_glass"
                              else "TREAT", given)
            assert code(refused) == (400, "vault", 36), (action, given)
            asked.append(client.last_request)
    c.flush()
    logged = {e["request"] for e in c.client(P).audit.log(P.did)}
    assert not logged & set(asked)
