"""FHIR R4 (4.0.1) validation: vectors, the 4.0.1 patch, categories, vocabularies."""

from __future__ import annotations

import copy
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest

from phrchain.core.errors import REGISTRY
from phrchain.fhir import CATEGORIES, PURPOSES, RESOURCE_TYPES, FhirError, category_of, validate
from phrchain.fhir.validation import SCHEMA_DIR, SCHEMA_SHA256
from tests.conftest import load_vectors

ROOT = Path(__file__).resolve().parents[2]
VECTORS = load_vectors("fhir")


@pytest.mark.parametrize(("name", "case"), VECTORS, ids=[n for n, _ in VECTORS])
def test_vector(name: str, case: dict[str, Any]) -> None:
    expected = case["expected"]
    original = copy.deepcopy(case["resource"])
    if expected["valid"]:
        validate(case["resource"])
        return
    with pytest.raises(FhirError) as info:
        validate(case["resource"])
    err = info.value
    assert err.codespace == "fhir"
    assert err.error.name == expected["error"]
    assert err.rule == expected["rule"]
    assert err.path == expected["path"]
    assert expected["message_contains"] in str(err)
    assert str(err).startswith(f"[fhir/{err.code} {expected['error']}]")
    if "message_excludes" in expected:  # values (possible health data) never echoed
        assert expected["message_excludes"] not in str(err)
    assert case["resource"] == original  # validation never mutates its input


def test_vectors_cover_valid_and_invalid() -> None:
    kinds = {case["expected"]["valid"] for _, case in VECTORS}
    rules = {case["expected"].get("rule") for _, case in VECTORS}
    assert kinds == {True, False}
    assert {"pattern", "type", "enum", "required", "unknown_element", "resourceType"} <= rules


def test_error_codes_are_registered() -> None:
    names = {err.name for (space, _), err in REGISTRY.items() if space == "fhir"}
    assert {"invalid_resource", "unknown_resource_type", "invalid_bundle",
            "unresolved_reference", "invalid_consent", "invalid_audit_entry"} <= names


def test_resource_types_are_r4_not_r4b_or_r5() -> None:
    assert len(RESOURCE_TYPES) == 146  # R4 4.0.1 has 146 concrete resource types
    # R4-only types (renamed or removed in R4B/R5) are present ...
    assert {"MedicinalProduct", "EffectEvidenceSynthesis", "RiskEvidenceSynthesis",
            "DeviceUseStatement", "MolecularSequence", "Media"} <= RESOURCE_TYPES
    # ... and types introduced after R4 are not.
    assert not {"SubscriptionTopic", "Citation", "MedicinalProductDefinition",
                "ClinicalUseDefinition", "ArtifactAssessment"} & RESOURCE_TYPES


