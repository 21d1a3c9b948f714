"""Pure parts of the web UI: the loopback/Host check, the FHIR summaries, money, the
language catalogues and their coverage, the timeline, the trends, the patient banner."""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import phrchain.epcis.errors  # noqa: F401  (registers the pharmacy codes)
from phrchain.client.claims import Code
from phrchain.core.errors import REGISTRY
from phrchain.fhir import jsonio as fhir_json
from phrchain.fhir.validation import validate
from phrchain.modules.claims.reasons import REASONS
from phrchain.modules.consent.decide import REASONS as ACCESS_REASONS
from phrchain.modules.consent.messages import CONSENT_ACTIONS, PURPOSES
from phrchain.modules.identity.messages import ORG_TYPES, ROLES
from phrchain.modules.records.messages import CATEGORIES
from phrchain.modules.supply.messages import ALERT_OUTCOMES, HISTORY_PURPOSES
from phrchain.modules.supply.params import CONTROLLED_CLASSES
from phrchain.web.filing import invoice, invoice_lines
from phrchain.web.i18n import LANGUAGES, negotiate
from phrchain.web.money import format_amount
from phrchain.web.security import host_allowed, split_host
from phrchain.web.summary import clinical_summary, patient_banner, resource_date, summarize
from phrchain.web.timeline import encounter_key, timeline
from phrchain.web.trends import trends

STATIC = Path(__file__).resolve().parents[2] / "src" / "phrchain" / "web" / "static"


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


# -- languages -------------------------------------------------------------------------------
def catalogue(lang: str) -> dict[str, str]:
    return json.loads((STATIC / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))


def used_keys() -> set[str]:
    """Every catalogue key the page names literally: ``t("key")``, ``data-i18n="key"``
    and key strings passed around (``["claims.billed", …]``) in the page's sources."""
    namespaces = {k.split(".", 1)[0] for k in catalogue("en")}
    found: set[str] = set()
    for path in [*STATIC.glob("*.js"), STATIC / "index.html"]:
        text = path.read_text(encoding="utf-8")
        found.update(re.findall(r'data-i18n="([^"]+)"', text))
        found.update(re.findall(r'\bt\(\s*"([^"]+)"', text))
        found.update(k for k in re.findall(r'"([a-z_]+\.[a-z0-9_]+)"', text)
                     if k.split(".", 1)[0] in namespaces)
    return found


