"""records and exchange modules: who may do what, and what state results (the audit
module: test_audit_module.py)."""

from __future__ import annotations

import pytest

from tests.world import (
    A1,
    A2,
    B1,
    GA,
    HOSPITAL_A,
    HOSPITAL_B,
    INSURER,
    IR,
    RR,
    P,
    Q,
    World,
    new_id,
    practitioner,
    register_msg,
)


@pytest.fixture
def w() -> World:
    return World()


# -- records -------------------------------------------------------------------------
def test_register_by_practitioner_keeps_it_in_their_institution(w: World) -> None:
    record = w.record(author=A1, patient=P)
    r = w.query("records/get", record=record)
    assert (r["author"], r["custodian"], r["status"], r["self_reported"]) == \
        (A1.did, HOSPITAL_A.did, "active", False)
    assert w.query("records/holders", record=record)["holders"] == [HOSPITAL_A.did]
    assert w.query("records/patient", patient=P.did)["records"] == [record]


@pytest.mark.parametrize(("author", "patch", "code"), [
    (IR, {}, ("records", 1)),                                  # insurers author no records
    (A1, {"custodian": HOSPITAL_B.did}, ("records", 6)),       # not their institution
    (P, {}, ("records", 6)),                                   # self-report needs custodian
    (A1, {"patient": A2.did}, ("records", 5)),                 # not a patient
    (A1, {"size": 10}, ("records", 8)),                        # cannot hold a sealed record
    (A1, {"chunks": 2}, ("records", 8)),
    (A1, {"category": "secret"}, ("records", 2)),
    (A1, {"resource": "observation"}, ("records", 2)),
    (A1, {"hash": "AB" * 32}, ("records", 2)),
    (A1, {"extra": 1}, ("records", 2)),
    (A1, {"replaces": "00" * 16}, ("records", 4)),
])
def test_register_refusals(w: World, author, patch, code) -> None:  # type: ignore[no-untyped-def]
    msg = {**register_msg(P), **patch}
    if author is P and "custodian" in msg:
        del msg["custodian"]
    assert w.fails(author, msg) == code


def test_self_reported_record_and_reused_id(w: World) -> None:
    record = w.record(author=P, patient=P, custodian=HOSPITAL_B.did)
    r = w.query("records/get", record=record)
    assert r["self_reported"] and r["custodian"] == HOSPITAL_B.did
    assert w.fails(P, register_msg(Q, custodian=HOSPITAL_B.did)) == ("records", 1)
    assert w.fails(A1, register_msg(P, record=record)) == ("records", 3)


def test_supersede_keeps_the_old_version_linked(w: World) -> None:
    old = w.record(author=A1, patient=P)
    new = w.record(author=A2, patient=P, replaces=old)  # same institution corrects it
    assert w.query("records/get", record=old)["superseded_by"] == new
    assert w.query("records/get", record=old)["status"] == "superseded"
    assert w.query("records/get", record=new)["replaces"] == old
    assert w.fails(A1, register_msg(P, replaces=old)) == ("records", 7)
    other = w.record(author=A1, patient=P)
    assert w.fails(B1, register_msg(P, replaces=other)) == ("records", 1)


def test_erase_by_patient_or_regulator_only_and_tombstone_keeps_nothing_clinical(
        w: World) -> None:
    record = w.record(author=A1, patient=P)
    erase = {"type": "records/erase", "record": record, "reason": "patient_request"}
    assert w.fails(A1, erase) == ("records", 1)
    assert w.fails(Q, erase) == ("records", 1)
    result = w.ok(GA, {**erase, "reason": "regulator_order"})
    tomb = w.query("records/get", record=record)
    assert tomb["status"] == "erased" and tomb["erased_by"] == GA.did
    assert not {"hash", "commitment", "resource", "category", "size"} & set(tomb)
    erased = [e for e in result.events if e.type == "records.erased"]
    assert dict(erased[0].attributes)["holders"] == HOSPITAL_A.did
    assert w.fails(P, erase) == ("records", 7)


