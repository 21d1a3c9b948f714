"""On-chain claims as FHIR R4 ``Claim``, ``ClaimResponse`` and ``ExplanationOfBenefit``.

The chain holds a claim's money, record pointers and *code tags* (codes blinded with the
insurer's product key, ``client/claims.py``), never a procedure or diagnosis code. Whoever
holds the key (the insurer, the patient who filed) passes ``codes`` — tag → (system,
code, display) — and gets the real codes in ``productOrService``; without it an item
carries the tag under ``urn:phrchain:code-tag``. Money on chain is an integer of minor
units; FHIR ``Money.value`` is a decimal, written exactly (``Decimal``, no float).
Every output is validated against the R4 schema before it is returned.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Final

from phrchain.fhir.errors import INVALID_CLAIM, FhirError
from phrchain.fhir.mapping import PHR_RECORD, URI, _coding, _did_ref, _instant, _validate_output

CLAIM_TYPE: Final = "http://terminology.hl7.org/CodeSystem/claim-type"
PRIORITY: Final = "http://terminology.hl7.org/CodeSystem/processpriority"
INFO_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/claiminformationcategory"
ADJUDICATION: Final = "http://terminology.hl7.org/CodeSystem/adjudication"
PAYMENT_TYPE: Final = "http://terminology.hl7.org/CodeSystem/ex-paymenttype"
PHR_CLAIM: Final = "urn:phrchain:claim"
PHR_CODE_TAG: Final = "urn:phrchain:code-tag"
PHR_REASON: Final = "urn:phrchain:claim-reason"
PHR_PRODUCT: Final = "urn:phrchain:product"
# ISO 4217 minor-unit exponents that are not 2 (the default); the web UI formats with them.
_EXPONENTS: Final = {"KRW": 0, "JPY": 0, "VND": 0, "CLP": 0, "ISK": 0, "UGX": 0,
                     "BHD": 3, "KWD": 3, "OMR": 3, "JOD": 3, "TND": 3}
# status on chain -> (ClaimResponse.outcome, disposition)
_OUTCOMES: Final = {"approved": ("complete", "approved"),
                    "partial": ("partial", "partially approved"),
                    "denied": ("complete", "denied"),
                    "referred": ("queued", "referred to a human reviewer")}

Codes = Mapping[str, tuple[str, str, str]]


def minor_unit_exponent(currency: str) -> int:
    """Decimal places of ``currency``'s minor unit (ISO 4217): KRW 0, USD 2, BHD 3."""
    return _EXPONENTS.get(currency, 2)


def money(amount: int, currency: str) -> dict[str, Any]:
    """Integer minor units as FHIR Money (``12345`` USD → ``123.45``)."""
    if isinstance(amount, bool) or not isinstance(amount, int) or amount < 0:
        raise FhirError(INVALID_CLAIM, "an amount must be a non-negative integer",
                        rule="money")
    exponent = minor_unit_exponent(currency)
    value: int | Decimal = amount if exponent == 0 else Decimal(amount).scaleb(-exponent)
    return {"value": value, "currency": currency}


def _product_or_service(tag: str, codes: Codes | None) -> dict[str, Any]:
    if codes and tag in codes:
        system, code, display = codes[tag]
        return {"coding": [_coding(system, code, display or None)]}
    return {"coding": [_coding(PHR_CODE_TAG, tag)]}


def _common(claim: Mapping[str, Any], created_ms: int) -> dict[str, Any]:
    return {
        "identifier": [{"system": PHR_CLAIM, "value": claim["claim"]}],
        "status": "active",
        "type": {"coding": [_coding(CLAIM_TYPE, "institutional", "Institutional")]},
        "use": "claim",
        "patient": _did_ref(claim["patient"], "Patient"),
        "created": _instant(created_ms),
        "insurer": _did_ref(claim["insurer"], "Organization"),
    }


def _insurance(claim: Mapping[str, Any]) -> list[dict[str, Any]]:
    coverage = {"identifier": {"system": PHR_PRODUCT,
                               "value": f"{claim['product']}/v{claim['version']}"},
                "type": "Coverage"}
    return [{"sequence": 1, "focal": True, "coverage": coverage}]


def _checked(make: Any, *args: Any) -> dict[str, Any]:
    try:
        resource: dict[str, Any] = make(*args)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FhirError(INVALID_CLAIM, f"malformed claim ({type(exc).__name__})",
                        rule="shape") from None
    _validate_output(resource, INVALID_CLAIM)
    return resource


def claim_to_fhir(claim: Mapping[str, Any], *, currency: str, provider: str,
                  created_ms: int, codes: Codes | None = None) -> dict[str, Any]:
    """The ``Claim`` the patient filed: items (code, amount) and the chosen records as
    supporting information (record id and its salted commitment)."""
    def make() -> dict[str, Any]:
        return {
            "resourceType": "Claim", "id": claim["claim"], **_common(claim, created_ms),
            "priority": {"coding": [_coding(PRIORITY, "normal")]},
            "provider": _did_ref(provider, "Organization"),
            "supportingInfo": [
                {"sequence": i, "category": {"coding": [_coding(INFO_CATEGORY, "info")]},
                 "code": {"coding": [_coding(PHR_RECORD, "commitment")],
                          "text": r["commitment"]},
                 "valueReference": {"identifier": {"system": PHR_RECORD,
                                                   "value": r["record"]}}}
                for i, r in enumerate(claim["records"], start=1)],
            "insurance": _insurance(claim),
            "item": [{"sequence": i, "productOrService": _product_or_service(line["tag"],
                                                                             codes),
                      "net": money(line["amount"], currency)}
                     for i, line in enumerate(claim["lines"], start=1)],
            "total": money(claim["amount"], currency),
        }
    return _checked(make)


