"""Patient-controlled records end to end: a solo node, its API, three vaults over
loopback HTTP, and the SDK acting for patients, practitioners and institutions."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.client.audit import AuditKey
from phrchain.client.breakglass import JustificationError, check
from phrchain.client.http import ApiError
from phrchain.client.records import RecordsError
from phrchain.core import encoding
from tests.consortium import (
    A1,
    A2,
    AE,
    B1,
    GA,
    HOSPITAL_A,
    HOSPITAL_B,
    INSURER,
    REGULATOR,
    Consortium,
    P,
    Q,
    running,
)

DAY = 86_400_000
OBSERVATION = {"resourceType": "Observation", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0",
                                    "display": "Glucose"}]},
               "valueQuantity": {"value": 5, "unit": "mmol/L"}}


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("records")) as consortium:
        yield consortium


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def add_observation(c: Consortium, author=A1, patient=P) -> str:  # type: ignore[no-untyped-def]
    return c.client(author).records.add(encoding.encode(OBSERVATION), patient.did,
                                        resource="Observation", category="laboratory")


def code_of(exc: pytest.ExceptionInfo[ApiError]) -> tuple[str, int]:
    return exc.value.codespace, exc.value.code


def test_author_stores_patient_and_author_read(c: Consortium) -> None:
    record = add_observation(c)
    d = c.query("records/get", record=record)
    assert d["custodian"] == HOSPITAL_A.did and "author" not in d
    assert d["size"] == 4096 and "resource" not in d and "chunks" not in d
    opened = c.client(P).records.open(record)
    assert opened.resource() == OBSERVATION and opened.decision["reason"] == "owner"
    assert c.client(A1).records.open(record).decision["reason"] == "author"


def test_consent_grant_then_revoke_through_the_vault(c: Consortium) -> None:
    record = add_observation(c)
    b1, p = c.client(B1), c.client(P)
    with pytest.raises(ApiError) as denied:
        b1.records.open(record)
    assert code_of(denied) == ("vault", 26) and "no_consent" in denied.value.message
    consent = p.consent.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                              scope={"records": [record]}, purposes=["TREAT"],
                              start_ms=now_ms() - 1000, end_ms=now_ms() + DAY)
    assert b1.records.open(record).resource() == OBSERVATION
    p.consent.revoke(consent)
    with pytest.raises(ApiError) as revoked:
        b1.records.open(record)
    assert "consent_revoked" in revoked.value.message
    c.flush()
    log = p.audit.log(P.did)
    mine = [e for e in log if e["record"] == record and e["accessor"] == B1.did]
    assert [(e["decision"], e["reason"]) for e in mine] == [
        ("deny", "no_consent"), ("permit", "consent"), ("deny", "consent_revoked")]
    assert all(e["verified"] for e in log)


def test_break_glass_is_flagged_and_notifies_the_patient(c: Consortium) -> None:
    """The flag is sealed: no event names the access on chain; the patient finds it by
    opening their log, and so does the regulator."""
    record = add_observation(c, author=B1)  # at hospital B; AE works at hospital A
    events = c.node.subscribe()
    reason = "unconscious patient in bay 4, suspected hypoglycaemia"
    opened = c.client(AE).records.open(record, action="break_glass", purpose="ETREAT",
                                       reason=reason)
    assert opened.resource() == OBSERVATION and opened.decision["break_glass"]
    with pytest.raises(ApiError) as refused:
        c.client(A2).records.open(record, action="break_glass", purpose="ETREAT", reason=reason)
    assert "not_emergency" in refused.value.message
    # The reason is bound to the signed request the audit entry names, never sent.
    receipt = opened.receipt
    assert receipt is not None and receipt.caller == AE.did and receipt.record == record
    assert check(receipt, reason, AE.signing_key.public_key)["query"].count(
        receipt.justification) == 1
    with pytest.raises(JustificationError):
        check(receipt, "a different reason, made up later")
    with pytest.raises(RecordsError):
        c.client(AE).records.open(record, action="break_glass", purpose="ETREAT")  # no reason
    c.flush()
    appended = []
    while not events.empty():
        item = events.get_nowait()
        for ev in item.get("events", []) if item["kind"] == "tx" else []:
            if ev["type"].startswith("audit."):
                appended.append((ev["type"], dict(ev["attributes"])))
    c.node.unsubscribe(events)
    assert appended and all(t == "audit.appended" and set(a) == {"patient", "index"}
                            for t, a in appended)
    for reader, openers in ((P, None), (GA, AuditKey.of_wallet(REGULATOR).openers())):
        logged = [e for e in c.client(reader).audit.log(P.did, openers=openers)
                  if e["request"] == receipt.request]
        assert len(logged) == 1 and logged[0]["verified"] and not logged[0]["sealed"]
        assert (logged[0]["action"], logged[0]["break_glass"], logged[0]["accessor"],
                logged[0]["record"]) == ("break_glass", True, AE.did, record)


def test_the_patient_and_the_regulator_open_an_entry_an_unrelated_org_cannot(
        c: Consortium) -> None:
    record = add_observation(c)
    with pytest.raises(ApiError):
        c.client(B1).records.open(record)  # refused: still logged
    c.flush()
    [request] = [e["request"] for e in c.client(P).audit.log(P.did)
                 if e.get("record") == record and e.get("accessor") == B1.did]
    seen = {}
    for name, who, openers in (
            ("patient", P, None),
            ("regulator", GA, AuditKey.of_wallet(REGULATOR).openers()),
            ("custodian", HOSPITAL_A, None),
            ("unrelated", HOSPITAL_B, None), ("insurer", INSURER, None)):
        log = c.client(who).audit.log(P.did, openers=openers)
        assert all(e["verified"] for e in log)
        [seen[name]] = [e for e in log if e["request"] == request]
    for name in ("patient", "regulator", "custodian"):
        e = seen[name]
        assert not e["sealed"] and e["commitment"] == seen["patient"]["commitment"]
        assert (e["record"], e["accessor"], e["decision"], e["action"]) == \
            (record, B1.did, "deny", "read")
        assert e["reason"] == seen["patient"]["reason"] != "owner"
    for name in ("unrelated", "insurer"):  # sealed: its place only, no content
        e = seen[name]
        assert e["sealed"] and e["verified"] and e["index"] == seen["patient"]["index"]
        assert not {"accessor", "record", "action", "purpose", "decision"} & set(e)
        assert e["vault"] == HOSPITAL_A.did and P.did in e["readers"]
        assert REGULATOR.did in e["readers"] and HOSPITAL_B.did not in e["readers"]
        assert INSURER.did not in e["readers"]


def test_pull_waits_for_the_patient_and_the_copy_is_recorded(c: Consortium) -> None:
    record = add_observation(c)
    b1 = c.client(B1)
    request = b1.exchange.request_pull(P.did, {"records": [record]}, "TREAT")
    with pytest.raises(ApiError):
        b1.exchange.pull(request, record)
    c.client(P).exchange.approve(request, now_ms() + DAY)
    assert b1.exchange.pull(request, record).resource() == OBSERVATION
    c.flush()
    assert HOSPITAL_B.did in c.query("records/holders", record=record)["holders"]
    # the copy is served by hospital B's vault too
    assert b1.records.open(record, vault_org=HOSPITAL_B.did).resource() == OBSERVATION


def test_push_under_the_recipients_consent(c: Consortium) -> None:
    record = add_observation(c)
    # v2: the chain knows the custodian, not the author; the institution pushes
    a1 = c.client(HOSPITAL_A)
    with pytest.raises(ApiError) as refused:
        a1.exchange.push(record, B1.did)
    assert (refused.value.codespace, refused.value.code) == ("exchange", 6)
    c.client(P).consent.grant({"kind": "practitioner", "id": B1.did}, actions=["push", "read"],
                              scope={"records": [record]}, purposes=["TREAT"],
                              start_ms=now_ms() - 1000, end_ms=now_ms() + DAY, share_existing=False)
    a1.exchange.push(record, B1.did)
    assert c.client(B1).records.open(record, vault_org=HOSPITAL_B.did).resource() == OBSERVATION


def test_erasure_destroys_every_copy_and_the_chain_still_verifies(c: Consortium) -> None:
    record = add_observation(c)
    b1 = c.client(B1)
    request = b1.exchange.request_pull(P.did, {"records": [record]}, "TREAT")
    c.client(P).exchange.approve(request, now_ms() + DAY)
    b1.exchange.pull(request, record)
    c.flush()
    with pytest.raises(ApiError) as not_regulator:
        c.client(A1).records.erase(record)
    assert code_of(not_regulator) == ("records", 1)
    c.client(P).records.erase(record)
    c.sync()
    for org in (HOSPITAL_A, HOSPITAL_B):
        vault = c.vaults[org.did]
        assert bytes.fromhex(record) not in vault.store.record_ids()
    for who in (P, A1, B1):
        with pytest.raises(ApiError) as gone:
            c.client(who).records.open(record)
        assert code_of(gone) == ("vault", 27)  # erased (410), also after the shredding
    from phrchain.engine.solo.verify import verify_chain

    c.flush()  # the refused opens' audit entries: committed now, not during the verify
    c.node.produce_block()
    assert verify_chain(c.home).ok


def test_forged_and_replayed_requests_are_refused(c: Consortium) -> None:
    import httpx

    from phrchain.vault.requests import sign_request

    record = add_observation(c)
    url = c.directory[HOSPITAL_A.did]
    path = f"/v1/vault/records/{record}"
    params = {"action": "read", "purpose": "TREAT"}
    headers = sign_request(P.signing_key, P.did, HOSPITAL_A.did, "GET", path, params, b"",
                           now_ms())
    with httpx.Client(base_url=url) as http:
        assert http.get(path, params=params, headers=headers).status_code == 200
        replay = http.get(path, params=params, headers=headers)
        assert replay.status_code == 401 and replay.json()["error"]["code"] == 22
        forged = sign_request(Q.signing_key, P.did, HOSPITAL_A.did, "GET", path, params, b"",
                              now_ms())
        r = http.get(path, params=params, headers=forged)
        assert r.status_code == 401 and r.json()["error"]["code"] == 20
        stale = sign_request(P.signing_key, P.did, HOSPITAL_A.did, "GET", path, params, b"",
                             now_ms() - 3_600_000)
        assert http.get(path, params=params, headers=stale).json()["error"]["code"] == 21
        other = sign_request(P.signing_key, P.did, HOSPITAL_B.did, "GET", path, params, b"",
                             now_ms())
        assert http.get(path, params=params, headers=other).json()["error"]["code"] == 23
        tampered = dict(headers)
        raw = base64.urlsafe_b64decode(tampered["Phr-Request"] + "==")
        tampered["Phr-Request"] = base64.urlsafe_b64encode(
            raw.replace(b'"read', b'"view')).decode().rstrip("=")
        assert http.get(path, params=params, headers=tampered).status_code == 401


def test_large_object_range_read(c: Consortium) -> None:
    blob = bytes(range(256)) * (12 * 1024)  # 3 MiB: four chunks
    a1 = c.client(A1)
    record = a1.records.add(blob, P.did, resource="MolecularSequence", category="genomic")
    d = c.query("records/get", record=record)
    assert d["size"] == 4 << 20 and "chunks" not in d   # a bucket on chain, nothing more
    p = c.client(P)
    what = p.records.descriptors([record])[record]
    assert (what["chunks"], what["category"], what["author"]) == (4, "genomic", A1.did)
    assert what["bucket"] == 4 << 20 and what["size"] == len(blob) + 32 + 4 * 16
    start = (1 << 20) - 100
    assert p.records.read_range(record, start, 5000) == blob[start:start + 5000]
    assert p.records.open(record).plaintext == blob


def test_regulator_may_erase(c: Consortium, tmp_path: Path) -> None:
    record = add_observation(c, patient=Q)
    c.client(GA).records.erase(record, reason="regulator_order")
    assert c.query("records/get", record=record)["status"] == "erased"


def test_import_a_synthetic_bundle_and_export_what_the_patient_sees(c: Consortium) -> None:
    from phrchain.fhir import validate
    from phrchain.fhir.synthetic import generate_bundle

    bundle = generate_bundle(7, 0)
    fhir_patient = next(e["resource"] for e in bundle["entry"]
                        if e["resource"]["resourceType"] == "Patient")
    patient_id = fhir_patient["id"]
    done: list[int] = []
    set_aside = {"Practitioner": 5}  # added to, as an export's ``skipped`` is
    ids = c.client(HOSPITAL_A).records.import_bundle(bundle, {patient_id: Q.did}, done.append,
                                                     set_aside=set_aside)
    shared = {"Organization", "Practitioner"}  # reference data: not the patient's records
    theirs = sorted(e["resource"]["resourceType"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] not in shared)
    assert sum(done) == len(ids[Q.did]) == len(theirs)
    left_out = [e["resource"]["resourceType"] for e in bundle["entry"]
                if e["resource"]["resourceType"] in shared]
    assert set_aside == {"Organization": left_out.count("Organization"),
                         "Practitioner": 5 + left_out.count("Practitioner")}
    exported = c.client(Q).records.export()
    validate(exported)
    assert sorted(e["resource"]["resourceType"] for e in exported["entry"]) == theirs


def test_fhir_views_of_consents_and_audit_events(c: Consortium) -> None:
    import httpx

    from phrchain.fhir import validate

    record = add_observation(c)
    consent = c.client(P).consent.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                                        scope={"records": [record]}, purposes=["TREAT"],
                                        start_ms=now_ms() - 1000, end_ms=now_ms() + DAY)
    c.client(B1).records.open(record)
    c.flush()
    with httpx.Client(base_url=c.api_url) as http:
        fhir_consent = http.get(f"/v1/fhir/Consent/{consent}").json()
        validate(fhir_consent)
        assert fhir_consent["resourceType"] == "Consent" and fhir_consent["status"] == "active"
        assert http.get("/v1/fhir/Consent/" + "00" * 16).status_code == 404
        # audit entries are sealed: the node has no AuditEvent view, the patient makes them
        assert http.get("/v1/fhir/AuditEvent", params={"patient": P.did}).status_code == 404
    from phrchain.fhir.bundle import export_bundle
    from phrchain.fhir.mapping import audit_to_fhir

    opened = [e for e in c.client(P).audit.log(P.did) if not e["sealed"]]
    bundle = export_bundle([audit_to_fhir(e, time_ms=0) for e in opened])
    validate(bundle)
    events = [e["resource"] for e in bundle["entry"]]
    assert events and all(e["resourceType"] == "AuditEvent" for e in events)
    assert any(e["agent"][0]["who"]["identifier"]["value"] == B1.did for e in events)


def _tamper(c: Consortium, org: str, sql: str, *args: object) -> None:
    import sqlite3

    db = sqlite3.connect(c.vaults[org].config.directory / "blobs" / "blobs.sqlite3")
    with db:
        assert db.execute(sql, args).rowcount >= 1
    db.close()


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 1]) + data[at + 1:]


@pytest.mark.parametrize("where", ["chunk", "wrapped_key", "large_chunk"])
def test_a_flipped_byte_in_the_vault_is_detected_on_read(c: Consortium, where: str) -> None:
    from phrchain.vault.errors import VaultError

    large = where == "large_chunk"
    plaintext = bytes(range(256)) * (10 * 1024) if large else encoding.encode(OBSERVATION)
    record = c.client(A1).records.add(plaintext, P.did, resource="Observation",
                                      category="laboratory")
    rid = bytes.fromhex(record)
    if where == "wrapped_key":
        wrapped = c.vaults[HOSPITAL_A.did].store.get_wrapped_key(rid, P.did)
        _tamper(c, HOSPITAL_A.did, "UPDATE wrapped_keys SET wrapped = ? WHERE record = ? "
                "AND reader = ?", _flip(wrapped, 40), rid, P.did)
    else:
        part = c.vaults[HOSPITAL_A.did].store.get_chunk(rid, 1 if large else 0)
        leaf = c.vaults[HOSPITAL_A.did].store.leaf_hashes(rid)[part.index]
        _tamper(c, HOSPITAL_A.did, "UPDATE chunks SET data = ? WHERE leaf = ?",
                _flip(part.data, 100), leaf)
    p = c.client(P)
    with pytest.raises(VaultError) as detected:
        if large:
            p.records.read_range(record, (1 << 20) + 10, 100)  # chunk 1 only, by its proof
        else:
            p.records.open(record)
    expected = {"chunk": "hash_mismatch", "wrapped_key": "unwrap_failed",
                "large_chunk": "bad_proof"}[where]
    assert detected.value.error.name == expected
