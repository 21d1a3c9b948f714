"""adjudicate(): the payout table and every denial, without any chain state."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.modules.claims.adjudicate import (
    YEAR_MS,
    Facts,
    Period,
    Rules,
    Usage,
    adjudicate,
    coverage_year,
)
from phrchain.modules.claims.reasons import DENY, FRAUD, REASONS

A, B, C, X, Z = ("a" * 64, "b" * 64, "c" * 64, "e" * 64, "f" * 64)  # X excluded, Z unknown


def rules(**kw: Any) -> Rules:
    base: dict[str, Any] = dict(deductible=0, copay_bps=0, per_claim_limit=10**6,
                                yearly_limit=5 * 10**6, waiting_ms=0,
                                covered=frozenset({A, B, C}), excluded=frozenset({X}),
                                refer_above=0)
    return Rules(**{**base, **kw})


NO_USAGE = Usage()


def facts(lines: list[tuple[str, int]], usage: Usage = NO_USAGE, **kw: Any) -> Facts:
    amount = sum(a for _, a in lines)
    base: dict[str, Any] = dict(lines=tuple(lines), amount=amount, bill_amount=amount,
                                service_ms=10 * YEAR_MS, now_ms=10 * YEAR_MS + 5,
                                enrolment=Period(9 * YEAR_MS, 12 * YEAR_MS), usage=usage,
                                evidence=frozenset())
    return Facts(**{**base, **kw})


# (rules, lines, usage) -> (status, rules_payout, payout, deductible, copay, reasons)
PAYOUTS = [
    pytest.param({}, [(A, 1000)], Usage(), ("approved", 1000, 1000, 0, 0, ()),
                 id="plain"),
    pytest.param({"deductible": 500}, [(A, 300)], Usage(),
                 ("approved", 0, 0, 300, 0, ("deductible_applied",)),
                 id="deductible-eats-all-payout-0"),
    pytest.param({"deductible": 500}, [(A, 1000)], Usage(deductible_used=300),
                 ("approved", 800, 800, 200, 0, ("deductible_applied",)),
                 id="deductible-rest-on-second-claim"),
    pytest.param({"deductible": 500}, [(A, 1000)], Usage(deductible_used=500),
                 ("approved", 1000, 1000, 0, 0, ()), id="deductible-used-up"),
    pytest.param({"copay_bps": 2000}, [(A, 999)], Usage(),
                 ("approved", 799, 799, 0, 200, ("copay_applied",)), id="copay-floor"),
    pytest.param({"deductible": 100, "copay_bps": 2500}, [(A, 600), (B, 400)], Usage(),
                 ("approved", 675, 675, 100, 225, ("deductible_applied", "copay_applied")),
                 id="deductible-then-copay"),
    pytest.param({"copay_bps": 10_000}, [(A, 1000)], Usage(),
                 ("approved", 0, 0, 0, 1000, ("copay_applied",)), id="copay-all"),
    pytest.param({"per_claim_limit": 500}, [(A, 1000)], Usage(),
                 ("partial", 500, 500, 0, 0, ("per_claim_limit",)), id="per-claim-limit"),
    pytest.param({"yearly_limit": 1500, "per_claim_limit": 1500}, [(A, 1000)],
                 Usage(paid=1200), ("partial", 300, 300, 0, 0, ("yearly_limit",)),
                 id="yearly-limit-across-claims"),
    pytest.param({"yearly_limit": 1500, "per_claim_limit": 1500}, [(A, 1000)],
                 Usage(paid=1500), ("partial", 0, 0, 0, 0, ("yearly_limit",)),
                 id="yearly-limit-exhausted"),
    pytest.param({}, [(A, 1000), (X, 200), (Z, 300)], Usage(),
                 ("partial", 1000, 1000, 0, 0, ("excluded", "not_covered")),
                 id="partial-lines"),
    pytest.param({"refer_above": 800}, [(A, 1000)], Usage(),
                 ("referred", 1000, 0, 0, 0, ("above_review_threshold",)), id="refer"),
    pytest.param({"refer_above": 1000}, [(A, 1000)], Usage(),
                 ("approved", 1000, 1000, 0, 0, ()), id="at-threshold-not-referred"),
    pytest.param({"refer_above": 800, "per_claim_limit": 700}, [(A, 1000)], Usage(),
                 ("partial", 700, 700, 0, 0, ("per_claim_limit",)),
                 id="refer-judged-after-limits"),
    pytest.param({}, [(X, 100), (Z, 50)], Usage(),
                 ("denied", 0, 0, 0, 0, ("excluded", "not_covered", "no_covered_lines")),
                 id="no-covered-lines"),
]


@pytest.mark.parametrize(("rule_kw", "lines", "usage", "expected"), PAYOUTS)
def test_payout_table(rule_kw: dict[str, Any], lines: list[tuple[str, int]], usage: Usage,
                      expected: tuple[Any, ...]) -> None:
    d = adjudicate(rules(**rule_kw), facts(lines, usage))
    assert (d.status, d.rules_payout, d.payout, d.deductible_applied, d.copay, d.reasons) \
        == expected
    assert d.eligible == sum(line.amount for line in d.lines if line.eligible)
    # deductible + co-pay + insurer share = eligible; limits only cut the insurer share
    assert d.rules_payout <= d.eligible - d.deductible_applied - d.copay


def test_lines_carry_their_own_reason() -> None:
    d = adjudicate(rules(), facts([(A, 1), (X, 2), (Z, 3)]))
    assert [line.to_json() for line in d.lines] == [
        {"tag": A, "amount": 1, "eligible": True, "reason": None},
        {"tag": X, "amount": 2, "eligible": False, "reason": "excluded"},
        {"tag": Z, "amount": 3, "eligible": False, "reason": "not_covered"},
    ]


DENIALS = [
    pytest.param({"evidence": frozenset({"tampered_record", "duplicate_claim"})},
                 ("duplicate_claim", "tampered_record"), id="evidence"),
    pytest.param({"bill_amount": 999}, ("over_invoice",), id="over-invoice"),
    pytest.param({"enrolment": None}, ("not_enrolled",), id="not-enrolled"),
    pytest.param({"enrolment": Period(10 * YEAR_MS + 1, 11 * YEAR_MS)},
                 ("outside_coverage",), id="before-start"),
    pytest.param({"enrolment": Period(9 * YEAR_MS, 10 * YEAR_MS)}, ("outside_coverage",),
                 id="at-end-exclusive"),
    pytest.param({"now_ms": 10 * YEAR_MS - 1}, ("service_in_future",), id="future"),
]


@pytest.mark.parametrize(("patch", "reasons"), DENIALS)
def test_denials_keep_the_rules_payout_for_an_appeal(patch: dict[str, Any],
                                                     reasons: tuple[str, ...]) -> None:
    d = adjudicate(rules(copay_bps=1000), facts([(A, 1000)], **patch))
    assert (d.status, d.reasons, d.payout, d.rules_payout) == ("denied", reasons, 0, 900)


def test_waiting_period_is_measured_from_the_enrolment_start() -> None:
    start = 10 * YEAR_MS - 100
    enrolled = Period(start, 12 * YEAR_MS)
    assert adjudicate(rules(waiting_ms=101), facts([(A, 1)], enrolment=enrolled)).reasons \
        == ("waiting_period",)
    assert adjudicate(rules(waiting_ms=100), facts([(A, 1)], enrolment=enrolled)).status \
        == "approved"


def test_coverage_years_count_from_the_enrolment_start() -> None:
    start = 1_700_000_000_000
    assert [coverage_year(start + d, start) for d in
            (0, YEAR_MS - 1, YEAR_MS, 2 * YEAR_MS + 5, -1)] == [0, 0, 1, 2, 0]


def test_reason_table_is_complete() -> None:
    assert set(FRAUD) <= DENY <= set(REASONS)
    assert all(sentence and sentence[0].islower() for sentence in REASONS.values())
