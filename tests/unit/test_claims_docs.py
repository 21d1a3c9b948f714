"""The settlement and claims READMEs (the modules' specs) name every message, query,
error code and reason code the code has, and the worked example is what adjudicate() says."""

from __future__ import annotations

from pathlib import Path

import pytest

from phrchain.core.errors import REGISTRY
from phrchain.modules.claims import ClaimsModule
from phrchain.modules.claims.adjudicate import Facts, Period, Rules, Usage, adjudicate
from phrchain.modules.claims.reasons import REASONS
from phrchain.modules.settlement import SettlementModule

MODULES = Path(__file__).resolve().parents[2] / "src" / "phrchain" / "modules"


@pytest.mark.parametrize("module", [SettlementModule(), ClaimsModule()], ids=lambda m: m.name)
def test_readme_names_every_message_query_and_code(module: SettlementModule | ClaimsModule
                                                   ) -> None:
    readme = (MODULES / module.name / "README.md").read_text()
    for msg_type in module.handlers():
        assert f"`{msg_type}`" in readme, msg_type
    for query in module.queries():
        assert f"`{query} {{" in readme, query
    for (space, code), err in REGISTRY.items():
        if space == module.name:
            assert f"{code} {err.name}" in readme, err.name


def test_reason_table_matches_the_code() -> None:
    readme = (MODULES / "claims" / "README.md").read_text()
    for code, sentence in REASONS.items():
        assert f"| `{code}` |" in readme and f"| {sentence} |" in readme, code


def test_worked_example() -> None:
    a, b, x = "a" * 64, "b" * 64, "e" * 64
    rules = Rules(deductible=50_000, copay_bps=2_000, per_claim_limit=200_000,
                  yearly_limit=500_000, waiting_ms=0, covered=frozenset({a, b}),
                  excluded=frozenset({x}), refer_above=300_000)
    facts = Facts(lines=((a, 120_000), (b, 30_000), (x, 10_000)), amount=160_000,
                  bill_amount=160_000, service_ms=10, now_ms=20, enrolment=Period(0, 100),
                  usage=Usage(deductible_used=20_000, paid=0), evidence=frozenset())
    d = adjudicate(rules, facts)
    assert (d.status, d.eligible, d.deductible_applied, d.copay, d.payout, d.reasons) == \
        ("partial", 150_000, 30_000, 24_000, 96_000,
         ("excluded", "deductible_applied", "copay_applied"))