# What the chain (or the backend) may send that the page says in words: the page looks
# each up as "<kind>.<word>" (``term``) and would show the raw code without a key.
VOCABULARIES = {
    "purpose": set(PURPOSES), "category": set(CATEGORIES), "role": set(ROLES),
    "action": set(CONSENT_ACTIONS) | {"view", "break_glass"},
    "action_verb": set(CONSENT_ACTIONS), "org_type": set(ORG_TYPES),
    "reason": set(ACCESS_REASONS), "claim_reason": set(REASONS),
    "status": {"active", "inactive", "revoked", "pending", "approved", "denied", "erased",
               "permit", "deny", "open", "paid", "unfunded", "none", "partial", "referred",
               "withdrawn", "closed"},
    "gender": {"male", "female", "other", "unknown"},
    "count": {"headers", "records", "chunks", "ciphertext_bytes", "commitments",
              "wrapped_keys", "left_out", "consents", "audit_entries", "state_proofs"},
    "error": {"bad_request", "not_logged_in", "wrong_passphrase", "csrf", "bad_host",
              "not_found", "not_permitted", "unavailable", "not_verified", "internal_error"},
    "trend": {"blood_pressure", "heart_rate", "weight", "bmi", "glucose", "hba1c",
              "cholesterol"},
    "measure": {"systolic", "diastolic", "heart_rate", "weight", "bmi", "glucose", "hba1c",
                "cholesterol", "ldl", "hdl", "triglycerides"},
    "lang": set(LANGUAGES),
    "chart": {"allergies", "problems", "medications"},
    "grant": {"scope_records", "scope_categories", "scope_resources", "scope_all"},
    "pull": {"scope_all", "scope_records"},
    "grantee_kind": {"practitioner", "organization", "role"},
    "trial_label": {"reported", "not_reported", "added_declared", "added_silent",
                    "timeframe_changed", "switched_primary_secondary"},
    "trial_kind": {"primary", "secondary", "other"},
    # the supply pages (web/supply.py): refusals by name, alerts, classes, read purposes
    "supply_reason": {e.name for (space, _), e in REGISTRY.items()
                      if space in ("supply", "pharmacy")},
    "alert_kind": {"mme_high", "multiple_providers", "opioid_benzodiazepine",
                   "zolpidem_dose", "appetite_combined", "long_use:analgesic",
                   "long_use:anxiolytic", "long_use:appetite_suppressant"},
    "alert_outcome": set(ALERT_OUTCOMES), "controlled": set(CONTROLLED_CLASSES),
    "notify": {"regulator", "patient"}, "read_purpose": set(HISTORY_PURPOSES),
    # the FHIR resource types the demo's synthetic patients and the claims flow create
    "resource": {"Patient", "Encounter", "Observation", "Condition", "AllergyIntolerance",
                 "MedicationRequest", "Immunization", "Procedure", "DiagnosticReport",
                 "CarePlan"},
}
# A language's own name is written in that language in every catalogue.
SAME_IN_EVERY_LANGUAGE = {"lang.en", "lang.ko"}
HANGUL = re.compile(r"[\uac00-\ud7a3]")
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def test_the_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, ko = catalogue("en"), catalogue("ko")
    assert set(en) == set(ko), {"only in en": set(en) - set(ko),
                                "only in ko": set(ko) - set(en)}
    for key, text in en.items():
        assert text.strip() and ko[key].strip(), key
        assert set(PLACEHOLDER.findall(text)) == set(PLACEHOLDER.findall(ko[key])), key


def test_every_key_the_page_uses_is_in_both_catalogues() -> None:
    keys = used_keys() | {f"{kind}.{word}" for kind, words in VOCABULARIES.items()
                          for word in words}
    assert len(keys) > 300
    for lang in LANGUAGES:
        missing = keys - set(catalogue(lang))
        assert not missing, f"{lang}.json lacks {sorted(missing)}"


def test_nothing_in_the_korean_catalogue_is_left_in_english() -> None:
    en, ko = catalogue("en"), catalogue("ko")
    untranslated = []
    for key, text in ko.items():
        if key in SAME_IN_EVERY_LANGUAGE:
            continue
        words = PLACEHOLDER.sub("", text)
        if re.search(r"[A-Za-z]{2,}", words) and not HANGUL.search(words):
            untranslated.append(key)  # Latin words and no Korean: left in English
        elif words.strip() and text == en[key] and re.search(r"[A-Za-z]", words):
            untranslated.append(key)
    assert untranslated == []


def english_phrases(source: str) -> list[str]:
    """String literals of a script that read as English text: a capitalised word and
    another word, or words ending in punctuation (class lists and selectors do not)."""
    code = re.sub(r"^\s*//.*$", "", source, flags=re.M)
    out = []
    for double, backtick in re.findall(r'"((?:[^"\\\n]|\\.)*)"|`([^`]*)`', code):
        text = re.sub(r"\$\{[^}]*\}", "", double or backtick)
        if re.search(r"\b[A-Z][a-z]+ [A-Za-z]{2,}", text) or \
                re.search(r"[a-z]{2,} [a-z]{2,}.*[.…:!?]$", text):
            out.append(text)
    return out


def test_the_page_has_no_english_sentence_outside_the_catalogue() -> None:
    assert english_phrases('h("p", {}, "No records yet.")') == ["No records yet."]
    assert english_phrases('h("b", { class: "danger revoke" }, t("x"));'
                           ' q("#nav button")') == []
    for path in STATIC.glob("*.js"):
        assert english_phrases(path.read_text(encoding="utf-8")) == [], path.name


