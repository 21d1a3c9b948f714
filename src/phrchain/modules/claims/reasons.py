"""Adjudication reason codes: stable, each with a human sentence (README "Reasons").

Reason codes are part of consensus (stored with every claim, indexed for regulators):
never rename or reuse one. Order here is the order they are listed in a claim.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

# Fraud / authenticity: each denies the claim.
FRAUD: Final = ("duplicate_claim", "unregistered_record", "non_admitted_provider",
                "tampered_record", "over_invoice")
# Coverage: each denies the claim.
COVERAGE: Final = ("not_enrolled", "outside_coverage", "waiting_period", "service_in_future")
# Per line: why a line is not eligible.
LINE: Final = ("excluded", "not_covered")

REASONS: Final[Mapping[str, str]] = {
    "duplicate_claim": "this bill or its encounter was already named by an earlier claim",
    "unregistered_record": "a named record is not registered, or was erased",
    "non_admitted_provider": "a named record was not written and kept by an active, "
                             "admitted care provider (or it is self-reported)",
    "tampered_record": "a named record's commitment differs from the registered one",
    "over_invoice": "the claimed amount exceeds the bill",
    "not_enrolled": "the patient was never enrolled in this product",
    "outside_coverage": "the service date is outside the enrolment period",
    "waiting_period": "the service date falls in the product's waiting period",
    "service_in_future": "the service date is after the block time",
    "excluded": "the line's code is excluded by the product",
    "not_covered": "the line's code is not covered by the product",
    "no_covered_lines": "no line of the claim is eligible",
    "deductible_applied": "part of the eligible amount went to the yearly deductible",
    "copay_applied": "the patient's co-pay share was taken off",
    "per_claim_limit": "the payout was cut to the product's per-claim limit",
    "yearly_limit": "the payout was cut to what is left of the yearly limit",
    "above_review_threshold": "the payout is above the product's review threshold",
    "review_lapsed": "the insurer did not review the claim before its deadline",
    "reviewer_denied": "a human reviewer denied the claim",
}
DENY: Final = frozenset((*FRAUD, *COVERAGE, "no_covered_lines"))
# What a reviewer may give as the reason of a denial.
REVIEW_DENY: Final = frozenset((*DENY, *LINE, "reviewer_denied"))


def ordered(found: set[str]) -> tuple[str, ...]:
    """``found`` in table order: one spelling per set of reasons."""
    return tuple(code for code in REASONS if code in found)
