"""Claims as FHIR R4 Claim, ClaimResponse and ExplanationOfBenefit (``fhir/claims.py``):
exact money, every status, codes with and without the product key, refusals."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from phrchain.fhir import validate
from phrchain.fhir.claims import (
    PHR_CODE_TAG,
    claim_resources,
    claim_response_to_fhir,
    money,
)
from phrchain.fhir.errors import FhirError
from phrchain.fhir.jsonio import dumps

SNOMED = "http://snomed.info/sct"
TAG_A, TAG_B = "a" * 64, "b" * 64


def stored(status: str = "partial", **over: Any) -> dict[str, Any]:
    """A claim as the chain stores it (``modules/claims`` README, State)."""
    return {"claim": "c" * 32, "patient": "did:key:z6MkPatient", "insurer": "did:key:z6MkIns",
            "product": "d" * 32, "version": 2, "bill": "e" * 32, "service_ms": 1_700_000_000_000,
            "records": [{"record": "f" * 32, "commitment": "0" * 64}],
            "lines": [{"tag": TAG_A, "amount": 12_345, "eligible": True, "reason": ""},
                      {"tag": TAG_B, "amount": 500, "eligible": False,
                       "reason": "not_covered"}],
            "amount": 12_845, "status": status, "reasons": ["not_covered"],
            "rules_payout": 9_000, "payout": 9_000, "paid_amount": 9_000, "payment": "paid",
            "filed_height": 3, "decided_height": 3, **over}


def resources(claim: dict[str, Any], currency: str = "USD", **kw: Any) -> dict[str, Any]:
    return claim_resources(claim, currency=currency, provider="did:key:z6MkHospital",
                           created_ms=1_700_000_001_000, decided_ms=1_700_000_002_000, **kw)


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (12_345, "USD", "123.45"), (5, "EUR", "0.05"), (350_000, "KRW", "350000"),
    (1_234, "BHD", "1.234"), (0, "JPY", "0")])
def test_money_is_exact_in_the_currencys_minor_units(amount: int, currency: str,
                                                     text: str) -> None:
    value = money(amount, currency)
    assert value["currency"] == currency
    assert dumps(value) == f'{{"currency":"{currency}","value":{text}}}'.encode()
    assert not isinstance(value["value"], float)


@pytest.mark.parametrize("bad", [-1, True, 1.5, "10"])
def test_money_refuses_what_is_not_a_non_negative_integer(bad: Any) -> None:
    with pytest.raises(FhirError):
        money(bad, "USD")


@pytest.mark.parametrize(("status", "outcome"), [
    ("approved", "complete"), ("partial", "partial"), ("denied", "complete"),
    ("referred", "queued")])
def test_every_status_maps_to_three_valid_resources(status: str, outcome: str) -> None:
    out = resources(stored(status))
    assert set(out) == {"Claim", "ClaimResponse", "ExplanationOfBenefit"}
    for kind, resource in out.items():
        validate(resource)
        assert resource["resourceType"] == kind and resource["id"] == "c" * 32
    assert out["ClaimResponse"]["outcome"] == out["ExplanationOfBenefit"]["outcome"] == outcome
    eob = out["ExplanationOfBenefit"]
    assert eob["total"][0]["amount"]["value"] == Decimal("128.45")
    assert eob["total"][1]["amount"]["value"] == Decimal("90.00")
    assert eob["item"][1]["adjudication"][1]["reason"]["coding"][0]["code"] == "not_covered"


def test_codes_appear_only_with_the_key_holders_codebook() -> None:
    blind = resources(stored())["Claim"]["item"][0]["productOrService"]["coding"][0]
    assert blind == {"system": PHR_CODE_TAG, "code": TAG_A}
    known = resources(stored(), codes={TAG_A: (SNOMED, "73761001", "Colonoscopy")})
    coding = known["Claim"]["item"][0]["productOrService"]["coding"][0]
    assert (coding["system"], coding["code"], coding["display"]) == \
        (SNOMED, "73761001", "Colonoscopy")


def test_payment_partly_made_before_the_insurer_ran_out_is_shown_as_partial() -> None:
    response = claim_response_to_fhir(stored(paid_amount=4_000, payment="unfunded"),
                                      currency="USD", decided_ms=1)
    assert response["payment"]["type"]["coding"][0]["code"] == "partial"
    assert response["payment"]["amount"]["value"] == Decimal("40.00")
    unpaid = claim_response_to_fhir(stored(paid_amount=0, payment="unfunded"),
                                    currency="USD", decided_ms=1)
    assert "payment" not in unpaid


def test_a_malformed_claim_is_refused_with_its_code() -> None:
    broken = stored()
    del broken["lines"]
    with pytest.raises(FhirError) as refused:
        resources(broken)
    assert (refused.value.codespace, refused.value.code) == ("fhir", 7)
    with pytest.raises(FhirError):
        resources(stored(status="withdrawn"))
