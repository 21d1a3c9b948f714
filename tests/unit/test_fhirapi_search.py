"""The FHIR facade's search parameters, scopes and CapabilityStatement, without a
server: date prefixes over ranges of different precision, tokens, sorting, refusals."""

from __future__ import annotations

from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class

from phrchain.core.errors import CodedError
from phrchain.fhirapi.capability import capability_statement, smart_configuration
from phrchain.fhirapi.index import Held, present
from phrchain.fhirapi.scopes import parse_scopes
from phrchain.fhirapi.search import date_matcher, ordered, parse, value_range


def held(record: str, when: str | None, code: str = "1", updated: int = 0,
         category: str = "laboratory") -> Held:
    resource = {"resourceType": "Observation", "id": f"src-{record}", "status": "final",
                "code": {"coding": [{"system": "http://loinc.org", "code": code}]},
                "category": [{"coding": [{"system": "http://terminology.hl7.org/"
                                          "CodeSystem/observation-category",
                                          "code": category}]}],
                "subject": {"reference": "Patient/source-id"}}
    if when is not None:
        resource["effectiveDateTime"] = when
    return Held(record, "did:key:z6MkPatient", "Observation", resource, updated, False)


def matches(query_value: str, target: str) -> bool:
    found = value_range(target)
    assert found is not None
    return date_matcher("date", query_value)(found)


def test_date_prefixes_follow_the_ranges_of_both_values() -> None:
    assert matches("2024-05", "2024-05-01T08:30:00Z")
    assert not matches("2024-05", "2024-06-01")
    assert matches("ge2024-05-01", "2024-05-01T00:00:00Z")
    assert not matches("gt2024-05-01", "2024-05-01T08:30:00Z")  # within the day
    assert matches("gt2024-05-01", "2024-05-02")
    assert matches("lt2024", "2023-12-31T23:59:59Z") and not matches("lt2024", "2024-01-01")
    assert matches("le2024-01-01", "2024-01-01T12:00:00+09:00")
    assert matches("sa2024", "2025-01-01") and not matches("sa2024", "2024-12-31")
    assert matches("eb2024", "2023-06") and matches("ne2024", "2023-06")
    assert value_range("2024-02-30") is None and value_range("20240501") is None


def test_tokens_dates_ids_and_order() -> None:
    found = [held("a" * 32, "2024-01-02", code="x", updated=3),
             held("b" * 32, "2024-03-04", code="y", updated=1, category="vital-signs"),
             held("c" * 32, None, code="x", updated=2)]
    q = parse("Observation", [("patient", "Patient/z6MkPatient"), ("code", "x,y"),
                              ("date", "ge2024-01"), ("_sort", "-date")])
    assert q.patient == "z6MkPatient"
    kept = ordered([h for h in found if all(f(h) for f in q.filters)], q.sort)
    assert [h.record for h in kept] == ["b" * 32, "a" * 32]  # c has no date
    no_system = parse("Observation", [("code", "|y")])  # "|code": codes without a system
    assert not any(no_system.filters[0](h) for h in found)
    system_only = parse("Observation", [("code", "http://loinc.org|")])
    assert all(system_only.filters[0](h) for h in found)
    wrong_system = parse("Observation", [("code", "http://snomed.info/sct|x")])
    assert not any(wrong_system.filters[0](h) for h in found)
    vital = parse("Observation", [("category", "vital-signs")])
    assert [h.record for h in found if vital.filters[0](h)] == ["b" * 32]
    assert [h.record for h in ordered(found, [])] == ["b" * 32, "c" * 32, "a" * 32]


@pytest.mark.parametrize("params", [
    [("color", "red")], [("date", "xx2024")], [("date", "2024-13")], [("_count", "0")],
    [("_count", "101")], [("_sort", "name")], [("code", "")], [("code:text", "x")],
    [("patient", "a"), ("patient", "b")], [("_summary", "true")], [("_offset", "-1")],
])
def test_bad_search_parameters_are_refused(params: list[tuple[str, str]]) -> None:
    with pytest.raises(CodedError) as refused:
        parse("Observation", params)
    assert (refused.value.codespace, refused.value.code) == ("fhirapi", 2)


