"""What FHIR handling can leak to the chain or to logs: nothing that identifies a patient.

The end-to-end scan of the block and state stores after an import lives with the
import pipeline; this checks the parts this package produces: the on-chain descriptor
fields derived from a resource (type, category) and every error message (which may be
logged or end up in a transaction result).
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from phrchain.fhir import FhirError, category_of, identifying_strings, split_bundle, validate
from phrchain.fhir.synthetic import generate_bundle


def _leaves(node: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    if isinstance(node, dict):
        return [p for k, v in node.items() if k != "resourceType"
                for p in _leaves(v, (*path, k))]
    if isinstance(node, list):
        return [p for i, v in enumerate(node) for p in _leaves(v, (*path, i))]
    return [path]


def _set(resource: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    mutated = copy.deepcopy(resource)
    node: Any = mutated
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return mutated


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_validation_errors_never_quote_patient_data(seed: int) -> None:
    bundle = generate_bundle(seed, 0)
    secrets = identifying_strings(bundle)
    assert len(secrets) >= 8
    patient = bundle["entry"][0]["resource"]
    messages = []
    for path in _leaves(patient):
        value: Any = patient
        for part in path:
            value = value[part]
        for wrong in ({"x": 1}, [value], f"{value}\u0000 \t", 7):
            mutated = _set(patient, path, wrong)
            try:
                validate(mutated)
            except FhirError as exc:
                messages.append(str(exc))
    # Data put where an element *name* belongs is not echoed either.
    for secret in secrets:
        try:
            validate({**patient, secret: 1})
        except FhirError as exc:
            messages.append(str(exc))
    assert len(messages) > 40
    leaked = [(m, s) for m in messages for s in secrets if s in m]
    assert leaked == []


def test_bundle_errors_never_quote_patient_data() -> None:
    bundle = generate_bundle(5, 0, resources=12)
    secrets = identifying_strings(bundle)
    family = bundle["entry"][0]["resource"]["name"][0]["family"]
    broken = copy.deepcopy(bundle)
    broken["entry"][4]["resource"]["subject"] = {"reference": f"urn:uuid:{family}"}
    with pytest.raises(FhirError) as info:
        split_bundle(broken)
    assert not [s for s in secrets if s in str(info.value)]


def test_on_chain_fields_derived_from_resources_carry_no_patient_data() -> None:
    bundle = generate_bundle(6, 0)
    secrets = identifying_strings(bundle)
    for records in split_bundle(bundle):
        for resource in (records.patient, *records.resources):
            derived = f"{resource['resourceType']} {category_of(resource)}"
            assert not [s for s in secrets if s in derived]
