"""Pure parts of the web UI: the loopback/Host check and the FHIR summaries."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.web.money import format_amount
from phrchain.web.security import host_allowed, split_host
from phrchain.web.summary import resource_date, summarize


def scope(host: str, client: str = "127.0.0.1", port: int = 8645) -> dict[str, Any]:
    return {"type": "http", "client": (client, 50000), "server": ("127.0.0.1", port),
            "headers": [(b"host", host.encode())]}


@pytest.mark.parametrize(("host", "client", "allowed"), [
    ("127.0.0.1:8645", "127.0.0.1", True),
    ("localhost:8645", "127.0.0.1", True),
    ("[::1]:8645", "::1", True),
    ("LOCALHOST:8645", "127.0.0.1", True),
    ("127.0.0.1:8646", "127.0.0.1", False),  # another port: another origin
    ("127.0.0.1", "127.0.0.1", False),  # port 80 implied
    ("evil.example:8645", "127.0.0.1", False),  # DNS rebinding
    ("localhost.evil.example:8645", "127.0.0.1", False),
    ("127.0.0.1:8645", "10.0.0.7", False),  # not from this machine
    ("127.0.0.1:8645", "testclient", False),
    ("", "127.0.0.1", False),
    ("127.0.0.1:86x5", "127.0.0.1", False),
    ("[::1]x:8645", "::1", False),
])
def test_only_loopback_requests_to_our_own_port(host: str, client: str, allowed: bool) -> None:
    assert host_allowed(scope(host, client)) is allowed


def test_split_host() -> None:
    assert split_host("[::1]:80") == ("::1", 80)
    assert split_host("Example.ORG") == ("example.org", None)
    with pytest.raises(ValueError):
        split_host("a:b")


@pytest.mark.parametrize(("resource", "summary", "date"), [
    ({"resourceType": "Observation", "status": "final",
      "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0",
                           "display": "Glucose"}]},
      "valueQuantity": {"value": 5.4, "unit": "mmol/L"}, "effectiveDateTime": "2024-05-01"},
     "Glucose: 5.4 mmol/L (final)", "2024-05-01"),
    ({"resourceType": "Observation", "status": "final", "code": {"text": "Blood pressure"},
      "component": [{"code": {"text": "systolic"}, "valueQuantity": {"value": 120,
                                                                    "unit": "mmHg"}},
                    {"code": {"text": "diastolic"}, "valueQuantity": {"value": 80,
                                                                     "unit": "mmHg"}}],
      "effectivePeriod": {"start": "2024-01-02"}},
     "Blood pressure: systolic 120 mmHg; diastolic 80 mmHg (final)", "2024-01-02"),
    ({"resourceType": "Condition", "code": {"text": "Asthma"},
      "clinicalStatus": {"coding": [{"code": "active"}]}, "onsetDateTime": "2010"},
     "Asthma (active)", "2010"),
    ({"resourceType": "MedicationRequest", "status": "active", "intent": "order",
      "medicationCodeableConcept": {"text": "Salbutamol inhaler"}, "authoredOn": "2023-03-04"},
     "Salbutamol inhaler (active)", "2023-03-04"),
    ({"resourceType": "Patient", "name": [{"given": ["Ada"], "family": "Lovelace"}],
      "gender": "female", "birthDate": "1815-12-10"},
     "Ada Lovelace female born 1815-12-10", "1815-12-10"),
    ({"resourceType": "Basic"}, "Basic", None),
    ({"resourceType": "Observation", "code": "not a concept", "valueString": 7},
     "Observation: 7", None),
])
def test_summaries(resource: dict[str, Any], summary: str, date: str | None) -> None:
    assert summarize(resource) == summary
    assert resource_date(resource) == date


@pytest.mark.parametrize(("amount", "currency", "text"), [
    (350_000, "KRW", "350,000 KRW"),
    (0, "KRW", "0 KRW"),
    (123_456, "USD", "1,234.56 USD"),
    (5, "USD", "0.05 USD"),
    (-1_050, "EUR", "-10.50 EUR"),
    (1_234, "KWD", "1.234 KWD"),
])
def test_money_is_formatted_with_the_currency_exponent(amount: int, currency: str,
                                                       text: str) -> None:
    assert format_amount(amount, currency) == text


def test_money_refuses_anything_but_an_integer() -> None:
    for bad in (1.5, True, "100"):
        with pytest.raises(TypeError):
            format_amount(bad, "USD")  # type: ignore[arg-type]
