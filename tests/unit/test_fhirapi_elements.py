"""``_elements`` / ``_summary`` tables and shaping: the summary and choice tables match
fhir.resources' R4B models (the reference: its ``summary_element_property`` flags), a
subset keeps the mandatory elements and is tagged ``SUBSETTED``, and bad input is
``fhirapi/17``; ``_include`` parsing refuses what is not served."""

from __future__ import annotations

import pytest
from fhir.resources.R4B import get_fhir_model_class

from phrchain.core.errors import CodedError
from phrchain.fhirapi import elements, include
from phrchain.fhirapi.scopes import parse_scopes
from phrchain.fhirapi.search import SERVED_TYPES


@pytest.mark.parametrize("kind", sorted(SERVED_TYPES))
def test_summary_table_matches_the_reference_models(kind: str) -> None:
    model = get_fhir_model_class(kind)
    flagged = {elements.element_of(f.alias or name) for name, f in model.model_fields.items()
               if (f.json_schema_extra or {}).get("summary_element_property")}  # type: ignore[union-attr]
    assert flagged == elements.SUMMARY[kind]
    keys = {f.alias or name for name, f in model.model_fields.items()}
    assert elements.MANDATORY[kind] <= {elements.element_of(k) for k in keys}


def test_subset_keeps_mandatory_and_tags() -> None:
    obs = {"resourceType": "Observation", "id": "a", "meta": {"versionId": "1", "tag": [
        {"system": "x", "code": "y"}]}, "status": "final", "_status": {"id": "s"},
        "code": {"text": "c"}, "statusReason": {}, "valueQuantity": {"value": 1},
        "effectivePeriod": {}, "text": {"div": "<div/>"}}
    shape, rest = elements.take([("_elements", "value"), ("patient", "p")])
    cut = shape.apply(obs)
    assert set(cut) == {"resourceType", "id", "meta", "status", "_status", "code",
                        "valueQuantity"}
    assert cut["meta"]["tag"][-1]["code"] == "SUBSETTED" and len(cut["meta"]["tag"]) == 2
    assert obs["meta"]["tag"] == [{"system": "x", "code": "y"}]      # not mutated
    assert rest == [("patient", "p")]
    assert shape.apply(obs, matched=False) is obs
    data, _ = elements.take([("_summary", "data")])
    assert "text" not in data.apply(obs) and "statusReason" in data.apply(obs)
    keep, rest = elements.take([("_summary", "count")])
    assert keep.whole and rest == [("_summary", "count")]


@pytest.mark.parametrize("params", [[("_elements", "")], [("_elements", "a.b")],
                                    [("_elements", "a"), ("_elements", "b")],
                                    [("_summary", "true"), ("_elements", "a")],
                                    [("_summary", "true"), ("_summary", "false")]])
def test_bad_shapes(params: list[tuple[str, str]]) -> None:
    with pytest.raises(CodedError) as raised:
        elements.take(params)
    assert (raised.value.codespace, raised.value.code) == ("fhirapi", 17)


def test_include_parsing() -> None:
    scopes = parse_scopes("system/*.rs")
    found, rest = include.take("Observation", [("_include", "Observation:patient"),
                                               ("code", "x")], scopes)
    assert found.patient and rest == [("code", "x")]
    rev, _ = include.take("Patient", [("_revinclude", "Condition:subject"),
                                      ("_revinclude", "Condition:patient")], scopes)
    assert rev.reverse == ("Condition",)
    for kind, value in (("Patient", "*"), ("Observation", "Observation:encounter"),
                        ("Condition", "Condition:patient:Group")):
        with pytest.raises(CodedError) as raised:
            include.take(kind, [("_include", value)], scopes)
        assert raised.value.code == 16
