"""Trend series for common vital signs and laboratory results, from the Observations a
person may read (the decrypted resources the UI already holds for them).

Pure functions: each series is one measure (LOINC code), its points sorted by the
Observation's date, each point naming its record so the page (and the tests) can tie a
plotted value back to the decrypted resource. A blood-pressure panel (LOINC 85354-9)
contributes its systolic and diastolic components. Only numeric ``valueQuantity``s with
a date are plotted; nothing is converted between units (a series keeps the unit of its
first point and leaves out points in another unit, rather than plot them wrongly).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Final

LOINC: Final = "http://loinc.org"

# LOINC code → the measure's key (the page's catalogue names it) and its chart group:
# measures in one group share a chart (systolic and diastolic pressure).
MEASURES: Final[dict[str, tuple[str, str]]] = {
    "8480-6": ("systolic", "blood_pressure"),
    "8462-4": ("diastolic", "blood_pressure"),
    "8867-4": ("heart_rate", "heart_rate"),
    "29463-7": ("weight", "weight"),
    "39156-5": ("bmi", "bmi"),
    "2339-0": ("glucose", "glucose"),
    "2345-7": ("glucose", "glucose"),
    "4548-4": ("hba1c", "hba1c"),
    "2093-3": ("cholesterol", "cholesterol"),
    "18262-6": ("ldl", "cholesterol"),
    "13457-7": ("ldl", "cholesterol"),
    "2085-9": ("hdl", "cholesterol"),
    "2571-8": ("triglycerides", "cholesterol"),
}
GROUP_ORDER: Final = ("blood_pressure", "heart_rate", "weight", "bmi", "glucose", "hba1c",
                      "cholesterol")


def _loinc_codes(concept: Any) -> Iterator[str]:
    if not isinstance(concept, Mapping):
        return
    for coding in concept.get("coding") or ():
        if isinstance(coding, Mapping) and coding.get("system") == LOINC \
                and isinstance(coding.get("code"), str):
            yield coding["code"]


def _measure(concept: Any) -> tuple[str, str] | None:
    for code in _loinc_codes(concept):
        if code in MEASURES:
            return MEASURES[code]
    return None


def _number(quantity: Any) -> tuple[float, str] | None:
    if not isinstance(quantity, Mapping):
        return None
    value = quantity.get("value")
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return value, str(quantity.get("unit") or quantity.get("code") or "")


def _date(resource: Mapping[str, Any]) -> str | None:
    for name in ("effectiveDateTime", "issued"):
        if isinstance(resource.get(name), str):
            return str(resource[name])
    period = resource.get("effectivePeriod")
    if isinstance(period, Mapping) and isinstance(period.get("start"), str):
        return str(period["start"])
    return None


def observation_points(record: str, resource: Mapping[str, Any]
                       ) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(measure, group, point) for each plottable value of one Observation."""
    if resource.get("resourceType") != "Observation" or \
            resource.get("status") in ("entered-in-error", "cancelled"):
        return
    date = _date(resource)
    if date is None:
        return
    parts = [(resource.get("code"), resource.get("valueQuantity"))]
    parts += [(c.get("code"), c.get("valueQuantity")) for c in resource.get("component") or ()
              if isinstance(c, Mapping)]
    for code, quantity in parts:
        measure, number = _measure(code), _number(quantity)
        if measure is None or number is None:
            continue
        yield measure[0], measure[1], {"date": date, "value": number[0], "unit": number[1],
                                       "record": record}


def trends(views: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """``[{"group", "series": [{"measure", "unit", "points": [{date, value, unit,
    record}]}]}]``, groups in a fixed order, points oldest first."""
    series: dict[str, dict[str, Any]] = {}
    groups: dict[str, list[str]] = {}
    for view in views:
        fhir = view.get("fhir")
        if not isinstance(fhir, Mapping):
            continue
        for measure, group, point in observation_points(str(view["record"]), fhir):
            found = series.setdefault(measure, {"measure": measure, "unit": point["unit"],
                                                "points": []})
            if point["unit"] != found["unit"]:
                continue
            found["points"].append(point)
            if measure not in groups.setdefault(group, []):
                groups[group].append(measure)
    out = []
    for group in GROUP_ORDER:
        if group not in groups:
            continue
        members = []
        for measure in groups[group]:
            points = sorted(series[measure]["points"], key=lambda p: (p["date"], p["record"]))
            members.append({**series[measure], "points": points})
        out.append({"group": group, "series": members})
    return out