def test_the_patient_designates_a_care_organization_to_hold_a_copy(w: World) -> None:
    record = w.record(author=A1, patient=P)
    add = {"type": "records/add_holder", "record": record, "org": HOSPITAL_B.did}
    result = w.ok(P, add)
    assert w.query("records/holders", record=record)["holders"] == sorted(
        [HOSPITAL_A.did, HOSPITAL_B.did])
    added = [dict(e.attributes) for e in result.events if e.type == "records.holder_added"]
    assert added == [{"record": record, "patient": P.did, "org": HOSPITAL_B.did}]
    assert w.fails(P, add) == ("records", 9)  # already a holder: nothing changes
    assert w.fails(P, {**add, "org": HOSPITAL_A.did}) == ("records", 9)


@pytest.mark.parametrize(("signer", "patch", "code"), [
    (Q, {}, ("records", 1)),                                  # another patient
    (A1, {}, ("records", 1)),                                 # the author, not the owner
    (HOSPITAL_A, {}, ("records", 1)),                         # the custodian institution
    (P, {"org": INSURER.did}, ("records", 6)),                # not a care organization
    (P, {"org": A2.did}, ("records", 6)),                     # not an organization
    (P, {"record": "00" * 16}, ("records", 4)),               # no such record
    (P, {"org": "did:web:example"}, ("records", 2)),
    (P, {"extra": 1}, ("records", 2)),
])
def test_add_holder_refusals(w: World, signer, patch, code) -> None:  # type: ignore[no-untyped-def]
    record = w.record(author=A1, patient=P)
    msg = {"type": "records/add_holder", "record": record, "org": HOSPITAL_B.did, **patch}
    assert w.fails(signer, msg) == code
    assert w.query("records/holders", record=record)["holders"] == [HOSPITAL_A.did]


def test_add_holder_refuses_an_erased_record(w: World) -> None:
    record = w.record(author=A1, patient=P)
    w.ok(P, {"type": "records/erase", "record": record, "reason": "patient_request"})
    assert w.fails(P, {"type": "records/add_holder", "record": record,
                       "org": HOSPITAL_B.did}) == ("records", 7)
    assert w.query("records/holders", record=record)["holders"] == [HOSPITAL_A.did]


# -- exchange ------------------------------------------------------------------------
def test_push_needs_the_recipients_push_consent(w: World) -> None:
    record = w.record(author=A1, patient=P)
    push = {"type": "exchange/push", "record": record, "to": B1.did, "purpose": "TREAT"}
    assert w.fails(A1, push) == ("exchange", 6)
    w.grant(P, practitioner(B1), actions=("push",))
    w.ok(A1, push)
    assert w.query("records/holders", record=record)["holders"] == sorted(
        [HOSPITAL_A.did, HOSPITAL_B.did])
    assert w.fails(RR, {**push, "to": A2.did}) == ("exchange", 6)  # RR may not read it


def test_pull_waits_for_the_patient_then_the_copy_is_recorded(w: World) -> None:
    record = w.record(author=A1, patient=P)
    request = new_id()
    ask = {"type": "exchange/request", "request": request, "patient": P.did,
           "scope": {"records": [record]}, "purpose": "TREAT"}
    w.ok(B1, ask)
    assert w.query("exchange/get", request=request)["status"] == "pending"
    assert w.query("exchange/patient", patient=P.did)["requests"] == [request]
    assert w.decide(B1, "pull", record)["reason"] == "no_consent"
    received = {"type": "exchange/received", "request": request, "record": record}
    assert w.fails(HOSPITAL_B, received) == ("exchange", 7)
    assert w.fails(Q, {"type": "exchange/approve", "request": request,
                       "end_ms": w.now + 10**7}) == ("exchange", 1)
    w.ok(P, {"type": "exchange/approve", "request": request, "end_ms": w.now + 10**7})
    assert w.decide(B1, "pull", record)["reason"] == "consent"
    assert w.query("consent/get", consent=request)["grantee"] == practitioner(B1)
    assert w.fails(P, {"type": "exchange/deny", "request": request}) == ("exchange", 5)
    assert w.fails(HOSPITAL_A, received) == ("exchange", 1)  # not the requester's org
    other = w.record(author=A1, patient=P)
    assert w.fails(HOSPITAL_B, {**received, "record": other}) == ("exchange", 8)
    w.ok(HOSPITAL_B, received)
    assert HOSPITAL_B.did in w.query("records/holders", record=record)["holders"]


