"""``_elements`` and ``_summary`` (``true``, ``text``, ``data``): a resource cut down to
some of its top-level elements (FHIR R4 3.1.1.5.9 and 3.1.1.5.8), on read and search.

A subset always keeps ``resourceType``, ``id``, ``meta`` and the type's mandatory
elements (minimum cardinality 1, :data:`MANDATORY`), and is marked in ``meta.tag`` with
``SUBSETTED`` (``v3-ObservationValue``) so that no client mistakes it for the whole
resource and writes it back. ``_summary=true`` keeps the elements the specification
marks ``isSummary`` (:data:`SUMMARY`: the R4B tables, the release nearest 4.0.1 that
``fhir.resources`` carries; ``tests/unit/test_fhirapi_elements.py`` checks them against
it); ``text`` keeps ``text`` and the mandatory ones; ``data`` drops ``text``.
``_summary=false`` is the whole resource; ``count`` is the search's (``search.py``).

A choice element is named without its type (``_elements=effective`` keeps
``effectiveDateTime`` or ``effectivePeriod``), as the specification names it.
Nothing here decides who may see a resource: it only removes elements from a resource
already released by the vault's decision.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from phrchain.fhirapi.errors import BAD_ELEMENTS

SUBSETTED: Final = {"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue",
                    "code": "SUBSETTED", "display": "subsetted"}
ALWAYS: Final = frozenset({"resourceType", "id", "meta"})
MAX_ELEMENTS: Final = 64
_NAME: Final = re.compile(r"[a-z][A-Za-z0-9]{0,63}")

#: Choice elements (``value[x]``) of the served types, named without their type.
CHOICES: Final = frozenset({"effective", "value", "onset", "abatement", "performed",
                            "reported", "medication", "occurrence", "deceased",
                            "multipleBirth"})

#: Top-level elements with minimum cardinality 1 (FHIR R4), kept in every subset.
MANDATORY: Final[dict[str, frozenset[str]]] = {
    "Patient": frozenset(),
    "Observation": frozenset({"status", "code"}),
    "Condition": frozenset({"subject"}),
    "Encounter": frozenset({"status", "class"}),
    "Procedure": frozenset({"status", "subject"}),
    "MedicationRequest": frozenset({"status", "intent", "medication", "subject"}),
    "Immunization": frozenset({"status", "vaccineCode", "patient", "occurrence"}),
    "DiagnosticReport": frozenset({"status", "code"}),
    "AllergyIntolerance": frozenset({"patient"}),
}

#: Top-level elements marked ``isSummary`` (choices named without their type).
SUMMARY: Final[dict[str, frozenset[str]]] = {
    "Patient": frozenset({"id", "implicitRules", "meta", "active", "address", "birthDate",
                          "deceased", "gender", "identifier", "link",
                          "managingOrganization", "name", "telecom"}),
    "Observation": frozenset({"id", "implicitRules", "meta", "basedOn", "code", "component",
                              "derivedFrom", "effective", "encounter", "focus", "hasMember",
                              "identifier", "issued", "partOf", "performer", "status",
                              "subject", "value"}),
    "Condition": frozenset({"id", "implicitRules", "meta", "asserter", "bodySite",
                            "clinicalStatus", "code", "encounter", "identifier", "onset",
                            "recordedDate", "recorder", "subject", "verificationStatus"}),
    "Encounter": frozenset({"id", "implicitRules", "meta", "appointment", "class",
                            "diagnosis", "episodeOfCare", "identifier", "participant",
                            "reasonCode", "reasonReference", "serviceType", "status",
                            "subject", "type"}),
    "Procedure": frozenset({"id", "implicitRules", "meta", "asserter", "basedOn", "bodySite",
                            "category", "code", "encounter", "identifier",
                            "instantiatesCanonical", "instantiatesUri", "location",
                            "outcome", "partOf", "performed", "performer", "reasonCode",
                            "reasonReference", "recorder", "status", "statusReason",
                            "subject"}),
    "MedicationRequest": frozenset({"id", "implicitRules", "meta", "authoredOn", "basedOn",
                                    "doNotPerform", "groupIdentifier",
                                    "instantiatesCanonical", "instantiatesUri", "intent",
                                    "medication", "performerType", "priority", "reported",
                                    "requester", "status", "subject"}),
    "Immunization": frozenset({"id", "implicitRules", "meta", "isSubpotent", "note",
                               "occurrence", "patient", "performer", "primarySource",
                               "status", "vaccineCode"}),
    "DiagnosticReport": frozenset({"id", "implicitRules", "meta", "category", "code",
                                   "effective", "encounter", "identifier", "issued", "media",
                                   "performer", "resultsInterpreter", "status", "subject"}),
    "AllergyIntolerance": frozenset({"id", "implicitRules", "meta", "asserter", "category",
                                     "clinicalStatus", "code", "criticality", "identifier",
                                     "patient", "type", "verificationStatus"}),
}


def element_of(key: str) -> str:
    """The element a JSON key belongs to: ``effectiveDateTime`` → ``effective``,
    ``_status`` (a primitive's extensions) → ``status``."""
    key = key.removeprefix("_")
    for choice in CHOICES:
        if key.startswith(choice) and key[len(choice):][:1].isupper():
            return choice
    return key


@dataclass(frozen=True, slots=True)
class Shape:
    """What to keep of each resource: everything (``keep`` None), the named elements
    (``_elements``, matched resources only) or a summary (``_summary``, every resource)."""

    keep: frozenset[str] | None = None
    summary: str | None = None          # "true", "text", "data"

    @property
    def whole(self) -> bool:
        return self.keep is None and self.summary is None

    def apply(self, resource: dict[str, Any], matched: bool = True) -> dict[str, Any]:
        if self.summary is not None:
            return _summarised(resource, self.summary)
        if self.keep is None or not matched:
            return resource
        rtype = str(resource.get("resourceType"))
        wanted = self.keep | MANDATORY.get(rtype, frozenset())
        return _subset(resource, lambda k: element_of(k) in wanted)


def take(params: Sequence[tuple[str, str]]) -> tuple[Shape, list[tuple[str, str]]]:
    """The shape ``params`` ask for, and the parameters left for the search parser
    (``_summary=count`` and ``false`` stay there). ``fhirapi/17`` if malformed."""
    keep: set[str] | None = None
    summary: str | None = None
    rest: list[tuple[str, str]] = []
    for name, value in params:
        if name == "_elements":
            if keep is not None:
                raise BAD_ELEMENTS("_elements: give it once, comma-separated")
            keep = _names(value)
        elif name == "_summary" and value in ("true", "text", "data"):
            if summary is not None:
                raise BAD_ELEMENTS("_summary: give it once")
            summary = value
        else:
            rest.append((name, value))
    if summary is not None and (keep is not None or any(n == "_summary" for n, _ in rest)):
        raise BAD_ELEMENTS("_summary: once, and not with _elements")
    if keep is not None and any(n == "_summary" and v == "count" for n, v in rest):
        raise BAD_ELEMENTS("_elements: not with _summary=count")
    return Shape(None if keep is None else frozenset(keep), summary), rest


def for_read(params: Sequence[tuple[str, str]]) -> Shape:
    """A read's shape: ``_elements`` and ``_summary`` (``count`` is for searches)."""
    shape, rest = take(params)
    if any(n == "_summary" and v not in ("false",) for n, v in rest):
        raise BAD_ELEMENTS("_summary: true, text, data or false on a read")
    return shape


def _names(value: str) -> set[str]:
    names = [n.strip() for n in value.split(",") if n.strip()]
    if not names or len(names) > MAX_ELEMENTS:
        raise BAD_ELEMENTS(f"_elements: 1 to {MAX_ELEMENTS} element names")
    for name in names:
        if _NAME.fullmatch(name) is None:
            raise BAD_ELEMENTS("_elements: top-level element names (e.g. status,code)")
    return {element_of(n) for n in names}


def _summarised(resource: dict[str, Any], summary: str) -> dict[str, Any]:
    rtype = str(resource.get("resourceType"))
    mandatory = MANDATORY.get(rtype, frozenset())
    if summary == "data":
        return _subset(resource, lambda k: element_of(k) != "text")
    if summary == "text":
        return _subset(resource, lambda k: element_of(k) in mandatory or k == "text")
    listed = SUMMARY.get(rtype, frozenset()) | mandatory
    return _subset(resource, lambda k: element_of(k) in listed)


def _subset(resource: dict[str, Any], kept: Any) -> dict[str, Any]:
    out = {k: v for k, v in resource.items() if k in ALWAYS or kept(k)}
    meta = dict(out.get("meta") or {})
    tags = [t for t in meta.get("tag") or [] if t.get("code") != "SUBSETTED"]
    meta["tag"] = [*tags, dict(SUBSETTED)]
    out["meta"] = meta
    return out
