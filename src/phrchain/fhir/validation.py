"""FHIR R4 (4.0.1) validation against HL7's JSON schema with the 4.0.1 patch.

The schema (``schema/fhir.schema.json``) and its patch (``schema/r401_patch.json``) are
loaded once; a validator is compiled once per resource type (``$ref`` to
``#/definitions/<Type>``) with the Rust ``jsonschema-rs`` engine, offline (no remote
``$ref`` is ever fetched). See README.md for why this and not a model library.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path
from typing import Any, Final

import jsonschema_rs

from phrchain.fhir.errors import INVALID_RESOURCE, UNKNOWN_RESOURCE_TYPE, FhirError
from phrchain.fhir.vocabulary import CATEGORIES

SCHEMA_DIR: Final = Path(__file__).resolve().parent / "schema"
# sha256 of the vendored HL7 schema file, as shipped in the npm package (README.md).
SCHEMA_SHA256: Final = "15b9548af6412c44faaa411456e0652542de286fd1c58ef882b09bdc8947909d"
FHIR_VERSION: Final = "4.0.1"
_MAX_NAME = 40  # longest element name echoed in a message
_ELEMENT_NAME: Final = re.compile(r"^_?[a-z][A-Za-z0-9]{0,39}$")


@cache
def _schema() -> tuple[dict[str, Any], frozenset[str]]:
    """(definitions with the 4.0.1 patch applied, resource type names)."""
    raw = (SCHEMA_DIR / "fhir.schema.json").read_bytes()
    if hashlib.sha256(raw).hexdigest() != SCHEMA_SHA256:
        raise RuntimeError("vendored fhir.schema.json does not match its recorded sha256")
    schema = json.loads(raw)
    patch = json.loads((SCHEMA_DIR / "r401_patch.json").read_text())
    if patch["base"]["sha256"] != SCHEMA_SHA256 or patch["fhirVersion"] != FHIR_VERSION:
        raise RuntimeError("r401_patch.json was derived from another schema")
    defs: dict[str, Any] = schema["definitions"]
    for name, props in patch["add_properties"].items():
        defs[name]["properties"].update(props)
    for name, enums in patch["add_enum_codes"].items():
        for prop, codes in enums.items():
            node = defs[name]["properties"][prop]
            node.get("items", node)["enum"].extend(codes)
    for name, groups in patch["required_any"].items():
        for group in groups:
            if len(group) == 1:
                defs[name].setdefault("required", []).append(group[0])
            else:
                defs[name].setdefault("allOf", []).append(
                    {"anyOf": [{"required": [prop]} for prop in group]})
    _tighten_integers(defs)
    for node in defs.values():
        if "properties" in node:  # the generator omits it: an array would pass as a Reference
            node.setdefault("type", "object")
        node.pop("description", None)  # smaller compiled schemas; descriptions never validate
        for prop in node.get("properties", {}).values():
            prop.pop("description", None)
    return defs, frozenset(schema["discriminator"]["mapping"])


# FHIR R4 §2.24.0.1 primitive types: integer is 32-bit signed, positiveInt 1..2^31-1,
# unsignedInt 0..2^31-1. HL7's schema types all three as "number" with a pattern that
# JSON Schema applies to strings only, so 1.5 or -3 would pass as a positiveInt.
_INT_MAX: Final = 2**31 - 1
_INTEGER_RANGES: Final = {"integer": (-(2**31), _INT_MAX), "positiveInt": (1, _INT_MAX),
                          "unsignedInt": (0, _INT_MAX)}


def _tighten_integers(defs: dict[str, Any]) -> None:
    by_pattern = {defs[name]["pattern"]: bounds for name, bounds in _INTEGER_RANGES.items()}

    def tighten(node: dict[str, Any]) -> None:
        bounds = by_pattern.get(node.get("pattern", ""))
        if bounds is not None and node.get("type") == "number":
            node.update(type="integer", minimum=bounds[0], maximum=bounds[1])

    for definition in defs.values():
        tighten(definition)
        for prop in definition.get("properties", {}).values():
            tighten(prop.get("items", prop))


@cache
def _pattern_types() -> dict[str, str]:
    """Primitive type name by its regex (choice elements inline the primitive's pattern)."""
    found: dict[str, str] = {}
    for name, node in sorted(_definitions().items()):
        if name[:1].islower() and "pattern" in node:
            found.setdefault(node["pattern"], name)
    return found


def _definitions() -> dict[str, Any]:
    return _schema()[0]


RESOURCE_TYPES: Final[frozenset[str]] = _schema()[1]

_validators: dict[str, Any] = {}
_lock = threading.Lock()


def _validator(resource_type: str) -> Any:
    found = _validators.get(resource_type)
    if found is None:
        with _lock:
            found = _validators.get(resource_type)
            if found is None:
                schema = {"$schema": "http://json-schema.org/draft-06/schema#",
                          "definitions": _definitions(),
                          "$ref": f"#/definitions/{resource_type}"}
                found = jsonschema_rs.Draft6Validator(schema, offline=True)
                _validators[resource_type] = found
    return found


def validate(resource: Mapping[str, Any]) -> None:
    """Raise :class:`FhirError` unless ``resource`` is a valid FHIR R4 resource.

    The message is ``<path>: <rule>`` (e.g. ``Observation.effectiveDateTime: not a
    valid FHIR dateTime``) and never quotes a value from the resource.
    """
    if not isinstance(resource, Mapping):
        raise FhirError(INVALID_RESOURCE, "a resource must be a JSON object", rule="type")
    resource_type = resource.get("resourceType")
    if not isinstance(resource_type, str) or resource_type not in RESOURCE_TYPES:
        raise FhirError(UNKNOWN_RESOURCE_TYPE, "resourceType is missing or not an R4 type",
                        path="resourceType", rule="resourceType")
    validator = _validator(resource_type)
    try:
        if validator.is_valid(resource):
            return
        error = next(iter(validator.iter_errors(resource)))
    except (ValueError, TypeError, OverflowError) as exc:  # not JSON-shaped data
        raise FhirError(INVALID_RESOURCE, f"{resource_type}: not representable as JSON",
                        path=resource_type, rule="json") from exc
    if isinstance(error.kind, jsonschema_rs.ValidationErrorKind.OneOfNotValid):
        _explain_contained(resource, list(error.instance_path))
    path, rule, reason = _describe(resource_type, error)
    raise FhirError(INVALID_RESOURCE, f"{path}: {reason}", path=path, rule=rule)


def _explain_contained(resource: Mapping[str, Any], instance_path: list[str | int]) -> None:
    """A contained resource failed the schema's oneOf: validate it alone for a precise
    message (``Observation.contained[0].birthDate: ...``)."""
    nested: Any = resource
    for part in instance_path:
        nested = nested[part]
    if not isinstance(nested, Mapping) or nested.get("resourceType") not in RESOURCE_TYPES:
        return
    try:
        validate(nested)
    except FhirError as inner:
        outer = _json_path(str(resource["resourceType"]), instance_path)
        path = outer + inner.path[len(str(nested["resourceType"])):]
        reason = inner.detail[len(inner.path) + 2:]
        raise FhirError(INVALID_RESOURCE, f"{path}: {reason}", path=path,
                        rule=inner.rule) from None


def _json_path(root: str, parts: Sequence[str | int]) -> str:
    out = root
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else f".{_short(part)}"
    return out


def _short(name: str) -> str:
    return name if len(name) <= _MAX_NAME else name[:_MAX_NAME] + "…"


def _describe(resource_type: str, error: Any) -> tuple[str, str, str]:
    """(path, rule, reason) for one jsonschema-rs error, without instance values."""
    kind = error.kind
    rule = type(kind).__name__
    schema_path = list(error.schema_path)
    instance_path = list(error.instance_path)
    path = _json_path(resource_type, instance_path)
    # The innermost definition the error happened in (jsonschema-rs reports the
    # keyword location after following $ref), e.g. "dateTime" for a pattern failure.
    in_definition = next((str(schema_path[i + 1]) for i in range(len(schema_path) - 2, -1, -1)
                          if schema_path[i] == "definitions"), resource_type)
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Pattern):
        primitive = (in_definition if in_definition[:1].islower()
                     else _pattern_types().get(str(kind.pattern), "primitive value"))
        return path, "pattern", f"not a valid FHIR {primitive}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return path, "type", f"must be of JSON type {'/'.join(map(str, kind.types))}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Enum):
        options = list(kind.options)
        allowed = ", ".join(map(str, options)) if len(options) <= 12 else f"{len(options)} codes"
        return path, "enum", f"code not in the required value set ({allowed})"
    if isinstance(kind, (jsonschema_rs.ValidationErrorKind.Minimum,
                         jsonschema_rs.ValidationErrorKind.Maximum)):
        bound = "minimum" if rule == "Minimum" else "maximum"
        return path, "range", f"out of range (FHIR {bound} {kind.as_dict()['limit']})"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Constant):
        return path, "const", f"must be {_short(str(kind.expected_value))}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        return path, "required", f"missing required element '{_short(str(kind.property))}'"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        # Echo names only when they look like FHIR element names: a key could carry data.
        unexpected = [str(n) for n in kind.unexpected]
        shown = [f"'{n}'" for n in unexpected if _ELEMENT_NAME.match(n)][:5]
        hidden = len(unexpected) - len(shown)
        names = ", ".join(shown + ([f"{hidden} other"] if hidden else []))
        return path, "unknown_element", f"unknown element(s) {names}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AnyOf) and "allOf" in schema_path:
        group = _required_group(in_definition, schema_path)
        return path, "required", f"missing required element {group}"
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.OneOfNotValid):
        return path, "resource", "not a valid FHIR R4 resource (check its resourceType)"
    return path, rule, f"violates schema rule '{rule}'"