def _adjudication(line: Mapping[str, Any], currency: str) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = [
        {"category": {"coding": [_coding(ADJUDICATION, "submitted")]},
         "amount": money(line["amount"], currency)}]
    eligible = {"category": {"coding": [_coding(ADJUDICATION, "eligible")]},
                "amount": money(line["amount"] if line.get("eligible") else 0, currency)}
    if line.get("reason"):
        eligible["reason"] = {"coding": [_coding(PHR_REASON, line["reason"])]}
    out.append(eligible)
    return out


def _decision(claim: Mapping[str, Any], currency: str,
              reasons: Mapping[str, str]) -> dict[str, Any]:
    outcome, disposition = _OUTCOMES[claim["status"]]
    body: dict[str, Any] = {
        "outcome": outcome,
        "disposition": disposition,
        "item": [{"itemSequence": i, "adjudication": _adjudication(line, currency)}
                 for i, line in enumerate(claim["lines"], start=1)],
        "total": [{"category": {"coding": [_coding(ADJUDICATION, "submitted")]},
                   "amount": money(claim["amount"], currency)},
                  {"category": {"coding": [_coding(ADJUDICATION, "benefit")]},
                   "amount": money(claim["payout"], currency)}],
    }
    if claim["paid_amount"] > 0:  # also a part paid before the insurer ran out of funds
        kind = "complete" if claim.get("payment") == "paid" else "partial"
        body["payment"] = {"type": {"coding": [_coding(PAYMENT_TYPE, kind)]},
                           "amount": money(claim["paid_amount"], currency)}
    if claim["reasons"]:
        body["processNote"] = [{"number": i, "type": "display",
                                "text": f"{code}: {reasons.get(code, code)}"}
                               for i, code in enumerate(claim["reasons"], start=1)]
    return body


def claim_response_to_fhir(claim: Mapping[str, Any], *, currency: str, decided_ms: int,
                           reasons: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The contract's decision as a ``ClaimResponse`` (reason codes in processNote and
    per item; ``queued`` while a human reviewer has it)."""
    def make() -> dict[str, Any]:
        return {"resourceType": "ClaimResponse", "id": claim["claim"],
                **_common(claim, decided_ms),
                "request": {"identifier": {"system": PHR_CLAIM, "value": claim["claim"]},
                            "type": "Claim"},
                **_decision(claim, currency, reasons or {})}
    return _checked(make)


def eob_to_fhir(claim: Mapping[str, Any], *, currency: str, provider: str, created_ms: int,
                decided_ms: int, codes: Codes | None = None,
                reasons: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The patient's ``ExplanationOfBenefit``: what was claimed, what the rules gave,
    why, and what was paid."""
    def make() -> dict[str, Any]:
        decision = _decision(claim, currency, reasons or {})
        items = [{"sequence": i, "productOrService": _product_or_service(line["tag"], codes),
                  "net": money(line["amount"], currency),
                  "adjudication": _adjudication(line, currency)}
                 for i, line in enumerate(claim["lines"], start=1)]
        eob = {"resourceType": "ExplanationOfBenefit", "id": claim["claim"],
               **_common(claim, decided_ms),
               "provider": _did_ref(provider, "Organization"),
               "claim": {"identifier": {"system": PHR_CLAIM, "value": claim["claim"]},
                         "type": "Claim"},
               "outcome": decision["outcome"], "disposition": decision["disposition"],
               "insurance": [{"focal": True, "coverage": _insurance(claim)[0]["coverage"]}],
               "item": items, "total": decision["total"]}
        eob["billablePeriod"] = {"start": _instant(claim["service_ms"])}
        for key in ("payment", "processNote"):
            if key in decision:
                eob[key] = decision[key]
        return eob
    return _checked(make)


def claim_resources(claim: Mapping[str, Any], *, currency: str, provider: str,
                    created_ms: int, decided_ms: int, codes: Codes | None = None,
                    reasons: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """All three views of one claim, by resource type."""
    return {
        "Claim": claim_to_fhir(claim, currency=currency, provider=provider,
                               created_ms=created_ms, codes=codes),
        "ClaimResponse": claim_response_to_fhir(claim, currency=currency,
                                                decided_ms=decided_ms, reasons=reasons),
        "ExplanationOfBenefit": eob_to_fhir(claim, currency=currency, provider=provider,
                                            created_ms=created_ms, decided_ms=decided_ms,
                                            codes=codes, reasons=reasons),
    }


__all__ = [
    "PHR_CODE_TAG",
    "URI",
    "claim_resources",
    "claim_response_to_fhir",
    "claim_to_fhir",
    "eob_to_fhir",
    "minor_unit_exponent",
    "money",
]
