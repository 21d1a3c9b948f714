"""What follows a decision: usage of the coverage year, payment through settlement, the
status indexes. Shared by filing and review; only claims handlers call it."""

from __future__ import annotations

from typing import Final

from phrchain.core.module import Context
from phrchain.modules import settlement
from phrchain.modules.claims import keeper
from phrchain.modules.claims.adjudicate import APPROVED, PARTIAL, Usage
from phrchain.modules.claims.messages import CLAIMS_DECIDED, CLAIMS_PAID, CLAIMS_UNFUNDED
from phrchain.modules.claims.reasons import ordered

NONE: Final = "none"
PAID: Final = "paid"
UNFUNDED: Final = "unfunded"
_LIMIT_CUTS: Final = frozenset({"per_claim_limit", "yearly_limit"})


def product_of(ctx: Context, claim: keeper.Claim) -> keeper.Product:
    """The product version a claim was filed under (versions are never removed)."""
    product = keeper.get_product(ctx.state, claim["insurer"], claim["product"],
                                 claim["version"])
    assert product is not None
    return product


def max_grant(ctx: Context, claim: keeper.Claim) -> int:
    """The most that may still be approved: the rules' payout less what was approved,
    and never past the yearly limit as used now."""
    left = int(product_of(ctx, claim)["yearly_limit"]) - keeper.usage(ctx.state, claim).paid
    return max(0, min(int(claim["rules_payout"]) - int(claim["payout"]), left))


def approve(ctx: Context, claim: keeper.Claim, amount: int,
            known: tuple[keeper.Product, Usage] | None = None) -> None:
    """Approve ``amount`` more: count it (and, the first time, the claim's deductible)
    in the coverage year's usage, then pay what is owed. ``known``: the claim's product
    version and its year's usage as the caller read them in this tx, nothing written
    to either since (the filing), so neither is read again."""
    product, used = (None, keeper.usage(ctx.state, claim)) if known is None else known
    deductible_used = used.deductible_used
    if not claim["usage_committed"]:
        deductible = (product_of(ctx, claim) if product is None else product)["deductible"]
        deductible_used = min(deductible, deductible_used + claim["deductible_applied"])
        claim["usage_committed"] = True
    keeper.put_usage(ctx.state, claim, Usage(deductible_used, used.paid + amount))
    claim["payout"] += amount
    pay(ctx, claim)


def pay(ctx: Context, claim: keeper.Claim) -> None:
    """Transfer what is owed from the insurer to the patient, or mark it unfunded."""
    owed = claim["payout"] - claim["paid_amount"]
    if owed == 0:
        return
    attrs: dict[str, str | int] = {
        "claim": claim["claim"], "patient": claim["patient"], "insurer": claim["insurer"],
        "amount": owed, "currency": claim["currency"]}
    if settlement.transfer(ctx.state, claim["insurer"], claim["patient"], owed,
                           claim["currency"]):
        claim.update({"paid_amount": claim["payout"], "payment": PAID,
                      "paid_height": ctx.height})
        ctx.emit(CLAIMS_PAID, **attrs)
    else:
        claim["payment"] = UNFUNDED
        ctx.emit(CLAIMS_UNFUNDED, **attrs)


def approved_status(claim: keeper.Claim) -> str:
    """``partial`` when a line was ineligible, a limit cut the payout, or less than the
    rules' payout was approved; else ``approved``."""
    cut = claim["payout"] < claim["rules_payout"] or bool(_LIMIT_CUTS & set(claim["reasons"])) \
        or any(not line["eligible"] for line in claim["lines"])
    return PARTIAL if cut else APPROVED


def add_reason(ctx: Context, claim: keeper.Claim, reason: str) -> None:
    if reason not in claim["reasons"]:
        claim["reasons"] = list(ordered({*claim["reasons"], reason}))
        keeper.add_reason_index(ctx.state, claim["claim"], reason)


def decided(ctx: Context, claim: keeper.Claim, old_status: str) -> None:
    """Store a (re)decided claim and announce it."""
    claim.update({"decided_height": ctx.height, "decided_ms": ctx.time_ms, "deadline_ms": None})
    keeper.put_claim(ctx.state, claim)
    keeper.move_status(ctx.state, claim, old_status)
    announce(ctx, claim)


def announce(ctx: Context, claim: keeper.Claim) -> None:
    ctx.emit(CLAIMS_DECIDED, claim=claim["claim"], patient=claim["patient"],
             insurer=claim["insurer"], status=claim["status"], payout=claim["payout"],
             reasons=",".join(claim["reasons"]))