def test_standing_consent_approves_a_pull_at_once_and_denial_is_final(w: World) -> None:
    w.grant(P, {"kind": "organization", "id": INSURER.did}, actions=("pull", "read"),
            purposes=("HPAYMT",), scope={"categories": ["financial", "laboratory"]})
    covered, wider = new_id(), new_id()
    w.ok(IR, {"type": "exchange/request", "request": covered, "patient": P.did,
              "scope": {"categories": ["laboratory"]}, "purpose": "HPAYMT"})
    assert w.query("exchange/get", request=covered)["status"] == "approved"
    w.ok(IR, {"type": "exchange/request", "request": wider, "patient": P.did,
              "scope": {"all": True}, "purpose": "HPAYMT"})
    assert w.query("exchange/get", request=wider)["status"] == "pending"
    w.ok(P, {"type": "exchange/deny", "request": wider})
    assert w.query("exchange/get", request=wider)["status"] == "denied"
    assert w.fails(IR, {"type": "exchange/request", "request": wider, "patient": P.did,
                        "scope": {"all": True}, "purpose": "HPAYMT"}) == ("exchange", 3)


# -- consent messages ----------------------------------------------------------------
@pytest.mark.parametrize(("patch", "code"), [
    ({"actions": ["read", "pull"]}, ("consent", 2)),           # not sorted
    ({"actions": ["delete"]}, ("consent", 2)),
    ({"purposes": ["FUN"]}, ("consent", 2)),
    ({"scope": {}}, ("consent", 2)),
    ({"scope": {"all": False}}, ("consent", 2)),
    ({"scope": {"categories": ["nope"]}}, ("consent", 2)),
    ({"grantee": {"kind": "role", "id": "king"}}, ("consent", 2)),
    ({"grantee": {"kind": "practitioner", "id": P.did}}, ("consent", 6)),
    ({"grantee": {"kind": "organization", "id": A1.did}}, ("consent", 6)),
    ({"period": {"start_ms": 5, "end_ms": 5}}, ("consent", 7)),
    ({"period": {"start_ms": 0, "end_ms": 10}}, ("consent", 7)),  # already over
])
def test_consent_refusals(w: World, patch, code) -> None:  # type: ignore[no-untyped-def]
    msg = {**w.grant_msg(new_id(), practitioner(A1)), **patch}
    assert w.fails(P, msg) == code


def test_only_the_patient_grants_and_revokes(w: World) -> None:
    assert w.fails(A1, w.grant_msg(new_id(), practitioner(A1))) == ("consent", 1)
    consent = w.grant(P, practitioner(A1))
    assert w.fails(Q, {"type": "consent/revoke", "consent": consent}) == ("consent", 1)
    w.ok(P, {"type": "consent/revoke", "consent": consent})
    assert w.fails(P, {"type": "consent/revoke", "consent": consent}) == ("consent", 5)
    assert w.query("consent/grantee", grantee=A1.did)["consents"] == [consent]


def test_readers_of_a_new_record_follow_standing_consents(w: World) -> None:
    w.grant(P, practitioner(B1), scope={"categories": ["laboratory"]})
    w.grant(P, {"kind": "organization", "id": INSURER.did}, actions=("push",))  # no read
    w.grant(P, {"kind": "role", "id": "researcher"}, purposes=("HRESCH",))
    lab = w.query("consent/readers", patient=P.did, resource="Observation",
                  category="laboratory")
    dids = [r["did"] for r in lab["readers"]]
    assert dids[0] == P.did and sorted(dids[1:]) == sorted([B1.did, RR.did])
    imaging = w.query("consent/readers", patient=P.did, resource="ImagingStudy",
                      category="imaging")
    assert [r["did"] for r in imaging["readers"]] == [P.did, RR.did]  # consent id order
