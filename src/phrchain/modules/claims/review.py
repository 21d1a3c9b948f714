"""After filing: human review of referred claims, lapse of an unanswered review, the
patient's one appeal, and settling a payment the insurer could not fund at once."""

from __future__ import annotations

from typing import Any

from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.claims import keeper, ledger
from phrchain.modules.claims.adjudicate import DENIED, PARTIAL, REFERRED
from phrchain.modules.claims.errors import (
    ALREADY_APPEALED,
    AMOUNT_OVER_RULES,
    APPEAL_WINDOW_CLOSED,
    DEADLINE_NOT_PASSED,
    DEADLINE_PASSED,
    NOT_APPEALABLE,
    NOT_FOUND,
    NOT_REFERRED,
    NOTHING_TO_SETTLE,
    STILL_UNFUNDED,
    UNAUTHORIZED,
)
from phrchain.modules.claims.messages import CLAIMS_APPEALED, ClaimRef, Review
from phrchain.modules.claims.products import insurer_staff
from phrchain.modules.claims.reasons import DENY

REVIEWER_ROLE = "claims_reviewer"


def _claim(ctx: Context, claim_id: str) -> keeper.Claim:
    claim = keeper.get_claim(ctx.state, claim_id)
    if claim is None:
        raise NOT_FOUND(claim_id)
    return claim


def _referred(ctx: Context, claim_id: str) -> keeper.Claim:
    claim = _claim(ctx, claim_id)
    if claim["status"] != REFERRED:
        raise NOT_REFERRED(f"{claim_id} is {claim['status']}")
    return claim


def _unpaid_status(claim: keeper.Claim) -> str:
    """A refusal keeps what was already approved: partial if anything was, else denied."""
    return PARTIAL if claim["payout"] else DENIED


def review(ctx: Context, msg: Msg) -> None:
    m = Review.parse(msg)
    claim = _referred(ctx, m.claim)
    insurer_staff(ctx, REVIEWER_ROLE, claim["insurer"])
    assert claim["deadline_ms"] is not None   # every referred claim has one
    if ctx.time_ms >= claim["deadline_ms"]:
        raise DEADLINE_PASSED(f"the deadline was {claim['deadline_ms']}")
    if m.amount is not None:
        most = ledger.max_grant(ctx, claim)
        if m.amount > most:
            raise AMOUNT_OVER_RULES(f"{m.amount} > {most}")
        ledger.approve(ctx, claim, m.amount)
        claim["status"] = ledger.approved_status(claim)
    else:
        assert m.reason is not None
        ledger.add_reason(ctx, claim, m.reason)
        claim["status"] = _unpaid_status(claim)
    review_json: dict[str, Any] = {
        "by": ctx.signer, "decision": m.decision, "amount": m.amount, "reason": m.reason,
        "note_hash": m.note_hash, "height": ctx.height}
    claim["review"] = review_json
    ledger.decided(ctx, claim, REFERRED)


def lapse(ctx: Context, msg: Msg) -> None:
    """Prompt-pay rule: an unanswered referral is approved with the rules' payout. A
    claim carrying a fraud or coverage reason (an appealed denial) is never paid by a
    lapse: its denial stands."""
    m = ClaimRef.parse(msg)
    claim = _referred(ctx, m.claim)
    assert claim["deadline_ms"] is not None
    if ctx.time_ms < claim["deadline_ms"]:
        raise DEADLINE_NOT_PASSED(f"the deadline is {claim['deadline_ms']}")
    ledger.add_reason(ctx, claim, "review_lapsed")
    if DENY & set(claim["reasons"]):
        claim["status"] = _unpaid_status(claim)
    else:
        amount = ledger.max_grant(ctx, claim)
        if amount < claim["rules_payout"] - claim["payout"]:
            ledger.add_reason(ctx, claim, "yearly_limit")
        ledger.approve(ctx, claim, amount)
        claim["status"] = ledger.approved_status(claim)
    ledger.decided(ctx, claim, REFERRED)


def appeal(ctx: Context, msg: Msg) -> None:
    m = ClaimRef.parse(msg)
    claim = _claim(ctx, m.claim)
    if claim["patient"] != ctx.signer:
        raise UNAUTHORIZED("only the claim's patient appeals")
    if claim["appealed"]:
        raise ALREADY_APPEALED(m.claim)
    if claim["status"] not in (DENIED, PARTIAL):
        raise NOT_APPEALABLE(f"{m.claim} is {claim['status']}")
    product = ledger.product_of(ctx, claim)
    if ctx.time_ms >= claim["decided_ms"] + product["appeal_window_ms"]:
        raise APPEAL_WINDOW_CLOSED(f"decided at {claim['decided_ms']}, window "
                                   f"{product['appeal_window_ms']} ms")
    old = claim["status"]
    claim.update({"status": REFERRED, "appealed": True,
                  "deadline_ms": ctx.time_ms + product["review_window_ms"]})
    assert claim["deadline_ms"] is not None
    keeper.put_claim(ctx.state, claim)
    keeper.move_status(ctx.state, claim, old)
    ctx.emit(CLAIMS_APPEALED, claim=m.claim, patient=ctx.signer, insurer=claim["insurer"],
             deadline_ms=claim["deadline_ms"])


def settle(ctx: Context, msg: Msg) -> None:
    m = ClaimRef.parse(msg)
    claim = _claim(ctx, m.claim)
    if claim["payment"] != ledger.UNFUNDED:
        raise NOTHING_TO_SETTLE(f"payment of {m.claim} is {claim['payment']}")
    ledger.pay(ctx, claim)
    if claim["payment"] == ledger.UNFUNDED:
        raise STILL_UNFUNDED(f"the insurer holds less than "
                             f"{claim['payout'] - claim['paid_amount']} {claim['currency']}")
    keeper.put_claim(ctx.state, claim)
