"""Consent scopes name record ids or all records, never a resource type or category
(issue 14, docs/privacy-v2-design.md §3): parsing and refusals, ``covers`` and
``contains`` (checked against a naive reference), the bound on ids per scope against the
tx size limit, the access decision and exchange requests with such scopes, and the
wallet's expansion of a choice of categories and types into record ids."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrchain.client.scopes import ScopeChoice, matching_records
from phrchain.client.session import RecordsError
from phrchain.core import encoding
from phrchain.core.errors import TxError
from phrchain.core.tx import MAX_TX_BYTES
from phrchain.modules.consent.messages import MAX_SCOPE_RECORDS, Scope
from phrchain.modules.records.messages import CATEGORIES
from tests.world import A1, B1, HOSPITAL_B, INSURER, IR, P, Q, World, new_id, practitioner

IDS = sorted(f"{n:032x}" for n in range(1, 9))
_ids = st.lists(st.sampled_from(IDS), min_size=1, unique=True).map(lambda x: tuple(sorted(x)))
_scopes = st.one_of(st.just(Scope(all=True)), st.builds(Scope, st.just(False), _ids))


def _refusal(value: Any) -> str:
    with pytest.raises(TxError) as exc:
        Scope.parse(value)
    assert (exc.value.codespace, exc.value.code) == ("consent", 2)  # INVALID_FIELD
    return str(exc.value)


# -- parsing -------------------------------------------------------------------------
def test_all_and_record_ids_parse_and_round_trip() -> None:
    assert Scope.parse({"all": True}) == Scope(all=True)
    assert Scope.parse({"records": IDS[:2]}) == Scope(records=tuple(IDS[:2]))
    for scope in (Scope(all=True), Scope(records=tuple(IDS))):
        assert Scope.parse(scope.to_json()) == scope == Scope.stored(scope.to_json())
    assert Scope(records=(IDS[0],)).to_json() == {"records": [IDS[0]]}


@pytest.mark.parametrize("retired", [
    {"categories": ["laboratory"]}, {"resources": ["Observation"]},
    {"records": [IDS[0]], "categories": ["laboratory"]},
    {"all": True, "resources": ["Observation"]},
])
def test_types_and_categories_are_refused_with_a_sentence(retired: dict[str, Any]) -> None:
    said = _refusal(retired)
    assert "names record ids" in said and "all records" in said
    assert "laboratory" not in said and "Observation" not in said  # the value is not echoed


@pytest.mark.parametrize("bad", [
    {}, {"all": False}, {"all": "yes"}, {"all": True, "records": [IDS[0]]},
    {"records": []}, {"records": [IDS[1], IDS[0]]}, {"records": [IDS[0], IDS[0]]},
    {"records": ["XYZ"]}, {"records": ["AB" * 16]}, {"records": IDS[0]},
    {"records": [1]}, {"ids": [IDS[0]]},
])
def test_malformed_scopes_are_refused(bad: dict[str, Any]) -> None:
    assert _refusal(bad)


def test_a_scope_built_by_hand_obeys_the_same_rule() -> None:
    for bad in (dict(all=False), dict(all=True, records=(IDS[0],)),
                dict(records=(IDS[1], IDS[0])), dict(records=(IDS[0], IDS[0]))):
        with pytest.raises(ValueError):
            Scope(**bad)  # type: ignore[arg-type]


def test_the_bound_on_ids_fits_one_tx() -> None:
    """MAX_SCOPE_RECORDS ids parse; one more is refused; a grant naming the maximum is
    accepted on chain (its tx is under MAX_TX_BYTES)."""
    ids = sorted(new_id() for _ in range(MAX_SCOPE_RECORDS + 1))
    assert len(Scope.parse({"records": ids[:-1]}).records) == MAX_SCOPE_RECORDS
    assert str(MAX_SCOPE_RECORDS) in _refusal({"records": ids})
    w = World()
    msg = w.grant_msg(new_id(), practitioner(A1), scope={"records": ids[:-1]})
    assert len(encoding.encode(msg)) < MAX_TX_BYTES - 1024  # room for the envelope
    w.ok(P, msg)
    assert len(w.query("consent/get", consent=msg["consent"])["scope"]["records"]) \
        == MAX_SCOPE_RECORDS
    assert w.fails(P, {**w.grant_msg(new_id(), practitioner(A1)),
                       "scope": {"records": ids}}) == ("consent", 2)


# -- covers and contains, against a naive reference -------------------------------------
@settings(max_examples=200, deadline=None)
@given(_scopes, st.sampled_from([*IDS, "f" * 32]))
def test_covers_is_membership_by_id(scope: Scope, record: str) -> None:
    expected = scope.all or record in list(scope.records)
    assert scope.names(record) is expected
    # whatever else a descriptor says (v1 chains had type and category) does not matter
    assert scope.covers({"record": record, "resource": "Observation",
                         "category": "laboratory"}) is expected


@settings(max_examples=200, deadline=None)
@given(_scopes, _scopes)
def test_contains_means_every_covered_record_is_covered(a: Scope, b: Scope) -> None:
    universe = [*IDS, "f" * 32]  # "f…": a record registered later
    naive = all(a.names(r) for r in universe if b.names(r))
    assert a.contains(b) is naive
    assert a.contains(a)


# -- the access decision and exchange requests ------------------------------------------
def test_a_consent_naming_ids_covers_exactly_those_records() -> None:
    w = World()
    lab, xray, later = (w.record(author=HOSPITAL_B, patient=P) for _ in range(3))
    consent = w.grant(P, practitioner(A1), scope={"records": sorted([lab, xray])})
    decision = w.decide(A1, "read", lab)
    assert (decision["permit"], decision["reason"], decision["consent"]) == \
        (True, "consent", consent)
    assert w.decide(A1, "read", xray)["reason"] == "consent"
    assert w.decide(A1, "read", later)["reason"] == "out_of_scope"


def test_only_all_covers_a_record_registered_after_the_grant() -> None:
    w = World()
    before = w.record(author=HOSPITAL_B, patient=P)
    w.grant(P, practitioner(A1), scope={"records": [before]})
    w.grant(P, practitioner(B1))  # all
    after = w.record(author=HOSPITAL_B, patient=P)
    assert w.decide(A1, "read", after)["reason"] == "out_of_scope"
    assert w.decide(B1, "read", after)["reason"] == "consent"
    # ``all`` is the granting patient's records only
    theirs = w.record(author=HOSPITAL_B, patient=Q)
    assert w.decide(B1, "read", theirs)["reason"] == "no_consent"


def test_stored_consents_and_events_carry_no_type_or_category() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    result = w.ok(P, w.grant_msg(new_id(), practitioner(A1), scope={"records": [record]}))
    consents = [v for k, v in w.chain.app.store.iterate(b"consent/")]
    assert any(record.encode() in raw for raw in consents)   # the scope names the id
    words = [f'"{word}"'.encode() for word in (*CATEGORIES, "Condition", "Observation")]
    for raw in (*consents, encoding.encode([e.to_json() for e in result.events])):
        assert not [w_ for w_ in words if w_ in raw]


def test_exchange_requests_name_ids_or_all() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    ask = {"type": "exchange/request", "request": new_id(), "patient": P.did,
           "purpose": "TREAT"}
    for retired in ({"categories": ["laboratory"]}, {"resources": ["Observation"]},
                    {"records": [record], "categories": ["laboratory"]}):
        assert w.fails(IR, {**ask, "scope": retired}) == ("exchange", 2)
    result = w.chain.run(IR, {**ask, "scope": {"categories": ["laboratory"]}})
    assert "names record ids" in result.log
    w.chain.nonces[IR.did] -= 1
    w.ok(IR, {**ask, "scope": {"records": [record]}})
    stored = w.query("exchange/get", request=ask["request"])
    assert stored["scope"] == {"records": [record]}
    assert set(stored) == {"request", "patient", "requester", "requester_kind", "scope",
                           "purpose", "status", "consent", "height", "answered_height"}


def test_an_approved_request_is_a_consent_over_the_same_ids() -> None:
    w = World()
    asked, other = (w.record(author=HOSPITAL_B, patient=P) for _ in range(2))
    request = new_id()
    w.ok(IR, {"type": "exchange/request", "request": request, "patient": P.did,
              "scope": {"records": [asked]}, "purpose": "HPAYMT"})
    w.ok(P, {"type": "exchange/approve", "request": request, "end_ms": w.now + 10**7})
    assert w.query("consent/get", consent=request)["scope"] == {"records": [asked]}
    assert w.decide(IR, "pull", asked, "HPAYMT")["reason"] == "consent"
    assert w.decide(IR, "pull", other, "HPAYMT")["reason"] == "out_of_scope"
    received = {"type": "exchange/received", "request": request}
    assert w.fails(INSURER, {**received, "record": other}) == ("exchange", 8)
    w.ok(INSURER, {**received, "record": asked})


# -- the wallet's expansion (client side, pure) ----------------------------------------
OWNED = [
    {"record": IDS[0], "resource": "Observation", "category": "laboratory"},
    {"record": IDS[1], "resource": "Observation", "category": "vital-signs"},
    {"record": IDS[2], "resource": "Condition", "category": "condition"},
    {"record": IDS[3], "resource": "DiagnosticReport", "category": "laboratory"},
    {"record": IDS[4], "resource": "Immunization", "category": "immunization"},
]


def test_matching_records_by_category_or_type() -> None:
    assert matching_records(OWNED, ["laboratory"]) == [IDS[0], IDS[3]]
    assert matching_records(OWNED, resources=["Observation"]) == [IDS[0], IDS[1]]
    assert matching_records(OWNED, ["condition"], ["Observation"]) == IDS[:3]
    assert matching_records(OWNED, ["imaging"]) == []
    assert matching_records(OWNED) == []


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(OWNED), unique_by=lambda d: d["record"]),
       st.sets(st.sampled_from(["laboratory", "vital-signs", "condition", "imaging"])),
       st.sets(st.sampled_from(["Observation", "Condition", "Patient"])))
def test_matching_records_is_the_naive_filter(owned: list[dict[str, str]],
                                              categories: set[str],
                                              resources: set[str]) -> None:
    naive = []
    for d in owned:
        if d["category"] in categories or d["resource"] in resources:
            naive.append(d["record"])
    assert matching_records(owned, categories, resources) == sorted(naive)


def test_a_choice_becomes_ids_or_all() -> None:
    by_kind = ScopeChoice.parse({"categories": ["laboratory"], "records": [IDS[4]]})
    assert by_kind.by_kind
    assert by_kind.expand(OWNED) == Scope(records=(IDS[0], IDS[3], IDS[4]))
    assert by_kind.to_json() == {"records": [IDS[4]], "categories": ["laboratory"]}
    assert ScopeChoice.parse({"all": True}).expand(OWNED) == Scope(all=True)
    assert ScopeChoice.parse({"records": [IDS[2]]}).expand([]) == Scope(records=(IDS[2],))


@pytest.mark.parametrize(("choice", "said"), [
    ({}, "choose"), ({"all": False}, "all"), ({"all": True, "records": [IDS[0]]}, "all"),
    ({"categories": ["gossip"]}, "unknown categories: gossip"),
    ({"resources": ["Observatio"]}, "not FHIR R4 resource types: Observatio"),
    ({"records": ["XYZ"]}, "not a record id"), ({"categories": "laboratory"}, "list"),
    ({"classes": ["x"]}, "choose"), ({"categories": []}, "at least one"),
])
def test_a_bad_choice_is_refused_with_a_sentence(choice: dict[str, Any], said: str) -> None:
    with pytest.raises(RecordsError, match=said):
        ScopeChoice.parse(choice)


def test_a_choice_matching_nothing_says_to_choose_all() -> None:
    with pytest.raises(RecordsError, match="choose all"):
        ScopeChoice.parse({"categories": ["imaging"]}).expand(OWNED)


def test_a_choice_beyond_the_bound_is_refused() -> None:
    many = [{"record": f"{n:032x}", "resource": "Observation", "category": "laboratory"}
            for n in range(MAX_SCOPE_RECORDS + 1)]
    with pytest.raises(RecordsError, match=str(MAX_SCOPE_RECORDS)):
        ScopeChoice.parse({"categories": ["laboratory"]}).expand(many)
    assert len(ScopeChoice.parse({"categories": ["laboratory"]}).expand(
        many[1:]).records) == MAX_SCOPE_RECORDS