@pytest.mark.parametrize(("header", "lang"), [
    ("ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7", "ko"),
    ("en-US,en;q=0.9,ko;q=0.8", "en"),
    ("fr-FR,fr;q=0.9,ko;q=0.5", "ko"),  # the only supported language offered
    ("en;q=0.2, KO;q=0.9", "ko"),
    ("ko;q=0, en;q=0.1", "en"),
    ("ko;q=abc", "en"),  # a broken weight counts as 0
    ("*", "en"),
    ("", "en"),
    (None, "en"),
])
def test_the_first_language_follows_accept_language(header: str | None, lang: str) -> None:
    assert negotiate(header) == lang


# -- timeline ---------------------------------------------------------------------------------
def view(record: str, resource: dict[str, Any] | None, date: str | None = None
         ) -> dict[str, Any]:
    return {"record": record, "fhir": resource,
            "date": date if date is not None else (resource_date(resource) if resource
                                                   else None)}


def test_the_timeline_groups_by_encounter_newest_first() -> None:
    enc_old = {"resourceType": "Encounter", "id": "e1", "period": {"start": "2018-03-01"}}
    enc_new = {"resourceType": "Encounter", "id": "e2", "period": {"start": "2026-01-10"}}
    views = [
        view("r1", {"resourceType": "Observation", "encounter": {"reference": "urn:uuid:e1"},
                    "effectiveDateTime": "2018-03-01T09:00:00Z"}),
        view("r2", enc_new),
        view("r3", {"resourceType": "Condition", "onsetDateTime": "1986-05-02"}),
        view("r4", enc_old),
        view("r5", {"resourceType": "Observation", "encounter": {"reference": "Encounter/e2"},
                    "effectiveDateTime": "2026-01-10T10:00:00Z"}),
        view("r6", None),  # not opened: no date, last
        view("r7", {"resourceType": "Immunization", "occurrenceDateTime": "2017-11-20"}),
    ]
    groups = timeline(views)
    assert [g["records"] for g in groups] == [["r5", "r2"], ["r1", "r4"], ["r7"], ["r3"],
                                              ["r6"]]
    assert [g["encounter"] for g in groups] == ["e2", "e1", None, None, None]
    assert groups[0]["date"] == "2026-01-10T10:00:00Z" and groups[-1]["date"] is None


def test_encounter_keys() -> None:
    assert encounter_key({"encounter": {"reference": "Encounter/7"}}) == "7"
    assert encounter_key({"encounter": {"reference": "urn:uuid:ab-c"}}) == "ab-c"
    assert encounter_key({"resourceType": "Encounter", "id": "x"}) == "x"
    assert encounter_key({"encounter": {"display": "no reference"}}) is None
    assert encounter_key(None) is None


# -- trends -----------------------------------------------------------------------------------
def loinc_obs(code: str, value: float, unit: str, when: str, **extra: Any) -> dict[str, Any]:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
            "valueQuantity": {"value": value, "unit": unit}, "effectiveDateTime": when, **extra}


def test_trends_take_values_and_dates_from_the_observations() -> None:
    bp = {"resourceType": "Observation", "status": "final", "effectiveDateTime": "2025-02-01",
          "code": {"coding": [{"system": "http://loinc.org", "code": "85354-9"}]},
          "component": [
              {"code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
               "valueQuantity": {"value": 142, "unit": "mm[Hg]"}},
              {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]},
               "valueQuantity": {"value": 91, "unit": "mm[Hg]"}}]}
    views = [
        view("w2", loinc_obs("29463-7", 80.5, "kg", "2025-06-01")),
        view("a1", loinc_obs("4548-4", 7.1, "%", "2024-01-15")),
        view("w1", loinc_obs("29463-7", 82.0, "kg", "2024-06-01")),
        view("bp", bp),
        view("w3", loinc_obs("29463-7", 176.0, "[lb_av]", "2025-07-01")),  # another unit
        view("x", loinc_obs("29463-7", 81.0, "kg", "2025-01-01", status="entered-in-error")),
        view("y", loinc_obs("99999-9", 1.0, "kg", "2025-01-01")),  # not a trend measure
        view("z", {"resourceType": "Condition", "code": {"text": "Diabetes"}}),
        view("n", None),
    ]
    out = {g["group"]: g["series"] for g in trends(views)}
    assert list(out) == ["blood_pressure", "weight", "hba1c"]
    weight = out["weight"][0]
    assert weight["unit"] == "kg"
    assert [(p["date"], p["value"], p["record"]) for p in weight["points"]] == [
        ("2024-06-01", 82.0, "w1"), ("2025-06-01", 80.5, "w2")]
    assert [(s["measure"], [p["value"] for p in s["points"]]) for s in out["blood_pressure"]] \
        == [("systolic", [142]), ("diastolic", [91])]
    assert out["hba1c"][0]["points"] == [{"date": "2024-01-15", "value": 7.1, "unit": "%",
                                          "record": "a1"}]