def _required_group(definition: str, schema_path: list[Any]) -> str:
    index = schema_path[schema_path.index("allOf") + 1]
    group = [alt["required"][0] for alt in _definitions()[definition]["allOf"][index]["anyOf"]]
    plain = [name for name in group if not name.startswith("_")]
    if len(plain) == 1:
        return f"'{plain[0]}'"
    return "(one of " + ", ".join(f"'{name}'" for name in plain) + ")"


# ---------------------------------------------------------------------------------------
# Coarse category (docs/records.md CATEGORIES) of a resource, for records/register.

_BY_TYPE: Final[dict[str, str]] = {
    **dict.fromkeys(("Patient", "Organization", "Practitioner", "PractitionerRole",
                     "RelatedPerson", "Person", "Location", "Group", "HealthcareService",
                     "Endpoint"), "administrative"),
    "AllergyIntolerance": "allergy",
    **dict.fromkeys(("CarePlan", "CareTeam", "Goal", "ServiceRequest", "NutritionOrder",
                     "RequestGroup"), "care-plan"),
    **dict.fromkeys(("Condition", "ClinicalImpression", "DetectedIssue"), "condition"),
    **dict.fromkeys(("Device", "DeviceRequest", "DeviceUseStatement", "DeviceMetric"),
                    "device"),
    **dict.fromkeys(("DocumentReference", "Composition", "DocumentManifest"), "document"),
    **dict.fromkeys(("Encounter", "EpisodeOfCare"), "encounter"),
    **dict.fromkeys(("Claim", "ClaimResponse", "ExplanationOfBenefit", "Coverage",
                     "CoverageEligibilityRequest", "CoverageEligibilityResponse", "Invoice",
                     "Account", "ChargeItem", "PaymentNotice", "PaymentReconciliation",
                     "EnrollmentRequest", "EnrollmentResponse"), "financial"),
    "MolecularSequence": "genomic",
    **dict.fromkeys(("ImagingStudy", "Media"), "imaging"),
    **dict.fromkeys(("Immunization", "ImmunizationEvaluation", "ImmunizationRecommendation"),
                    "immunization"),
    "Specimen": "laboratory",
    **dict.fromkeys(("Medication", "MedicationRequest", "MedicationStatement",
                     "MedicationAdministration", "MedicationDispense"), "medication"),
    "Procedure": "procedure",
}
# Observation.category codes (http://terminology.hl7.org/CodeSystem/observation-category).
_OBSERVATION_CATEGORIES: Final = {"laboratory": "laboratory", "vital-signs": "vital-signs",
                                  "imaging": "imaging"}