def test_vendored_schema_is_the_recorded_file() -> None:
    raw = (SCHEMA_DIR / "fhir.schema.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == SCHEMA_SHA256
    patch = json.loads((SCHEMA_DIR / "r401_patch.json").read_text())
    assert patch["base"]["sha256"] == SCHEMA_SHA256
    assert patch["fhirVersion"] == "4.0.1"


def _raw_validator(resource_type: str) -> Any:
    schema = json.loads((SCHEMA_DIR / "fhir.schema.json").read_text())
    return jsonschema_rs.Draft6Validator(
        {"definitions": schema["definitions"], "$ref": f"#/definitions/{resource_type}"},
        offline=True)


@pytest.mark.parametrize("resource", [
    # 4.0.1 "Add Meta as a Special Type for Open Type Element list".
    {"resourceType": "Parameters",
     "parameter": [{"name": "meta", "valueMeta": {"tag": [{"code": "x"}]}}]},
    # The 4.0.1 FHIRVersion code.
    {"resourceType": "CapabilityStatement", "status": "active", "date": "2021-01-01",
     "kind": "instance", "fhirVersion": "4.0.1", "format": ["json"]},
    # Extensions on a canonical (_profile) are legal JSON; HL7's generator forgot them.
    {"resourceType": "Patient", "meta": {"profile": ["http://example.org/p"],
                                         "_profile": [{"id": "a"}]}},
])
def test_patch_accepts_what_401_allows_and_the_raw_schema_refuses(resource: dict[str, Any]
                                                                  ) -> None:
    validate(resource)
    assert not _raw_validator(resource["resourceType"]).is_valid(resource)


def test_patch_requires_what_the_raw_schema_lets_through() -> None:
    no_status = {"resourceType": "Observation", "code": {"text": "x"}}
    assert _raw_validator("Observation").is_valid(no_status)
    with pytest.raises(FhirError, match="missing required element 'status'"):
        validate(no_status)
    # Choice elements with min 1: UsageContext.value[x].
    usage = {"resourceType": "Library", "status": "draft", "type": {"text": "x"},
             "useContext": [{"code": {"code": "focus"}}]}
    with pytest.raises(FhirError, match=r"one of 'valueCodeableConcept'"):
        validate(usage)
    usage["useContext"][0]["valueQuantity"] = {"value": 1}
    validate(usage)


@pytest.mark.parametrize("bad", [None, [], "Patient", 3])
def test_non_objects_are_refused(bad: Any) -> None:
    with pytest.raises(FhirError) as info:
        validate(bad)
    assert info.value.error.name == "invalid_resource"


def test_non_json_values_are_refused() -> None:
    with pytest.raises(FhirError, match="not representable as JSON"):
        validate({"resourceType": "Patient", "birthDate": object()})


def test_boolean_is_not_a_number() -> None:
    with pytest.raises(FhirError, match="must be of JSON type number"):
        validate({"resourceType": "Observation", "status": "final", "code": {"text": "x"},
                  "valueQuantity": {"value": True}})


def _obs(category: str | None, system: str = "http://terminology.hl7.org/CodeSystem/"
         "observation-category") -> dict[str, Any]:
    obs: dict[str, Any] = {"resourceType": "Observation", "status": "final",
                           "code": {"text": "x"}}
    if category:
        obs["category"] = [{"coding": [{"system": system, "code": category}]}]
    return obs


@pytest.mark.parametrize(("resource", "expected"), [
    (_obs("laboratory"), "laboratory"),
    (_obs("vital-signs"), "vital-signs"),
    (_obs("imaging"), "imaging"),
    (_obs("social-history"), "observation"),
    (_obs(None), "observation"),
    ({"resourceType": "DiagnosticReport", "category": [{"coding": [{"code": "RAD"}]}]},
     "imaging"),
    ({"resourceType": "DiagnosticReport", "category": [{"coding": [{"code": "LAB"}]}]},
     "diagnostic-report"),
    ({"resourceType": "MedicationRequest"}, "medication"),
    ({"resourceType": "MedicationStatement"}, "medication"),
    ({"resourceType": "ExplanationOfBenefit"}, "financial"),
    ({"resourceType": "Claim"}, "financial"),
    ({"resourceType": "Coverage"}, "financial"),
    ({"resourceType": "Invoice"}, "financial"),
    ({"resourceType": "MolecularSequence"}, "genomic"),
    ({"resourceType": "DocumentReference"}, "document"),
    ({"resourceType": "Composition"}, "document"),
    ({"resourceType": "Patient"}, "administrative"),
    ({"resourceType": "Organization"}, "administrative"),
    ({"resourceType": "Practitioner"}, "administrative"),
    ({"resourceType": "Condition"}, "condition"),
    ({"resourceType": "AllergyIntolerance"}, "allergy"),
    ({"resourceType": "Immunization"}, "immunization"),
    ({"resourceType": "Procedure"}, "procedure"),
    ({"resourceType": "Encounter"}, "encounter"),
    ({"resourceType": "CarePlan"}, "care-plan"),
    ({"resourceType": "Device"}, "device"),
    ({"resourceType": "ImagingStudy"}, "imaging"),
    ({"resourceType": "Basic"}, "other"),
    ({"resourceType": "NoSuchThing"}, "other"),
])
def test_category_of(resource: dict[str, Any], expected: str) -> None:
    assert category_of(resource) == expected


def test_every_resource_type_maps_to_a_category() -> None:
    assert {category_of({"resourceType": t}) for t in RESOURCE_TYPES} <= set(CATEGORIES)


def _doc_list(name: str) -> list[str]:
    text = (ROOT / "docs" / "records.md").read_text()
    block = re.search(rf"^- `{name}`[^:]*:(.*?)(?=^- |^#|\Z)", text, re.S | re.M)
    assert block, name
    return re.findall(r"`([A-Za-z-]+)`", block.group(1))


def test_vocabularies_match_docs() -> None:
    assert list(CATEGORIES) == _doc_list("CATEGORIES")
    assert list(PURPOSES) == _doc_list("PURPOSES")
    from phrchain.modules.consent.messages import PURPOSES as CHAIN_PURPOSES
    from phrchain.modules.records.messages import CATEGORIES as CHAIN_CATEGORIES

    assert set(CATEGORIES) == CHAIN_CATEGORIES and set(PURPOSES) == CHAIN_PURPOSES


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() if k != "resourceType"
                for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


def test_every_leaf_of_generated_resources_is_checked() -> None:
    """Replace each leaf, at any depth, by a value of the wrong JSON type: every
    single mutation must be refused, with the path of that leaf."""
    from phrchain.fhir.synthetic import generate_bundle

    bundle = generate_bundle(13, 0, resources=30)
    checked = 0
    for entry in bundle["entry"]:
        resource = entry["resource"]
        for path in _leaves(resource):
            mutated = copy.deepcopy(resource)
            node = mutated
            for part in path[:-1]:
                node = node[part]
            wrong: Any = {"unexpected": 1} if isinstance(node[path[-1]], str) else "text"
            node[path[-1]] = wrong
            with pytest.raises(FhirError) as info:
                validate(mutated)
            where = resource["resourceType"] + "".join(
                f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
            assert info.value.path == where, (where, str(info.value))
            checked += 1
    assert checked > 400


@pytest.mark.parametrize(("frequency", "fragment"), [
    (1.5, "must be of JSON type integer"),
    (0, "out of range (FHIR minimum 1)"),
    (2**31, "out of range (FHIR maximum 2147483647)"),
    (True, "must be of JSON type integer"),
])
def test_integer_types_are_integers_in_range(frequency: Any, fragment: str) -> None:
    request = {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
               "subject": {"reference": "Patient/x"},
               "medicationCodeableConcept": {"text": "x"},
               "dosageInstruction": [{"timing": {"repeat": {"frequency": 1}}}]}
    validate(request)
    request["dosageInstruction"][0]["timing"]["repeat"]["frequency"] = frequency
    assert _raw_validator("MedicationRequest").is_valid(request) is (frequency != True)  # noqa: E712
    with pytest.raises(FhirError) as info:
        validate(request)
    assert fragment in str(info.value)
    assert info.value.path == "MedicationRequest.dosageInstruction[0].timing.repeat.frequency"
