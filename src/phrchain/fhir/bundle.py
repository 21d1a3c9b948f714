"""Bundle import (split by patient, references resolved) and export.

Import accepts ``transaction``, ``batch`` and ``collection`` Bundles such as Synthea
writes. Every resource gets a stable id, every reference to another entry of the same
Bundle becomes ``Type/id``, and each resource is assigned to the patient whose
compartment it is in. The input is never modified.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from phrchain.fhir.errors import (
    INVALID_BUNDLE,
    INVALID_RESOURCE,
    UNRESOLVED_REFERENCE,
    FhirError,
)
from phrchain.fhir.validation import RESOURCE_TYPES, validate

IMPORTABLE_TYPES: Final = frozenset({"transaction", "batch", "collection"})
# Top-level elements that put a resource in a Patient's compartment, in the order they
# are tried (R4 CompartmentDefinition "patient": subject/patient/beneficiary/... params).
COMPARTMENT_FIELDS: Final = ("patient", "subject", "beneficiary", "for", "policyHolder",
                             "subscriber")
DEFAULT_EXPORT_BASE: Final = "https://fhir.phrchain.invalid"
#: Why an import leaves the shared resources out (said with their counts by type).
SET_ASIDE_REASON: Final = ("in no Patient's compartment (e.g. Practitioner, Organization, "
                           "Location, Provenance): not any one patient's record, so not "
                           "imported; references to them are kept as written")
_ID: Final = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
# [base/]Type/id[/_history/vid], Type a FHIR resource type name.
_RESTFUL: Final = re.compile(
    r"^(?:(?P<base>.*)/)?(?P<type>[A-Z][A-Za-z]+)/(?P<id>[A-Za-z0-9\-.]{1,64})"
    r"(?:/_history/[A-Za-z0-9\-.]{1,64})?$")


@dataclass(frozen=True, slots=True)
class PatientRecords:
    """One patient from a Bundle: the Patient and the resources in its compartment."""

    patient: dict[str, Any]
    resources: tuple[dict[str, Any], ...]

    @property
    def patient_id(self) -> str:
        return str(self.patient["id"])


@dataclass(frozen=True, slots=True)
class BundleSplit:
    """The result of :func:`split_bundle`; iterates over the patients.

    ``shared`` holds the resources in no patient's compartment (Organization,
    Practitioner, Medication, ...), with references rewritten like the others.
    """

    patients: tuple[PatientRecords, ...]
    shared: tuple[dict[str, Any], ...]

    def __iter__(self) -> Iterator[PatientRecords]:
        return iter(self.patients)

    def __len__(self) -> int:
        return len(self.patients)

    def __getitem__(self, index: int) -> PatientRecords:
        return self.patients[index]

    def set_aside(self) -> dict[str, int]:
        """How many shared resources of each type an import leaves out
        (:data:`SET_ASIDE_REASON`), by resource type in name order."""
        counts: dict[str, int] = {}
        for resource in self.shared:
            kind = str(resource["resourceType"])
            counts[kind] = counts.get(kind, 0) + 1
        return dict(sorted(counts.items()))


def _bundle_error(detail: str, entry: int | None = None, *, path: str = "",
                  rule: str = "bundle") -> FhirError:
    prefix = f"entry {entry}: " if entry is not None else ""
    return FhirError(INVALID_BUNDLE, prefix + detail, path=path, rule=rule, entry=entry)


def _stable_id(entry: Mapping[str, Any], resource: Mapping[str, Any]) -> str:
    """Keep the resource's id; else the uuid/oid of a urn fullUrl; else the id of a
    RESTful fullUrl or PUT url; else a hash of the resource's content."""
    rid = resource.get("id")
    if isinstance(rid, str):
        return rid
    full_url = entry.get("fullUrl")
    if isinstance(full_url, str):
        for prefix in ("urn:uuid:", "urn:oid:"):
            if full_url.startswith(prefix) and _ID.match(full_url[len(prefix):]):
                return full_url[len(prefix):]
        match = _RESTFUL.match(full_url)
        if match and match["type"] == resource.get("resourceType"):
            return match["id"]
    request = entry.get("request")
    if isinstance(request, Mapping) and isinstance(request.get("url"), str):
        match = _RESTFUL.match(request["url"])
        if match and match["type"] == resource.get("resourceType"):
            return match["id"]
    digest = hashlib.sha256(json.dumps(resource, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False).encode()).hexdigest()
    return digest[:32]


