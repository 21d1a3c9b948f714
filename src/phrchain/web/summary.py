"""One line a person can read for a FHIR R4 resource, and the date it is about.

Pure functions over the decrypted resource (no I/O); unknown resource types fall back
to their ``code``/``type`` and ``status``. The text is built here rather than in the
page so every view (and the tests) says the same thing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

# Where each resource type keeps the date it is about, most specific first.
DATE_FIELDS: Final = (
    "effectiveDateTime", "effectivePeriod.start", "issued", "onsetDateTime",
    "recordedDate", "authoredOn", "occurrenceDateTime", "performedDateTime",
    "performedPeriod.start", "period.start", "date", "created", "birthDate",
)
# What each resource type is mainly about.
SUBJECT_FIELDS: Final = (
    "code", "medicationCodeableConcept", "vaccineCode", "type", "category", "class",
)


def _get(resource: Mapping[str, Any], dotted: str) -> Any:
    value: Any = resource
    for part in dotted.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def concept_text(concept: Any) -> str:
    """A CodeableConcept (or a list of them, or a Coding) as text."""
    if isinstance(concept, Sequence) and not isinstance(concept, str):
        return ", ".join(t for t in (concept_text(c) for c in concept) if t)
    if not isinstance(concept, Mapping):
        return ""
    if isinstance(concept.get("text"), str):
        return str(concept["text"])
    if isinstance(concept.get("display"), str):
        return str(concept["display"])
    for coding in concept.get("coding") or ():
        if isinstance(coding, Mapping) and (coding.get("display") or coding.get("code")):
            return str(coding.get("display") or coding.get("code"))
    if isinstance(concept.get("code"), str):
        return str(concept["code"])
    return ""


def quantity_text(value: Any) -> str:
    if not isinstance(value, Mapping) or "value" not in value:
        return ""
    unit = value.get("unit") or value.get("code") or ""
    return f"{value['value']} {unit}".strip()


def value_text(resource: Mapping[str, Any]) -> str:
    for name in ("valueQuantity", "valueCodeableConcept", "valueString", "valueBoolean",
                 "valueInteger"):
        value = resource.get(name)
        if value is None:
            continue
        if name == "valueQuantity":
            return quantity_text(value)
        if name == "valueCodeableConcept":
            return concept_text(value)
        return str(value)
    parts = [f"{concept_text(c.get('code'))} {quantity_text(c.get('valueQuantity'))}".strip()
             for c in resource.get("component") or () if isinstance(c, Mapping)]
    return "; ".join(p for p in parts if p)


def patient_text(resource: Mapping[str, Any]) -> str:
    names = resource.get("name") or ()
    name = names[0] if names and isinstance(names[0], Mapping) else {}
    text = name.get("text") or " ".join([*name.get("given", ()), name.get("family", "")])
    return " ".join(p for p in (str(text).strip(), resource.get("gender", ""),
                                f"born {resource['birthDate']}" if resource.get("birthDate")
                                else "") if p)


def resource_date(resource: Mapping[str, Any]) -> str | None:
    for name in DATE_FIELDS:
        value = _get(resource, name)
        if isinstance(value, str) and value:
            return value
    return None


def summarize(resource: Mapping[str, Any]) -> str:
    kind = str(resource.get("resourceType", "resource"))
    if kind == "Patient":
        return patient_text(resource) or "Patient"
    subject = ""
    for name in SUBJECT_FIELDS:
        subject = concept_text(resource.get(name))
        if subject:
            break
    if kind == "MedicationRequest" and not subject:
        subject = str(_get(resource, "medicationReference.display") or "")
    value = value_text(resource) if kind == "Observation" else ""
    status = resource.get("clinicalStatus") or resource.get("status")
    status_text = concept_text(status) if isinstance(status, Mapping) else str(status or "")
    text = subject or kind
    if value:
        text += f": {value}"
    if status_text:
        text += f" ({status_text})"
    return text


def patient_banner(resource: Mapping[str, Any]) -> dict[str, Any]:
    """Who a FHIR Patient resource says the patient is: the first name (its text, or
    given names and family), birth date and administrative gender, as written there."""
    names = resource.get("name") or ()
    name = names[0] if names and isinstance(names[0], Mapping) else {}
    text = name.get("text") or " ".join([*name.get("given", ()), name.get("family", "")])
    return {"name": str(text).strip() or None, "birth_date": resource.get("birthDate"),
            "gender": resource.get("gender")}


# The chart's summary lists, by the resource types that make them.
SUMMARY_KINDS: Final = {"AllergyIntolerance": "allergies", "Condition": "problems",
                        "MedicationRequest": "medications",
                        "MedicationStatement": "medications"}


def clinical_summary(views: Sequence[Mapping[str, Any]]) -> dict[str, list[dict[str, Any]]]:
    """Allergies, problems and medications from opened record views (``summary`` and
    ``date`` as ``summarize``/``resource_date`` give them), newest first."""
    out: dict[str, list[dict[str, Any]]] = {"allergies": [], "problems": [], "medications": []}
    for view in views:
        kind = SUMMARY_KINDS.get(str(view.get("resource")))
        if kind is not None:
            out[kind].append({"record": view["record"], "text": view.get("summary"),
                              "date": view.get("date")})
    for items in out.values():
        items.sort(key=lambda i: str(i["date"] or ""), reverse=True)
    return out
