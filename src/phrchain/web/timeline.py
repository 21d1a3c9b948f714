"""The patient's care as a timeline: records grouped by the encounter they belong to,
newest first.

Pure functions over the record views the patient routes build (``patient.record_view``:
the decrypted resource under ``fhir``, its date under ``date``). A record that names an
encounter (``encounter.reference``) joins that encounter's group, as does the Encounter
resource itself; a record without one is a group of its own. A group's date is the
newest date among its records (the Encounter's own period start when it has one).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def encounter_key(resource: Mapping[str, Any] | None) -> str | None:
    """The id of the encounter a resource belongs to: the last segment of its
    ``encounter.reference`` (``Encounter/7``, ``urn:uuid:7`` → ``7``), or an Encounter's
    own id."""
    if not isinstance(resource, Mapping):
        return None
    if resource.get("resourceType") == "Encounter" and isinstance(resource.get("id"), str):
        return str(resource["id"])
    encounter = resource.get("encounter")
    reference = encounter.get("reference") if isinstance(encounter, Mapping) else None
    if not isinstance(reference, str) or not reference:
        return None
    return reference.replace(":", "/").rstrip("/").rsplit("/", 1)[-1] or None


def _sort_date(view: Mapping[str, Any]) -> str:
    # FHIR dates and dateTimes sort as text within one time zone; Synthea-like data and
    # the vaults' records use UTC ("Z"). A record without a date sorts last.
    return str(view.get("date") or "")


def timeline(views: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``[{"encounter": id or None, "date": newest date, "records": [record ids, newest
    first]}]``, newest group first; ties keep a stable order (by record id)."""
    groups: dict[str, dict[str, Any]] = {}
    for view in views:
        fhir = view.get("fhir")
        key = encounter_key(fhir if isinstance(fhir, Mapping) else None)
        group_id = f"encounter:{key}" if key else f"record:{view['record']}"
        group = groups.setdefault(group_id, {"encounter": key, "date": "", "members": []})
        group["members"].append(view)
        group["date"] = max(group["date"], _sort_date(view))
    out = []
    for group in groups.values():
        members = sorted(group["members"], key=lambda v: str(v["record"]))
        members.sort(key=_sort_date, reverse=True)
        out.append({"encounter": group["encounter"], "date": group["date"] or None,
                    "records": [str(v["record"]) for v in members]})
    out.sort(key=lambda g: g["records"][0])
    out.sort(key=lambda g: g["date"] or "", reverse=True)
    return out
