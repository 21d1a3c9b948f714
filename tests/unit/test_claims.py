"""claims module on a chain: filing, fraud and coverage denials, tx errors, products and
enrolment, payment through settlement, and the consent a claim grants."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import AUTHORITY, tx_state
from tests.world import (
    A1,
    A2,
    COVERED,
    DAY_MS,
    EXCLUDED,
    HOSPITAL_A,
    HOSPITAL_B,
    IC,
    INSURER,
    INSURER_B,
    IR,
    PH,
    PHARMACY,
    ClaimsWorld,
    P,
    Q,
    code_tag,
    new_id,
    product_msg,
)

FUNDS = 10_000_000
LINES = [(COVERED[0], 1000), (COVERED[1], 500)]


@pytest.fixture
def w() -> ClaimsWorld:
    return ClaimsWorld()


@pytest.fixture
def product(w: ClaimsWorld) -> str:
    """A product of INSURER that P and Q are enrolled in; the insurer is funded."""
    pid = w.publish()
    w.enrol(P, pid)
    w.enrol(Q, pid)
    w.mint(INSURER, FUNDS)
    return pid


def claim(w: ClaimsWorld, product: str, patient: Any = P, *, bill_amount: int = 1500,
          lines: list[tuple[str, int]] | None = None, author: Any = A1,
          **kw: Any) -> dict[str, Any]:
    """A record by ``author``, a paid bill, and a claim filed over both."""
    record = w.record(author=author, patient=patient)
    bill = w.bill(patient, bill_amount)
    return w.file(patient, product, bill, [record], lines or LINES, **kw)


# -- the happy path ------------------------------------------------------------------
def test_approved_claim_pays_the_patient_exactly_the_payout(w: ClaimsWorld,
                                                           product: str) -> None:
    record = w.record(author=A1, patient=P)
    bill = w.bill(P, 1500)
    patient_before, insurer_before = w.balance(P), w.balance(INSURER)
    msg = w.claim_msg(P, product, bill, [record], LINES)
    result = w.ok(P, msg)
    c = w.query("claims/claim", claim=msg["claim"])
    assert (c["status"], c["payout"], c["paid_amount"], c["payment"], c["reasons"]) == \
        ("approved", 1500, 1500, "paid", [])
    assert w.balance(P) - patient_before == 1500
    assert insurer_before - w.balance(INSURER) == 1500
    assert set(c) >= {
        "claim", "patient", "insurer", "product", "version", "bill", "encounter",
        "service_ms", "records", "lines", "amount", "status", "reasons", "rules_payout",
        "payout", "paid_amount", "payment", "filed_height", "decided_height", "deadline_ms",
        "appealed", "review"}
    assert c["records"] == [{"record": record, "commitment": w.commitment(record)}]
    assert c["lines"][0] == {"tag": COVERED[0], "amount": 1000, "eligible": True,
                             "reason": None}
    assert c["paid_height"] == c["filed_height"] == c["decided_height"]
    types = [e.type for e in result.events]
    assert types[1:] == ["claims.filed", "claims.paid", "consent.granted", "claims.decided"]
    # events carry ids, amounts and reason codes; never a code tag
    attributes = " ".join(v for e in result.events for _, v in e.attributes)
    assert not any(tag in attributes for tag in COVERED)
    assert w.query("claims/of_patient", patient=P.did)["claims"] == [msg["claim"]]
    assert w.query("claims/of_insurer", insurer=INSURER.did, status="approved")["claims"] \
        == [msg["claim"]]


def test_partial_approval_pays_only_covered_lines(w: ClaimsWorld, product: str) -> None:
    lines = [(COVERED[0], 1000), (EXCLUDED[0], 300), (code_tag("Q00"), 200)]
    c = claim(w, product, lines=lines)
    assert (c["status"], c["payout"], c["reasons"]) == \
        ("partial", 1000, ["excluded", "not_covered"])
    assert [line["reason"] for line in c["lines"]] == [None, "excluded", "not_covered"]


# -- fraud ---------------------------------------------------------------------------
def assert_denied(w: ClaimsWorld, c: dict[str, Any], reason: str) -> None:
    assert c["status"] == "denied", c
    assert reason in c["reasons"]
    assert (c["payout"], c["paid_amount"], c["payment"]) == (0, 0, "none")
    assert c["claim"] in w.query("claims/by_reason", reason=reason)["claims"]


def test_a_bill_is_claimed_once(w: ClaimsWorld, product: str) -> None:
    first = claim(w, product)
    funds = w.balance(INSURER)
    again = w.file(P, product, first["bill"], [first["records"][0]["record"]], LINES)
    assert_denied(w, again, "duplicate_claim")
    assert w.balance(INSURER) == funds


def test_an_encounter_is_claimed_once_across_patients(w: ClaimsWorld, product: str) -> None:
    encounter = "5e" * 32
    bill_p = w.bill(P, 1500, encounter=encounter)
    bill_q = w.bill(Q, 1500, encounter=encounter)  # the provider bills one visit twice
    ok = w.file(P, product, bill_p, [w.record(patient=P)], LINES)
    assert ok["status"] == "approved"
    dup = w.file(Q, product, bill_q, [w.record(patient=Q)], LINES)
    assert_denied(w, dup, "duplicate_claim")


def test_unregistered_and_erased_records(w: ClaimsWorld, product: str) -> None:
    unknown = w.file(P, product, w.bill(P, 1500), [new_id()], LINES)
    assert_denied(w, unknown, "unregistered_record")
    record = w.record(patient=P)
    w.ok(P, {"type": "records/erase", "record": record, "reason": "patient_request"})
    erased = w.file(P, product, w.bill(P, 1500), [record], LINES)
    assert_denied(w, erased, "unregistered_record")


def test_self_reported_record_is_not_from_an_admitted_provider(w: ClaimsWorld,
                                                               product: str) -> None:
    record = w.record(author=P, patient=P, custodian=HOSPITAL_B.did)
    c = w.file(P, product, w.bill(P, 1500), [record], LINES)
    assert_denied(w, c, "non_admitted_provider")
    assert c["reasons"] == ["non_admitted_provider"]


def test_a_revoked_author_does_not_matter_the_custodian_does(
        w: ClaimsWorld, product: str) -> None:
    """v2: the chain knows no author, only the custodian that registered the record."""
    record = w.record(author=A2, patient=P)
    w.ok(HOSPITAL_A, {"type": "identity/revoke", "did": A2.did,
                      "reason": "affiliation_changed"})
    c = w.file(P, product, w.bill(P, 1500), [record], LINES)
    assert "non_admitted_provider" not in c["reasons"]
    assert c["status"] in ("approved", "partial")


def test_record_kept_by_a_revoked_care_organization(w: ClaimsWorld, product: str) -> None:
    record = w.record(author=PH, patient=P)   # pharmacist of the pharmacy
    w.ok(AUTHORITY, {"type": "identity/revoke", "did": PHARMACY.did,
                     "reason": "ceased_operation"})
    c = w.file(P, product, w.bill(P, 1500), [record], LINES)
    assert_denied(w, c, "non_admitted_provider")


def test_tampered_commitment(w: ClaimsWorld, product: str) -> None:
    record = w.record(patient=P)
    msg = w.claim_msg(P, product, w.bill(P, 1500), [record], LINES)
    msg["records"][0]["commitment"] = "ff" * 32
    w.ok(P, msg)
    assert_denied(w, w.query("claims/claim", claim=msg["claim"]), "tampered_record")


def test_over_invoice(w: ClaimsWorld, product: str) -> None:
    c = claim(w, product, bill_amount=1499)
    assert_denied(w, c, "over_invoice")
    assert c["rules_payout"] == 1500  # kept, in case an appeal finds the denial wrong


# -- coverage ------------------------------------------------------------------------
def test_not_enrolled(w: ClaimsWorld, product: str) -> None:
    other = w.publish()
    assert_denied(w, claim(w, other), "not_enrolled")


def test_outside_coverage_before_start_and_after_leaving(w: ClaimsWorld) -> None:
    pid = w.publish()
    w.mint(INSURER, FUNDS)
    start = w.enrol(P, pid)
    assert_denied(w, claim(w, pid, service_ms=start - 1), "outside_coverage")
    w.ok(P, {"type": "claims/leave", "insurer": INSURER.did, "product": pid})
    left = w.query("claims/enrolment", patient=P.did, insurer=INSURER.did, product=pid)
    assert left["status"] == "ended" and left["end_ms"] == w.now
    assert claim(w, pid, service_ms=left["end_ms"] - 1)["status"] == "approved"
    assert_denied(w, claim(w, pid, service_ms=left["end_ms"]), "outside_coverage")


def test_waiting_period(w: ClaimsWorld) -> None:
    pid = w.publish(waiting_ms=30 * DAY_MS)
    w.mint(INSURER, FUNDS)
    start = w.enrol(P, pid)
    assert_denied(w, claim(w, pid), "waiting_period")
    w.chain.time_ms = start + 30 * DAY_MS
    assert claim(w, pid, service_ms=start + 30 * DAY_MS)["status"] == "approved"


def test_service_in_the_future(w: ClaimsWorld, product: str) -> None:
    assert_denied(w, claim(w, product, service_ms=w.now + DAY_MS), "service_in_future")


# -- tx errors: nothing changes ------------------------------------------------------
def test_filing_refusals_change_nothing(w: ClaimsWorld, product: str) -> None:
    record, record_q = w.record(patient=P), w.record(patient=Q)
    bill, bill_q = w.bill(P, 1500), w.bill(Q, 1500)
    unpaid, usd = w.bill(P, 1500, pay=False), w.bill(P, 1500, currency="USD")
    good = w.claim_msg(P, product, bill, [record], LINES)
    taken = claim(w, product)["claim"]
    cases: list[tuple[Any, dict[str, Any], int]] = [
        (A1, {}, 1),                                       # not a patient
        (P, {"insurer": INSURER_B.did}, 5),                # publishes no such product
        (P, {"insurer": HOSPITAL_A.did}, 5),               # not an insurer
        (P, {"product": new_id()}, 5),
        (P, {"claim": taken}, 3),
        (P, {"bill": bill_q}, 10), (P, {"bill": new_id()}, 10),
        (P, {"bill": unpaid}, 11), (P, {"bill": usd}, 12),
        (P, {"records": [{"record": record_q, "commitment": w.commitment(record_q)}]}, 13),
        (P, {"amount": 1499}, 14),
        (P, {"lines": [{"tag": "A01", "amount": 5}], "amount": 5}, 2),  # a code, not a tag
        (P, {"records": []}, 2),
        (P, {"records": good["records"] * 2}, 2),
        (P, {"consent_end_ms": w.now}, 2),
        (P, {"version": 0}, 2),
    ]
    before = tx_state(w.chain)
    for signer, patch, code in cases:
        assert w.fails(signer, {**good, **patch}) == ("claims", code), patch
    assert tx_state(w.chain) == before
    w.publish(product)   # version 2: the patient's app saw other rules
    assert w.fails(P, good) == ("claims", 6)
    w.ok(P, {**good, "version": 2})


# -- products and enrolment ----------------------------------------------------------
def test_products_are_versioned_and_claims_keep_their_version(w: ClaimsWorld,
                                                              product: str) -> None:
    first = claim(w, product)
    w.ok(IC, {**_product(product), "deductible": 700})        # the insurer's clerk
    assert w.query("claims/product", insurer=INSURER.did, product=product)["version"] == 2
    old = w.query("claims/product", insurer=INSURER.did, product=product, version=1)
    assert old["deductible"] == 0 and old["published_by"] == INSURER.did
    assert w.query("claims/products", insurer=INSURER.did)["products"] == \
        [{"product": product, "version": 2}]
    assert w.query("claims/claim", claim=first["claim"])["version"] == 1
    second = claim(w, product, version=2)
    assert (second["version"], second["payout"]) == (2, 800)


@pytest.mark.parametrize(("signer", "patch", "code"), [
    (IR, {}, 1), (HOSPITAL_A, {}, 1), (A1, {}, 1), (P, {}, 1),
    (INSURER, {"covered": COVERED[::-1]}, 2),
    (INSURER, {"covered": []}, 2),
    (INSURER, {"excluded": [COVERED[0]]}, 2),
    (INSURER, {"yearly_limit": 999_999}, 2),
    (INSURER, {"copay_bps": 10_001}, 2),
    (INSURER, {"deductible": -1}, 2),
    (INSURER, {"review_window_ms": 0}, 2),
    (INSURER, {"currency": "eur"}, 2),
    (INSURER, {"name": ""}, 2),
])
def test_publish_refusals(w: ClaimsWorld, signer: Any, patch: dict[str, Any],
                          code: int) -> None:
    assert w.fails(signer, {**_product(new_id()), **patch}) == ("claims", code)


def _product(pid: str) -> dict[str, Any]:
    return product_msg(pid)


def test_a_new_version_keeps_the_products_currency(w: ClaimsWorld) -> None:
    pid = w.publish()
    assert w.fails(INSURER, product_msg(pid, currency="USD")) == ("claims", 12)
    assert w.query("claims/product", insurer=INSURER.did, product=pid)["version"] == 1
    w.ok(INSURER, product_msg(pid, deductible=10))
    assert w.query("claims/product", insurer=INSURER.did, product=pid)["version"] == 2


def test_enrolment_rules(w: ClaimsWorld) -> None:
    pid = w.publish(max_term_ms=100 * DAY_MS)
    start = w.now + 1000
    enrol = {"type": "claims/enrol", "insurer": INSURER.did, "product": pid,
             "start_ms": start, "end_ms": start + 100 * DAY_MS}
    assert w.fails(P, {**enrol, "start_ms": start - 2000}) == ("claims", 9)   # backdated
    assert w.fails(P, {**enrol, "end_ms": start + 100 * DAY_MS + 1}) == ("claims", 9)
    assert w.fails(P, {**enrol, "end_ms": start}) == ("claims", 9)
    assert w.fails(A1, enrol) == ("claims", 1)
    assert w.fails(P, {**enrol, "product": new_id()}) == ("claims", 5)
    leave = {"type": "claims/leave", "insurer": INSURER.did, "product": pid}
    assert w.fails(P, leave) == ("claims", 8)
    w.ok(P, {**enrol, "start_ms": w.now + 1000})
    assert w.fails(P, {**enrol, "start_ms": w.now + 1000}) == ("claims", 7)
    w.ok(P, leave)
    assert w.fails(P, leave) == ("claims", 8)
    w.ok(P, {**enrol, "start_ms": w.now + 1000, "end_ms": w.now + 2000})
    proven = w.chain.app.query("claims/enrolment", {"patient": P.did, "insurer": INSURER.did,
                                                    "product": pid}, prove=True)
    assert proven["value"]["seq"] == 2 and "proof" in proven
    listed = w.query("claims/enrolments", patient=P.did)["enrolments"]
    assert [(e["seq"], e["status"]) for e in listed] == [(1, "ended"), (2, "active")]


# -- usage across claims and coverage years ------------------------------------------
def test_deductible_is_used_across_claims_and_resets_next_coverage_year(
        w: ClaimsWorld) -> None:
    pid = w.publish(deductible=500, max_term_ms=800 * DAY_MS)
    w.mint(INSURER, FUNDS)
    start = w.enrol(P, pid, days=800)
    one = claim(w, pid, lines=[(COVERED[0], 300)], bill_amount=300)
    assert (one["status"], one["payout"], one["deductible_applied"]) == ("approved", 0, 300)
    two = claim(w, pid, lines=[(COVERED[0], 1000)], bill_amount=1000)
    assert (two["payout"], two["deductible_applied"]) == (800, 200)
    three = claim(w, pid, lines=[(COVERED[0], 1000)], bill_amount=1000)
    assert (three["payout"], three["deductible_applied"]) == (1000, 0)
    w.chain.time_ms = start + 366 * DAY_MS
    four = claim(w, pid, lines=[(COVERED[0], 1000)], bill_amount=1000)
    assert (four["year"], four["payout"], four["deductible_applied"]) == (1, 500, 500)


def test_leaving_and_enrolling_again_resets_no_deductible_or_yearly_limit(
        w: ClaimsWorld) -> None:
    pid = w.publish(deductible=500, per_claim_limit=1500, yearly_limit=2000)
    w.mint(INSURER, FUNDS)
    w.enrol(P, pid)
    first = claim(w, pid, lines=[(COVERED[0], 2000)], bill_amount=2000)
    assert (first["payout"], first["deductible_applied"]) == (1500, 500)
    w.ok(P, {"type": "claims/leave", "insurer": INSURER.did, "product": pid})
    w.enrol(P, pid)                                     # a new enrolment, same year
    w.chain.time_ms += 2000
    again = claim(w, pid, lines=[(COVERED[0], 2000)], bill_amount=2000)
    assert (again["enrolment"], again["year"]) == (2, 0)
    # No second deductible, and only what is left of the yearly limit (2000 - 1500).
    assert (again["deductible_applied"], again["payout"], again["reasons"]) == \
        (0, 500, ["per_claim_limit", "yearly_limit"])


def test_yearly_limit_across_claims(w: ClaimsWorld) -> None:
    pid = w.publish(per_claim_limit=1500, yearly_limit=2000)
    w.mint(INSURER, FUNDS)
    w.enrol(P, pid)
    assert claim(w, pid)["payout"] == 1500
    second = claim(w, pid)
    assert (second["status"], second["payout"], second["reasons"]) == \
        ("partial", 500, ["yearly_limit"])
    third = claim(w, pid)
    assert (third["status"], third["payout"]) == ("partial", 0)


# -- payment -------------------------------------------------------------------------
def test_unfunded_claim_is_settled_after_the_insurer_is_funded(w: ClaimsWorld) -> None:
    pid = w.publish()
    w.enrol(P, pid)
    w.mint(INSURER, 1000)
    c = claim(w, pid)
    assert (c["status"], c["payout"], c["paid_amount"], c["payment"]) == \
        ("approved", 1500, 0, "unfunded")
    assert w.balance(INSURER) == 1000   # no partial payment
    settle = {"type": "claims/settle", "claim": c["claim"]}
    before = tx_state(w.chain)
    assert w.fails(Q, settle) == ("claims", 23)
    assert tx_state(w.chain) == before
    w.mint(INSURER, 500)
    patient = w.balance(P)
    w.ok(Q, settle)   # anyone may settle
    c = w.query("claims/claim", claim=c["claim"])
    assert (c["payment"], c["paid_amount"], c["paid_height"]) == \
        ("paid", 1500, w.chain.app.store.version())
    assert (w.balance(P) - patient, w.balance(INSURER)) == (1500, 0)
    assert w.fails(Q, settle) == ("claims", 22)


# -- consent -------------------------------------------------------------------------
def test_claim_grants_the_insurer_payment_reads_of_exactly_the_named_records(
        w: ClaimsWorld, product: str) -> None:
    named = [w.record(patient=P) for _ in range(2)]
    other = w.record(patient=P)
    msg = w.claim_msg(P, product, w.bill(P, 1500), named, LINES)
    w.ok(P, msg)
    consent = w.query("consent/get", consent=msg["claim"])
    assert (consent["grantee"], consent["purposes"], consent["actions"]) == \
        ({"kind": "organization", "id": INSURER.did}, ["HPAYMT"], ["read"])
    assert consent["scope"] == {"records": sorted(named)}
    assert consent["period"] == {"start_ms": w.now, "end_ms": msg["consent_end_ms"]}
    for record in named:
        for who in (INSURER, IR):
            d = w.decide(who, "read", record, "HPAYMT")
            assert d["permit"] and d["consent"] == msg["claim"], d
        assert not w.decide(INSURER, "read", record, "TREAT")["permit"]
        assert not w.decide(INSURER, "pull", record, "HPAYMT")["permit"]
        assert not w.decide(INSURER_B, "read", record, "HPAYMT")["permit"]
    assert w.decide(INSURER, "read", other, "HPAYMT")["reason"] == "out_of_scope"
