"""FHIR JSON bytes: decimal precision kept, deterministic output, bad JSON refused."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from phrchain.fhir import FhirError, validate
from phrchain.fhir.bundle import split_bundle
from phrchain.fhir.jsonio import dumps, loads
from phrchain.fhir.synthetic import generate_bundle


def test_decimal_precision_survives_a_round_trip() -> None:
    raw = (b'{"resourceType":"Observation","status":"final","code":{"text":"x"},'
           b'"valueQuantity":{"value":1.50,"unit":"mg"}}')
    resource = loads(raw)
    assert resource["valueQuantity"]["value"] == Decimal("1.50")
    validate(resource)  # the validator accepts Decimal numbers
    assert b'"value":1.50' in dumps(resource)
    assert loads(dumps(resource)) == resource


def test_dumps_is_deterministic_and_sorted() -> None:
    assert dumps({"b": 1, "a": [True, None, "é"], "c": 2.5}) == \
        '{"a":[true,null,"é"],"b":1,"c":2.5}'.encode()
    bundle = generate_bundle(3, 0)
    assert dumps(bundle) == dumps(json.loads(json.dumps(bundle)))
    assert json.loads(dumps(bundle)) == bundle


def test_imported_bundle_bytes_round_trip() -> None:
    bundle = loads(json.dumps(generate_bundle(4, 0)).encode())
    for records in split_bundle(bundle):
        for resource in (records.patient, *records.resources):
            assert loads(dumps(resource)) == resource


@pytest.mark.parametrize("raw", [b'{"a": NaN}', b'{"a": 1, "a": 2}', b"{", b"\xff"])
def test_bad_json_is_refused(raw: bytes) -> None:
    with pytest.raises(FhirError) as info:
        loads(raw)
    assert info.value.rule == "json"


@pytest.mark.parametrize("value", [float("nan"), Decimal("Infinity"), object(), {1: "x"}])
def test_unencodable_values(value: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        dumps({"v": value})