def test_malformed_patient_id_is_refused() -> None:
    with pytest.raises(CodedError) as refused:
        parse("Observation", [("patient", "not/valid$")])
    assert (refused.value.codespace, refused.value.code) == ("fhirapi", 3)


def test_scopes() -> None:
    s = parse_scopes("system/Observation.rs purpose/HPAYMT")
    assert s.context == "system" and s.purpose == "HPAYMT"
    assert s.may_read("Observation") and not s.may_read("Condition") and not s.write
    v1 = parse_scopes("launch/patient patient/*.read openid fhirUser")
    assert v1.context == "patient" and v1.all_types and v1.purpose == "PATRQT"
    assert parse_scopes("system/*.cud").may_write("Observation")
    for bad in ("user/*.rs", "patient/*.rs system/*.rs", "patient/Observation.c",
                "purpose/FUN system/*.rs", "system/Bogus.rs", "", "openid"):
        with pytest.raises(CodedError):
            parse_scopes(bad)


def test_presented_resource_uses_this_endpoints_ids() -> None:
    obs, patient_record = held("a" * 32, "2024-01-02"), Held(
        "d" * 32, "did:key:z6MkPatient", "Patient",
        {"resourceType": "Patient", "id": "source-id"}, 0, False)
    out = present(obs, [obs, patient_record])
    assert out["id"] == "a" * 32 and out["subject"]["reference"] == "Patient/z6MkPatient"
    assert out["meta"]["versionId"] == "1"
    assert present(patient_record, [])["id"] == "z6MkPatient"
    get_fhir_model_class("Observation").model_validate(out)


def test_capability_statement_and_smart_configuration_agree() -> None:
    base = "https://vault.example/fhir/"
    cs = capability_statement(base)
    get_fhir_model_class("CapabilityStatement").model_validate(cs)
    uris = {e["url"]: e["valueUri"]
            for e in cs["rest"][0]["security"]["extension"][0]["extension"]}
    conf = smart_configuration(base)
    assert uris == {"authorize": conf["authorization_endpoint"],
                    "token": conf["token_endpoint"]}


def test_cli_registers_a_smart_app_and_the_consent_screen(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]
                                                          ) -> None:
    from phrchain.cli.main import main
    from phrchain.fhirapi.smart import SmartApps

    home = str(tmp_path)
    assert main(["vault", "smart-app", "--home", home, "--client-id", "diary",
                 "--name", "Glucose diary", "--redirect-uri", "https://app.example/cb"]) == 0
    assert main(["vault", "smart-consent-ui", "--home", home,
                 "--url", "https://wallet.example/ui"]) == 0
    apps = SmartApps(tmp_path)
    found = apps.get("diary")
    assert found is not None and found.check_redirect_uri("https://app.example/cb")
    assert not found.check_redirect_uri("https://evil.example/cb")
    assert apps.consent_ui == "https://wallet.example/ui"
    assert main(["vault", "smart-app", "--home", home, "--client-id", "x", "--name", "x",
                 "--redirect-uri", "javascript:alert(1)"]) == 2
    assert apps.get("x") is None
    capsys.readouterr()


def test_tokens_are_short_lived_and_bearer_only(tmp_path: Path) -> None:
    import time

    from phrchain.fhirapi.smart import TOKEN_TTL_S, Authorizer, Grant, SmartApps

    auth = Authorizer(None, SmartApps(tmp_path))  # type: ignore[arg-type]  # no chain needed
    scopes = parse_scopes("system/*.rs")
    auth.tokens["live"] = Grant("org", "org", scopes, time.monotonic() + TOKEN_TTL_S)
    auth.tokens["old"] = Grant("org", "org", scopes, time.monotonic() - 1)
    assert auth.grant_of("Bearer live").accessor == "org"
    for header in ("Bearer old", "Bearer nope", "Basic live", None, ""):
        with pytest.raises(CodedError) as refused:
            auth.grant_of(header)
        assert (refused.value.codespace, refused.value.code) == ("smart", 1)
    assert TOKEN_TTL_S <= 300
