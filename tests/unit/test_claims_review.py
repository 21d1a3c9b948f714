"""claims review, lapse and appeal: who decides, until when, and never above the rules."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import tx_state
from tests.world import A1, COVERED, DAY_MS, IC, INSURER, INSURER_B, IR, ClaimsWorld, P, Q

REVIEW_MS, APPEAL_MS = 7 * DAY_MS, 30 * DAY_MS
LINES = [(COVERED[0], 1000), (COVERED[1], 500)]


@pytest.fixture
def w() -> ClaimsWorld:
    return ClaimsWorld()


@pytest.fixture
def product(w: ClaimsWorld) -> str:
    """Refers any payout above 1000 to a human; P is enrolled; the insurer is funded."""
    pid = w.publish(refer_above=1000, copay_bps=1000, review_window_ms=REVIEW_MS,
                    appeal_window_ms=APPEAL_MS)
    w.enrol(P, pid)
    w.mint(INSURER, 1_000_000)
    return pid


def file(w: ClaimsWorld, product: str, bill_amount: int = 1500, **kw: Any) -> dict[str, Any]:
    return w.file(P, product, w.bill(P, bill_amount), [w.record(patient=P)], LINES, **kw)


def review(claim: dict[str, Any], decision: str = "approve", **kw: Any) -> dict[str, Any]:
    return {"type": "claims/review", "claim": claim["claim"], "decision": decision, **kw}


def get(w: ClaimsWorld, claim: dict[str, Any]) -> dict[str, Any]:
    return dict(w.query("claims/claim", claim=claim["claim"]))


def test_referral_is_on_the_reviewers_work_list(w: ClaimsWorld, product: str) -> None:
    c = file(w, product)
    assert (c["status"], c["rules_payout"], c["payout"], c["deadline_ms"]) == \
        ("referred", 1350, 0, w.now + REVIEW_MS)
    assert c["reasons"] == ["copay_applied", "above_review_threshold"]
    assert w.query("claims/of_insurer", insurer=INSURER.did, status="referred")["claims"] \
        == [c["claim"]]
    assert w.balance(P) == 0


def test_reviewer_approves_up_to_the_rules_payout(w: ClaimsWorld, product: str) -> None:
    c = file(w, product)
    for signer in (A1, P, IC, INSURER_B):   # a clerk is not a reviewer; nor another insurer
        assert w.fails(signer, review(c, amount=100)) == ("claims", 1)
    before = tx_state(w.chain)
    assert w.fails(IR, review(c, amount=1351)) == ("claims", 18)
    assert tx_state(w.chain) == before
    w.ok(IR, review(c, amount=1200, note_hash="ab" * 32))
    c = get(w, c)
    assert (c["status"], c["payout"], c["paid_amount"], c["payment"]) == \
        ("partial", 1200, 1200, "paid")
    assert c["review"] == {"by": IR.did, "decision": "approve", "amount": 1200, "reason": None,
                           "note_hash": "ab" * 32, "height": w.chain.app.store.version()}
    assert w.balance(P) == 1200
    assert w.fails(IR, review(c, amount=1)) == ("claims", 15)   # decided already
    assert w.query("claims/of_insurer", insurer=INSURER.did, status="referred")["claims"] \
        == []


def test_the_insurer_itself_may_approve_the_full_payout(w: ClaimsWorld, product: str) -> None:
    c = file(w, product)
    w.ok(INSURER, review(c, amount=1350))
    assert (get(w, c)["status"], w.balance(P)) == ("approved", 1350)


def test_review_after_the_deadline_is_refused_and_lapse_approves(w: ClaimsWorld,
                                                                product: str) -> None:
    c = file(w, product)
    lapse = {"type": "claims/lapse", "claim": c["claim"]}
    assert w.fails(Q, lapse) == ("claims", 17)
    w.chain.time_ms = c["deadline_ms"] - 1000     # the next block is at the deadline
    assert w.fails(IR, review(c, amount=1350)) == ("claims", 16)
    w.ok(Q, lapse)   # anyone
    c = get(w, c)
    assert (c["status"], c["payout"], c["payment"]) == ("approved", 1350, "paid")
    assert "review_lapsed" in c["reasons"] and c["review"] is None
    assert w.balance(P) == 1350
    assert w.fails(Q, lapse) == ("claims", 15)


def test_reviewer_denial_then_one_appeal(w: ClaimsWorld, product: str) -> None:
    c = file(w, product)
    assert w.fails(IR, review(c, "deny", reason="no_such_reason")) == ("claims", 2)
    assert w.fails(IR, review(c, "deny", amount=5)) == ("claims", 2)
    w.ok(IR, review(c, "deny", reason="reviewer_denied"))
    c = get(w, c)
    assert (c["status"], c["payout"]) == ("denied", 0)
    assert c["claim"] in w.query("claims/by_reason", reason="reviewer_denied")["claims"]
    appeal = {"type": "claims/appeal", "claim": c["claim"]}
    assert w.fails(Q, appeal) == ("claims", 1)
    w.ok(P, appeal)
    c = get(w, c)
    assert (c["status"], c["appealed"], c["deadline_ms"]) == ("referred", True,
                                                             w.now + REVIEW_MS)
    assert w.fails(P, appeal) == ("claims", 19)
    assert w.fails(IR, review(c, amount=1351)) == ("claims", 18)
    w.ok(IR, review(c, amount=1350))
    assert (get(w, c)["status"], w.balance(P)) == ("approved", 1350)
    assert w.fails(P, appeal) == ("claims", 19)   # the reviewer's answer was final


def test_appeal_of_a_partial_approval_adds_at_most_the_rest(w: ClaimsWorld,
                                                            product: str) -> None:
    c = file(w, product)
    w.ok(IR, review(c, amount=1000))
    w.ok(P, {"type": "claims/appeal", "claim": c["claim"]})
    assert w.fails(IR, review(c, amount=351)) == ("claims", 18)
    w.ok(IR, review(c, amount=350))
    c = get(w, c)
    assert (c["status"], c["payout"], c["paid_amount"]) == ("approved", 1350, 1350)
    assert w.balance(P) == 1350


def test_a_denied_appeal_keeps_what_was_paid(w: ClaimsWorld, product: str) -> None:
    c = file(w, product)
    w.ok(IR, review(c, amount=1000))
    w.ok(P, {"type": "claims/appeal", "claim": c["claim"]})
    w.ok(IR, review(c, "deny", reason="not_covered"))
    c = get(w, c)
    assert (c["status"], c["payout"], w.balance(P)) == ("partial", 1000, 1000)


def test_appeal_only_in_its_window_and_only_of_a_refusal(w: ClaimsWorld,
                                                         product: str) -> None:
    early, late = file(w, product), file(w, product)
    w.ok(IR, review(early, "deny", reason="reviewer_denied"))
    w.ok(IR, review(late, "deny", reason="reviewer_denied"))   # decided 1 s later
    closes = get(w, early)["decided_ms"] + APPEAL_MS
    w.chain.time_ms = closes - 1000               # the next block is at `closes`
    block = w.chain.block([w.chain.tx(P, {"type": "claims/appeal", "claim": late["claim"]}),
                           w.chain.tx(P, {"type": "claims/appeal", "claim": early["claim"]})])
    w.chain.nonces[P.did] -= 1
    assert [(r.codespace, r.code) for r in block.tx_results] == [("", 0), ("claims", 21)]
    pid = w.publish()
    w.enrol(P, pid)
    approved = w.file(P, pid, w.bill(P, 1500), [w.record(patient=P)], LINES)
    assert approved["status"] == "approved"
    assert w.fails(P, {"type": "claims/appeal", "claim": approved["claim"]}) == ("claims", 20)
    referred = file(w, product)
    assert w.fails(P, {"type": "claims/appeal", "claim": referred["claim"]}) == \
        ("claims", 20)


def test_appeal_of_a_fraud_denial_that_lapses_stays_denied(w: ClaimsWorld,
                                                           product: str) -> None:
    c = file(w, product, bill_amount=1499)   # over invoice
    assert c["status"] == "denied" and c["rules_payout"] == 1350
    w.ok(P, {"type": "claims/appeal", "claim": c["claim"]})
    w.chain.time_ms = get(w, c)["deadline_ms"]
    w.ok(Q, {"type": "claims/lapse", "claim": c["claim"]})
    c = get(w, c)
    assert (c["status"], c["payout"], w.balance(P)) == ("denied", 0, 0)
    assert c["reasons"] == ["over_invoice", "review_lapsed"]


def test_appeal_of_a_fraud_denial_may_be_granted_by_the_reviewer(w: ClaimsWorld,
                                                                 product: str) -> None:
    c = file(w, product, bill_amount=1499)
    w.ok(P, {"type": "claims/appeal", "claim": c["claim"]})
    w.ok(IR, review(c, amount=1350))
    assert (get(w, c)["status"], w.balance(P)) == ("approved", 1350)
