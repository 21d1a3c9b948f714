"""records and exchange modules: who may do what, and what state results (the audit
module: test_audit_module.py)."""

from __future__ import annotations

import pytest

from tests.world import (
    A1,
    A2,
    AE,
    B1,
    GA,
    HOSPITAL_A,
    HOSPITAL_B,
    INSURER,
    IR,
    REGULATOR,
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
def test_register_by_the_custodian_organization_keeps_nothing_descriptive(w: World) -> None:
    msg = register_msg(P)
    result = w.ok(HOSPITAL_A, msg)
    r = w.query("records/get", record=msg["record"])
    assert r == {"record": msg["record"], "patient": P.did, "custodian": HOSPITAL_A.did,
                 "hash": msg["hash"], "size": 4096, "commitment": msg["commitment"],
                 "descriptor": msg["descriptor"], "self_reported": False,
                 "status": "active", "height": r["height"], "time_ms": w.now,
                 "replaces": None, "superseded_by": None}
    assert w.query("records/holders", record=msg["record"])["holders"] == [HOSPITAL_A.did]
    assert w.query("records/patient", patient=P.did)["records"] == [msg["record"]]
    assert [(e.type, dict(e.attributes)) for e in result.events
            if e.type.startswith("records.")] == [
        ("records.registered", {"record": msg["record"], "patient": P.did,
                                "custodian": HOSPITAL_A.did})]


@pytest.mark.parametrize(("size", "ok"), [
    (4096, True), (8192, True), (1 << 40, True), (2048, False), (4095, False),
    (4097, False), (6144, False), (1 << 41, False), (0, False), (3 << 20, False)])
def test_size_must_be_a_bucket(w: World, size: int, ok: bool) -> None:
    msg = {**register_msg(P), "size": size}
    if ok:
        w.ok(HOSPITAL_A, msg)
        assert w.query("records/get", record=msg["record"])["size"] == size
    else:
        assert w.fails(HOSPITAL_A, msg) in {("records", 8), ("records", 2)}
        assert w.query("records/get", record=msg["record"]) is None


def test_size_bucket_rounds_up_to_a_power_of_two_from_4096() -> None:
    from phrchain.modules.records.messages import size_bucket

    assert [size_bucket(n) for n in (1, 548, 4096, 4097, 1 << 20, (1 << 20) + 1)] == \
        [4096, 4096, 4096, 8192, 1 << 20, 1 << 21]
    with pytest.raises(ValueError):
        size_bucket((1 << 40) + 1)


@pytest.mark.parametrize(("signer", "patch", "code"), [
    (A1, {}, ("records", 1)),                       # a practitioner: its vault registers
    (AE, {}, ("records", 1)),
    (IR, {}, ("records", 1)),
    (INSURER, {}, ("records", 1)),                  # not a care organization
    (REGULATOR, {}, ("records", 1)),
    (HOSPITAL_A, {"custodian": HOSPITAL_B.did}, ("records", 6)),  # not its own custody
    (P, {}, ("records", 6)),                        # self-report needs a custodian
    (P, {"custodian": INSURER.did}, ("records", 6)),
    (P, {"custodian": A1.did}, ("records", 6)),     # not an organization
    (Q, {"custodian": HOSPITAL_B.did}, ("records", 1)),  # another patient's chart
    (HOSPITAL_A, {"patient": A2.did}, ("records", 5)),   # not a patient
    (HOSPITAL_A, {"size": 10}, ("records", 8)),
    (HOSPITAL_A, {"descriptor": "AB" * 32}, ("records", 2)),
    (HOSPITAL_A, {"descriptor": None}, ("records", 2)),
    (HOSPITAL_A, {"hash": "ab" * 31}, ("records", 2)),
    (HOSPITAL_A, {"commitment": 7}, ("records", 2)),
    (HOSPITAL_A, {"resource": "Observation"}, ("records", 2)),  # v1 fields are gone
    (HOSPITAL_A, {"category": "laboratory"}, ("records", 2)),
    (HOSPITAL_A, {"author": A1.did}, ("records", 2)),
    (HOSPITAL_A, {"chunks": 1}, ("records", 2)),
    (HOSPITAL_A, {"extra": 1}, ("records", 2)),
    (HOSPITAL_A, {"replaces": "00" * 16}, ("records", 4)),
])
def test_register_refusals(w: World, signer, patch, code) -> None:  # type: ignore[no-untyped-def]
    msg = {**register_msg(P), **patch}
    if "descriptor" in patch and patch["descriptor"] is None:
        del msg["descriptor"]
    assert w.fails(signer, msg) == code
    assert w.query("records/get", record=msg["record"]) is None
    assert w.query("records/patient", patient=P.did)["records"] == []


def test_self_reported_record_and_reused_id(w: World) -> None:
    record = w.record(author=P, patient=P, custodian=HOSPITAL_B.did)
    r = w.query("records/get", record=record)
    assert r["self_reported"] and r["custodian"] == HOSPITAL_B.did
    assert w.query("records/holders", record=record)["holders"] == [HOSPITAL_B.did]
    assert w.fails(P, register_msg(Q, custodian=HOSPITAL_B.did)) == ("records", 1)
    assert w.fails(HOSPITAL_A, register_msg(P, record=record)) == ("records", 3)


def test_supersede_by_the_custodian_organization_only(w: World) -> None:
    old = w.record(author=A1, patient=P)
    new = w.record(author=HOSPITAL_A, patient=P, replaces=old)
    assert w.query("records/get", record=old)["superseded_by"] == new
    assert w.query("records/get", record=old)["status"] == "superseded"
    assert w.query("records/get", record=new)["replaces"] == old
    assert w.fails(HOSPITAL_A, register_msg(P, replaces=old)) == ("records", 7)
    other = w.record(author=A1, patient=P)
    assert w.fails(HOSPITAL_B, register_msg(P, replaces=other)) == ("records", 1)
    assert w.fails(P, register_msg(P, replaces=other, custodian=HOSPITAL_A.did)) == \
        ("records", 1)  # the patient does not supersede the hospital's record
    assert w.fails(HOSPITAL_A, register_msg(Q, replaces=other)) == ("records", 1)
    assert w.query("records/get", record=other)["status"] == "active"


def test_the_owner_supersedes_a_self_reported_record_and_the_custodian_does_not(
        w: World) -> None:
    old = w.record(author=P, patient=P, custodian=HOSPITAL_B.did)
    assert w.fails(HOSPITAL_B, register_msg(P, replaces=old)) == ("records", 1)
    new = w.record(author=P, patient=P, custodian=HOSPITAL_B.did, replaces=old)
    assert w.query("records/get", record=old)["superseded_by"] == new


def test_holds_any_is_set_whenever_an_org_becomes_a_holder(w: World) -> None:
    from phrchain.core.state import StoreView
    from phrchain.modules import records
    from phrchain.modules.records.keys import holds_any_key

    store = w.chain.app.store

    def holds(patient: str, org: str) -> bool:
        return records.holds_any(StoreView(store.get, store.iterate), patient, org)

    assert not holds(P.did, HOSPITAL_A.did)
    record = w.record(author=A1, patient=P)
    assert holds(P.did, HOSPITAL_A.did)
    assert store.get(holds_any_key(P.did, HOSPITAL_A.did)) == b"1"
    assert not holds(Q.did, HOSPITAL_A.did)   # per patient
    assert not holds(P.did, HOSPITAL_B.did)   # per organization
    w.ok(P, {"type": "records/add_holder", "record": record, "org": HOSPITAL_B.did})
    assert holds(P.did, HOSPITAL_B.did)
    assert not holds(Q.did, HOSPITAL_B.did)
    w.record(author=Q, patient=Q, custodian=HOSPITAL_B.did)     # self-reported custody
    assert holds(Q.did, HOSPITAL_B.did)
    assert not holds(Q.did, HOSPITAL_A.did)


def test_erase_by_patient_or_regulator_only_and_tombstone_keeps_nothing_clinical(
        w: World) -> None:
    record = w.record(author=A1, patient=P)
    erase = {"type": "records/erase", "record": record, "reason": "patient_request"}
    assert w.fails(A1, erase) == ("records", 1)
    assert w.fails(HOSPITAL_A, erase) == ("records", 1)
    assert w.fails(Q, erase) == ("records", 1)
    result = w.ok(GA, {**erase, "reason": "regulator_order"})
    tomb = w.query("records/get", record=record)
    assert tomb["status"] == "erased" and tomb["erased_by"] == GA.did
    assert set(tomb) == {"record", "patient", "custodian", "status", "height",
                         "erased_height", "erased_by", "reason", "replaces",
                         "superseded_by", "self_reported"}
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
    assert w.fails(HOSPITAL_A, push) == ("exchange", 6)
    assert w.fails(A1, push) == ("exchange", 6)  # the chain knows no author (v2)
    w.grant(P, practitioner(B1), actions=("push",))
    w.ok(HOSPITAL_A, push)
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
    lab, bill, other = (w.record(author=A1, patient=P) for _ in range(3))
    w.grant(P, {"kind": "organization", "id": INSURER.did}, actions=("pull", "read"),
            purposes=("HPAYMT",), scope={"records": sorted([lab, bill])})
    covered, wider, beyond = new_id(), new_id(), new_id()
    w.ok(IR, {"type": "exchange/request", "request": covered, "patient": P.did,
              "scope": {"records": [lab]}, "purpose": "HPAYMT"})
    assert w.query("exchange/get", request=covered)["status"] == "approved"
    w.ok(IR, {"type": "exchange/request", "request": beyond, "patient": P.did,
              "scope": {"records": sorted([lab, other])}, "purpose": "HPAYMT"})
    assert w.query("exchange/get", request=beyond)["status"] == "pending"  # other: not
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
    ({"scope": {"categories": ["laboratory"]}}, ("consent", 2)),   # ids only (issue 14)
    ({"scope": {"resources": ["Observation"]}}, ("consent", 2)),
    ({"scope": {"records": ["00" * 16], "categories": ["laboratory"]}}, ("consent", 2)),
    ({"scope": {"records": []}}, ("consent", 2)),
    ({"scope": {"records": ["11" * 16, "00" * 16]}}, ("consent", 2)),  # not sorted
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
    """Scopes name record ids: a new record is covered by ``all`` consents only; an
    existing one (``record``) also by the consents naming it."""
    named = w.record(author=A1, patient=P)
    w.grant(P, practitioner(B1), scope={"records": [named]})
    w.grant(P, {"kind": "organization", "id": INSURER.did}, actions=("push",))  # no read
    w.grant(P, {"kind": "role", "id": "researcher"}, purposes=("HRESCH",))
    w.grant(P, practitioner(A2), actions=("pull",), end_ms=w.now + 1500)
    w.chain.block([])  # block time passes A2's end
    w.chain.block([])
    new = w.query("consent/readers", patient=P.did)
    assert [r["did"] for r in new["readers"]] == [P.did, RR.did]
    existing = w.query("consent/readers", patient=P.did, record=named)
    dids = [r["did"] for r in existing["readers"]]
    assert dids[0] == P.did and sorted(dids[1:]) == sorted([B1.did, RR.did])
    assert all(r["enc_key"] for r in existing["readers"])
    unnamed = w.query("consent/readers", patient=P.did, record=new_id())
    assert [r["did"] for r in unnamed["readers"]] == [P.did, RR.did]


@pytest.mark.parametrize("data", [{"resource": "Observation"}, {"category": "laboratory"},
                                  {"record": "not an id"}])
def test_readers_take_no_type_or_category(w: World, data: dict[str, str]) -> None:
    from phrchain.core.errors import TxError

    with pytest.raises(TxError) as exc:
        w.chain.app.query("consent/readers", {"patient": P.did, **data})
    assert (exc.value.codespace, exc.value.code) == ("query", 2)
    assert str(exc.value)
