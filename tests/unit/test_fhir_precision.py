"""A FHIR decimal keeps its precision from the file to the sealed plaintext (FHIR R4
decimal: ``1.50`` is not ``1.5``); it used to pass through a float."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

from phrchain.cli.common import read_json_file
from phrchain.client.records import resource_bytes
from phrchain.fhir.bundle import split_bundle
from phrchain.fhir.synthetic import generate_bundle

OBSERVATION = (b'{"resourceType":"Observation","status":"final","code":{"text":"k"},'
               b'"valueQuantity":{"value":1.50,"unit":"mmol/L"},"component":[{"code":'
               b'{"text":"c"},"valueQuantity":{"value":1.0E+2}}]}')


def test_the_cli_reads_fhir_numbers_exactly_and_seals_them_as_written(tmp_path: Path) -> None:
    path = tmp_path / "obs.json"
    path.write_bytes(OBSERVATION)
    resource = read_json_file(str(path), "FHIR resource", exact_decimals=True)
    assert resource["valueQuantity"]["value"] == Decimal("1.50")
    sealed = resource_bytes(resource)
    assert b'"value":1.50' in sealed and b'"value":1.0E+2' in sealed
    # what other commands read stays a plain float
    assert read_json_file(str(path), "object")["valueQuantity"]["value"] == 1.5


def test_plaintext_of_plain_values_is_the_compact_sorted_json_it_always_was() -> None:
    bundle = generate_bundle(3)
    for entry in bundle["entry"]:
        resource = entry["resource"]
        assert resource_bytes(resource) == json.dumps(
            resource, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def test_a_bundle_with_exact_decimals_validates(tmp_path: Path) -> None:
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(generate_bundle(4)))
    bundle = read_json_file(str(path), "FHIR Bundle", exact_decimals=True)
    groups = split_bundle(bundle)
    assert groups and any(isinstance(v, Decimal) for v in _numbers(bundle))


def _numbers(value: object) -> list[object]:
    if isinstance(value, dict):
        return [n for v in value.values() for n in _numbers(v)]
    if isinstance(value, list):
        return [n for v in value for n in _numbers(v)]
    return [value] if isinstance(value, (int, float, Decimal)) else []