# -- the clinician's banner and summary ------------------------------------------------------------
def test_patient_banner_comes_from_the_patient_resource() -> None:
    resource = {"resourceType": "Patient", "name": [{"text": "김민지"}], "gender": "female",
                "birthDate": "1986-04-12"}
    assert patient_banner(resource) == {"name": "김민지", "birth_date": "1986-04-12",
                                        "gender": "female"}
    assert patient_banner({"resourceType": "Patient", "name": [
        {"given": ["Ada"], "family": "Lovelace"}]})["name"] == "Ada Lovelace"
    assert patient_banner({"resourceType": "Patient"})["name"] is None


def test_clinical_summary_lists_allergies_problems_and_medications_newest_first() -> None:
    views = [
        {"record": "c1", "resource": "Condition", "summary": "Hypertension", "date": "2018"},
        {"record": "c2", "resource": "Condition", "summary": "Diabetes", "date": "2021-02"},
        {"record": "m1", "resource": "MedicationRequest", "summary": "Metformin",
         "date": None},
        {"record": "a1", "resource": "AllergyIntolerance", "summary": "Penicillin",
         "date": "2001"},
        {"record": "o1", "resource": "Observation", "summary": "Weight", "date": "2024"},
    ]
    out = clinical_summary(views)
    assert [i["record"] for i in out["problems"]] == ["c2", "c1"]
    assert [i["text"] for i in out["allergies"]] == ["Penicillin"]
    assert [i["record"] for i in out["medications"]] == ["m1"]


# -- the itemized bill the claim form reads (web/filing.py) --------------------------------
VISIT = Code("http://snomed.info/sct", "185349003", "Check up")
SCOPE = Code("http://snomed.info/sct", "73761001")


def test_an_itemized_bill_gives_the_claim_lines() -> None:
    bill = "ab" * 16
    resource = invoice(bill, [(VISIT, 120_000), (SCOPE, 30_000)], "KRW")
    validate(resource)  # a valid FHIR R4 Invoice, as records.add_resource requires
    assert invoice_lines(resource, "KRW") == (bill, [(VISIT, 120_000), (SCOPE, 30_000)])
    cents = invoice(bill, [(SCOPE, 1_250)], "USD")  # 12.50 USD: back to 1,250 cents
    assert fhir_json.dumps(cents).count(b'"value":12.50') == 1
    assert invoice_lines(fhir_json.loads(fhir_json.dumps(cents)), "USD") == \
        (bill, [(SCOPE, 1_250)])


@pytest.mark.parametrize("spoil", [
    lambda r: r.update(resourceType="Claim"),
    lambda r: r.update(identifier=[{"system": "urn:other", "value": "ab" * 16}]),
    lambda r: r.update(lineItem=[]),
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(value=1.5),  # no half won
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(value=0),
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(currency="USD"),
    lambda r: r["lineItem"][0]["priceComponent"][0].update(type="discount"),
    lambda r: r["lineItem"][0].pop("chargeItemCodeableConcept"),
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(value="120000"),
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(value=True),
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(value=10**16),
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(
        value=Decimal("1e999999999")),
    lambda r: r["lineItem"][0]["priceComponent"][0]["amount"].update(value=float("nan")),
])
def test_an_itemized_bill_the_form_cannot_use_gives_no_lines(spoil: Any) -> None:
    resource = invoice("ab" * 16, [(VISIT, 120_000)], "KRW")
    spoil(resource)
    assert invoice_lines(resource, "KRW") is None