# DiagnosticReport.category codes meaning imaging: HL7 v2 table 0074 diagnostic service
# sections for radiology/ultrasound/nuclear/CT/MR, and LOINC LP29684-5 "Radiology".
_IMAGING_SECTIONS: Final = {"RAD", "CT", "NMR", "NMS", "RX", "XRC", "CUS", "OUS", "RUS",
                            "VUS", "LP29684-5"}


def _codes(concepts: Any) -> list[str]:
    if isinstance(concepts, Mapping):
        concepts = [concepts]
    if not isinstance(concepts, list):
        return []
    return [str(coding.get("code")) for concept in concepts if isinstance(concept, Mapping)
            for coding in concept.get("coding", []) if isinstance(coding, Mapping)]


def category_of(resource: Mapping[str, Any]) -> str:
    """The coarse on-chain category (one of ``CATEGORIES``) of a FHIR resource."""
    resource_type = resource.get("resourceType")
    if resource_type == "Observation":
        for code in _codes(resource.get("category")):
            if code in _OBSERVATION_CATEGORIES:
                return _OBSERVATION_CATEGORIES[code]
        return "observation"
    if resource_type == "DiagnosticReport":
        imaging = any(code in _IMAGING_SECTIONS for code in _codes(resource.get("category")))
        return "imaging" if imaging else "diagnostic-report"
    category = _BY_TYPE.get(str(resource_type), "other")
    assert category in CATEGORIES
    return category
