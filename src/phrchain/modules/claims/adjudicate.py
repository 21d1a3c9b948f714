"""Claim adjudication v1: a pure function of the product's rules and the claim's facts.

No state, clock or randomness: the handler gathers the facts (enrolment, this year's
usage, what the registry says about the named records) and stores the decision. The
formula and a worked example are in the README ("Payout"). A change to these rules is
a new version of this file selected by the product's rules version, never an edit
(STYLE: versioned rules).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from phrchain.modules.claims.messages import BPS
from phrchain.modules.claims.reasons import DENY, ordered

YEAR_MS: Final = 365 * 86_400_000
APPROVED: Final = "approved"
PARTIAL: Final = "partial"
DENIED: Final = "denied"
REFERRED: Final = "referred"


@dataclass(frozen=True, slots=True)
class Rules:
    """The part of a product version that adjudication reads."""

    deductible: int
    copay_bps: int
    per_claim_limit: int
    yearly_limit: int
    waiting_ms: int
    covered: frozenset[str]
    excluded: frozenset[str]
    refer_above: int

    @classmethod
    def of(cls, product: Mapping[str, Any]) -> Rules:
        return cls(product["deductible"], product["copay_bps"], product["per_claim_limit"],
                   product["yearly_limit"], product["waiting_ms"], frozenset(product["covered"]),
                   frozenset(product["excluded"]), product["refer_above"])


@dataclass(frozen=True, slots=True)
class Period:
    """The enrolment a claim is judged under: ``[start_ms, end_ms)``."""

    start_ms: int
    end_ms: int


@dataclass(frozen=True, slots=True)
class Usage:
    """What earlier approved claims used in the claim's coverage year."""

    deductible_used: int = 0
    paid: int = 0


@dataclass(frozen=True, slots=True)
class Facts:
    lines: tuple[tuple[str, int], ...]   # (code tag, amount)
    amount: int
    bill_amount: int
    service_ms: int
    now_ms: int
    enrolment: Period | None
    usage: Usage
    evidence: frozenset[str]             # fraud reasons found in the registries


@dataclass(frozen=True, slots=True)
class LineResult:
    tag: str
    amount: int
    eligible: bool
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "amount": self.amount, "eligible": self.eligible,
                "reason": self.reason}


@dataclass(frozen=True, slots=True)
class Decision:
    status: str
    reasons: tuple[str, ...]
    lines: tuple[LineResult, ...]
    eligible: int
    deductible_applied: int
    copay: int
    rules_payout: int     # what the rules give over the eligible lines, limits applied
    payout: int           # what is approved now: rules_payout if approved/partial, else 0


def coverage_year(service_ms: int, start_ms: int) -> int:
    """Index of the coverage year (365-day years from the enrolment start) of a service."""
    return max(0, (service_ms - start_ms) // YEAR_MS)


def _coverage(facts: Facts, waiting_ms: int) -> set[str]:
    found: set[str] = set()
    if facts.service_ms > facts.now_ms:
        found.add("service_in_future")
    period = facts.enrolment
    if period is None:
        found.add("not_enrolled")
    elif not period.start_ms <= facts.service_ms < period.end_ms:
        found.add("outside_coverage")
    elif facts.service_ms < period.start_ms + waiting_ms:
        found.add("waiting_period")
    return found


def judge_line(rules: Rules, tag: str, amount: int) -> LineResult:
    if tag in rules.excluded:
        return LineResult(tag, amount, False, "excluded")
    if tag not in rules.covered:
        return LineResult(tag, amount, False, "not_covered")
    return LineResult(tag, amount, True, None)


def adjudicate(rules: Rules, facts: Facts) -> Decision:
    """The decision on a claim; integers only, every cut named by a reason code."""
    found = set(facts.evidence) | _coverage(facts, rules.waiting_ms)
    if facts.amount > facts.bill_amount:
        found.add("over_invoice")
    lines = tuple(judge_line(rules, tag, amount) for tag, amount in facts.lines)
    found |= {line.reason for line in lines if line.reason is not None}
    eligible = sum(line.amount for line in lines if line.eligible)
    if eligible == 0:
        found.add("no_covered_lines")
    deductible_applied = min(eligible, max(0, rules.deductible - facts.usage.deductible_used))
    after = eligible - deductible_applied
    share = after * (BPS - rules.copay_bps) // BPS
    cuts: set[str] = {"deductible_applied"} if deductible_applied else set()
    if after - share:
        cuts.add("copay_applied")
    payout = share
    if payout > rules.per_claim_limit:
        payout = rules.per_claim_limit
        cuts.add("per_claim_limit")
    yearly_left = max(0, rules.yearly_limit - facts.usage.paid)
    if payout > yearly_left:
        payout = yearly_left
        cuts.add("yearly_limit")
    if found & DENY:
        return Decision(DENIED, ordered(found), lines, eligible, deductible_applied,
                        after - share, payout, 0)
    found |= cuts
    if rules.refer_above and payout > rules.refer_above:
        found.add("above_review_threshold")
        return Decision(REFERRED, ordered(found), lines, eligible, deductible_applied,
                        after - share, payout, 0)
    cut = any(not line.eligible for line in lines) or bool(
        {"per_claim_limit", "yearly_limit"} & cuts)
    return Decision(PARTIAL if cut else APPROVED, ordered(found), lines, eligible,
                    deductible_applied, after - share, payout, payout)