class _Resolver:
    """Maps every way an entry can be referenced to its ``Type/id``."""

    def __init__(self) -> None:
        self.by_full_url: dict[str, str] = {}
        self.local: set[str] = set()
        self.by_identifier: dict[str, str] = {}

    def add(self, index: int, full_url: Any, type_id: str, resource: Mapping[str, Any]) -> None:
        if type_id in self.local:
            raise _bundle_error(f"duplicate resource {type_id.split('/')[0]} id", index,
                                rule="duplicate")
        self.local.add(type_id)
        if isinstance(full_url, str):
            if full_url in self.by_full_url:
                raise _bundle_error("duplicate fullUrl", index, rule="duplicate")
            self.by_full_url[full_url] = type_id
        for ident in resource.get("identifier", ()) if isinstance(
                resource.get("identifier"), list) else ():
            if isinstance(ident, Mapping) and "system" in ident and "value" in ident:
                key = f"{type_id.split('/')[0]}?identifier={ident['system']}|{ident['value']}"
                self.by_identifier.setdefault(key, type_id)

    def resolve(self, reference: str, index: int, path: str) -> str:
        if reference.startswith("#"):
            return reference  # contained resource
        found = self.by_full_url.get(reference)
        if found is not None:
            return found
        if reference.startswith(("urn:uuid:", "urn:oid:")):
            raise FhirError(UNRESOLVED_REFERENCE, f"entry {index}: {path}", path=path,
                            rule="reference", entry=index)
        if "?" in reference:  # conditional reference, as newer Synthea writes
            return self.by_identifier.get(reference, reference)
        match = _RESTFUL.match(reference)
        if match and match["type"] in RESOURCE_TYPES:
            type_id = f"{match['type']}/{match['id']}"
            if type_id in self.local:
                return type_id
        return reference


def _rewrite(node: Any, resolver: _Resolver, index: int, path: str) -> Any:
    """A copy of ``node`` with every ``Reference.reference`` resolved."""
    if isinstance(node, Mapping):
        out = {}
        for key, value in node.items():
            if key == "reference" and isinstance(value, str):
                out[key] = resolver.resolve(value, index, f"{path}.reference")
            elif key == "contained":
                out[key] = _copy(value)  # their references are local to the container
            else:
                out[key] = _rewrite(value, resolver, index, f"{path}.{key}")
        return out
    if isinstance(node, list):
        return [_rewrite(item, resolver, index, f"{path}[{i}]") for i, item in enumerate(node)]
    return node


def _copy(node: Any) -> Any:
    if isinstance(node, Mapping):
        return {key: _copy(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_copy(item) for item in node]
    return node


def _patient_target(ref: Any) -> str | None:
    """The reference string if it points at a Patient (any form), else None."""
    if not isinstance(ref, Mapping) or not isinstance(ref.get("reference"), str):
        return None
    target: str = ref["reference"]
    if target.startswith(("Patient/", "Patient?")):
        return target
    match = _RESTFUL.match(target)
    return target if match and match["type"] == "Patient" else None


def _compartment_patient(resource: Mapping[str, Any]) -> str | None:
    for field in COMPARTMENT_FIELDS:
        value = resource.get(field)
        for ref in value if isinstance(value, list) else [value]:
            target = _patient_target(ref)
            if target is not None:
                return target
    participants = resource.get("participant")
    for participant in participants if isinstance(participants, list) else ():
        if isinstance(participant, Mapping):  # Appointment.participant.actor
            target = _patient_target(participant.get("actor"))
            if target is not None:
                return target
    return None


def _entries(bundle: Mapping[str, Any]) -> list[tuple[int, Mapping[str, Any], dict[str, Any]]]:
    if not isinstance(bundle, Mapping) or bundle.get("resourceType") != "Bundle":
        raise _bundle_error("not a FHIR Bundle", rule="resourceType")
    if bundle.get("type") not in IMPORTABLE_TYPES:
        raise _bundle_error("Bundle.type must be transaction, batch or collection",
                            path="Bundle.type", rule="type")
    entries = bundle.get("entry", [])
    if not isinstance(entries, list):
        raise _bundle_error("Bundle.entry must be a list", path="Bundle.entry", rule="type")
    out = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping) or not isinstance(entry.get("resource"), Mapping):
            raise _bundle_error("entry has no resource", index, path=f"Bundle.entry[{index}]",
                                rule="resource")
        resource = entry["resource"]
        try:
            validate(resource)
        except FhirError as exc:
            raise FhirError(exc.error, f"entry {index}: {exc.detail}", path=exc.path,
                            rule=exc.rule, entry=index) from None
        out.append((index, entry, dict(resource)))
    return out


def split_bundle(bundle: Mapping[str, Any]) -> BundleSplit:
    """Validate a Bundle and split it into patients and shared resources.

    Raises :class:`FhirError`: ``invalid_bundle`` / ``invalid_resource`` /
    ``unknown_resource_type`` naming the entry index (``.entry``), and
    ``unresolved_reference`` for a ``urn:uuid:``/``urn:oid:`` reference to no entry.
    A resource in the compartment of a Patient that is not in the Bundle is refused
    (the importer would not know whose record it is).
    """
    entries = _entries(bundle)
    resolver = _Resolver()
    type_ids: list[str] = []
    for index, entry, resource in entries:
        rid = _stable_id(entry, resource)
        resource["id"] = rid
        type_id = f"{resource['resourceType']}/{rid}"
        resolver.add(index, entry.get("fullUrl"), type_id, resource)
        type_ids.append(type_id)
    rewritten = []
    for (index, _, resource), type_id in zip(entries, type_ids, strict=True):
        out = _rewrite(resource, resolver, index, str(resource["resourceType"]))
        if out != resource:
            _revalidate(out, index)
        rewritten.append((index, type_id, out))
    order = [type_id for _, type_id, resource in rewritten
             if resource["resourceType"] == "Patient"]
    grouped: dict[str, list[dict[str, Any]]] = {type_id: [] for type_id in order}
    patient_of: dict[str, dict[str, Any]] = {}
    shared: list[dict[str, Any]] = []
    for index, type_id, resource in rewritten:
        if resource["resourceType"] == "Patient":
            patient_of[type_id] = resource
            continue
        owner = _compartment_patient(resource)
        if owner is None:
            shared.append(resource)
        elif owner in grouped:
            grouped[owner].append(resource)
        else:
            raise _bundle_error("resource belongs to a Patient that is not in the bundle",
                                index, rule="compartment")
    return BundleSplit(
        patients=tuple(PatientRecords(patient_of[t], tuple(grouped[t])) for t in order),
        shared=tuple(shared))


def _revalidate(resource: Mapping[str, Any], index: int) -> None:
    try:
        validate(resource)
    except FhirError as exc:  # a rewritten reference can only fail if ids were bad
        raise FhirError(INVALID_RESOURCE, f"entry {index}: {exc.detail}", path=exc.path,
                        rule=exc.rule, entry=index) from None


def export_bundle(resources: Sequence[Mapping[str, Any]], *, timestamp_ms: int | None = None,
                  base_url: str = DEFAULT_EXPORT_BASE,
                  bundle_id: str | None = None) -> dict[str, Any]:
    """A FHIR ``collection`` Bundle of ``resources`` (in the given order).

    Each entry's ``fullUrl`` is ``<base_url>/<Type>/<id>`` so that the ``Type/id``
    references between them resolve inside the Bundle (FHIR R4 §3.1.0.4.2 / Bundle
    reference resolution). Without ``timestamp_ms`` or ``bundle_id`` the output depends
    only on the input. The result is validated.
    """
    entries = []
    seen: set[str] = set()
    for index, resource in enumerate(resources):
        rid = resource.get("id")
        if not isinstance(rid, str):
            raise _bundle_error("resource to export has no id", index, rule="id")
        type_id = f"{resource.get('resourceType')}/{rid}"
        if type_id in seen:
            raise _bundle_error("duplicate resource in export", index, rule="duplicate")
        seen.add(type_id)
        entries.append({"fullUrl": f"{base_url.rstrip('/')}/{type_id}",
                        "resource": _copy(resource)})
    bundle: dict[str, Any] = {"resourceType": "Bundle"}
    if bundle_id is not None:
        bundle["id"] = bundle_id
    bundle["type"] = "collection"
    if timestamp_ms is not None:
        bundle["timestamp"] = _instant_ms(timestamp_ms)
    bundle["entry"] = entries
    for index, entry in enumerate(entries):
        try:
            validate(entry["resource"])
        except FhirError as exc:
            raise FhirError(exc.error, f"entry {index}: {exc.detail}", path=exc.path,
                            rule=exc.rule, entry=index) from None
    validate(bundle)
    return bundle


def _instant_ms(ms: int) -> str:
    """FHIR instant in UTC with millisecond precision."""
    when = datetime.fromtimestamp(ms // 1000, tz=UTC)
    return when.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}Z"
