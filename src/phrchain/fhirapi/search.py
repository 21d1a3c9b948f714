"""FHIR R4 search over the records a patient has here: parameters, matching, sorting.

Supported (``/metadata`` says the same, from :data:`PARAMETERS`): ``patient`` (and
``subject``), ``_id``, ``_lastUpdated``, ``date`` (``eq ne lt gt le ge sa eb``; year,
month, day or instant precision), ``code`` and ``category`` (token: ``code``,
``system|code``, ``|code``, ``system|``; a comma is OR), ``_count`` (1-100, default 20),
``_sort`` (``_lastUpdated``, ``date``, ``_id``, ``-`` for descending) and the paging
parameters this endpoint writes into its own links. Anything else is refused
``fhirapi/2`` (a server that silently ignored a parameter would return more than asked).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from phrchain.fhirapi.errors import BAD_SEARCH_PARAMETER, MALFORMED_ID
from phrchain.fhirapi.index import Held, patient_id

#: Where each type keeps the values its ``date``, ``code`` and ``category`` parameters
#: search (R4 search parameters clinical-date, clinical-code, *-category).
DATE_PATHS: Final[dict[str, tuple[str, ...]]] = {
    "Observation": ("effectiveDateTime", "effectivePeriod.start", "effectiveInstant", "issued"),
    "Condition": ("onsetDateTime", "onsetPeriod.start", "recordedDate"),
    "Encounter": ("period.start",),
    "Procedure": ("performedDateTime", "performedPeriod.start"),
    "MedicationRequest": ("authoredOn",),
    "Immunization": ("occurrenceDateTime",),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod.start", "issued"),
    "AllergyIntolerance": ("recordedDate", "onsetDateTime"),
}
CODE_PATHS: Final[dict[str, str]] = {
    "Observation": "code", "Condition": "code", "Procedure": "code",
    "MedicationRequest": "medicationCodeableConcept", "Immunization": "vaccineCode",
    "DiagnosticReport": "code", "AllergyIntolerance": "code", "Encounter": "type",
}
CATEGORY_PATHS: Final[dict[str, str]] = {
    "Observation": "category", "Condition": "category", "DiagnosticReport": "category",
    "AllergyIntolerance": "category", "MedicationRequest": "category",
    "Procedure": "category",
}
SERVED_TYPES: Final = frozenset({"Patient", *DATE_PATHS})
COMMON: Final = ("_id", "_lastUpdated")


def parameters(resource_type: str) -> list[tuple[str, str]]:
    """``(name, FHIR search parameter type)`` a type supports."""
    out = [("_id", "token"), ("_lastUpdated", "date")]
    if resource_type != "Patient":
        out.append(("patient", "reference"))
        out.append(("subject", "reference"))
    if resource_type in DATE_PATHS:
        out.append(("date", "date"))
    if resource_type in CODE_PATHS:
        out.append(("code", "token"))
    if resource_type in CATEGORY_PATHS:
        out.append(("category", "token"))
    return out


CONTROL: Final = frozenset({"_count", "_sort", "_format", "_summary", "_offset", "_pages"})
PREFIXES: Final = ("eq", "ne", "lt", "gt", "le", "ge", "sa", "eb")
MAX_COUNT: Final = 100
DEFAULT_COUNT: Final = 20
MAX_PAGES_TRAIL: Final = 64
_ID: Final = re.compile(r"[A-Za-z0-9\-.]{1,64}")
_DATE: Final = re.compile(r"(\d{4})(?:-(\d{2})(?:-(\d{2})(T.+)?)?)?")
_SORTS: Final = frozenset({"_lastUpdated", "date", "_id"})


@dataclass
class Query:
    """A parsed search of one type."""

    resource_type: str
    patient: str | None = None          # FHIR Patient id
    filters: list[Callable[[Held], bool]] = field(default_factory=list)
    count: int = DEFAULT_COUNT
    sort: list[tuple[str, bool]] = field(default_factory=list)   # (key, descending)
    offset: int = 0
    pages: list[int] = field(default_factory=list)
    summary: str | None = None


def _bad(name: str, why: str) -> Exception:
    return BAD_SEARCH_PARAMETER(f"{name}: {why}")


def check_id(value: str) -> str:
    if _ID.fullmatch(value) is None:
        raise MALFORMED_ID("the id is not [A-Za-z0-9-.]{1,64}")
    return value


def parse(resource_type: str, params: Sequence[tuple[str, str]]) -> Query:
    q = Query(resource_type)
    allowed = dict(parameters(resource_type))
    for raw_name, value in params:
        name = raw_name.split(":", 1)[0]
        if raw_name != name and name not in ("patient", "subject"):
            raise _bad(raw_name, "modifiers are not supported")
        if name in CONTROL:
            _control(q, name, value)
        elif name not in allowed:
            raise _bad(name, f"not a supported search parameter of {resource_type}")
        elif name in ("patient", "subject"):
            q.patient = _patient_ref(name, value, q.patient)
        elif name == "_id":
            ids = {check_id(v) for v in value.split(",")}
            q.filters.append(lambda h, ids=ids: _own_id(h) in ids)  # type: ignore[misc]
        elif name == "_lastUpdated":
            match = date_matcher(name, value)
            q.filters.append(lambda h, m=match: m(_ms_range(h.updated_ms)))  # type: ignore[misc]
        elif name == "date":
            match = date_matcher(name, value)
            q.filters.append(lambda h, m=match: any(m(r) for r in _dates_of(h)))  # type: ignore[misc]
        else:
            tokens = [_token(name, v) for v in value.split(",")]
            path = (CODE_PATHS if name == "code" else CATEGORY_PATHS)[resource_type]
            q.filters.append(lambda h, p=path, t=tokens:  # type: ignore[misc]
                             any(_token_matches(c, t) for c in _codings(h.resource.get(p))))
    return q


def _control(q: Query, name: str, value: str) -> None:
    if name == "_count":
        if not value.isdigit() or not 1 <= int(value) <= MAX_COUNT:
            raise _bad(name, f"an integer from 1 to {MAX_COUNT}")
        q.count = int(value)
    elif name == "_sort":
        for key in value.split(","):
            desc = key.startswith("-")
            if key.lstrip("-") not in _SORTS:
                raise _bad(name, f"sorts by {', '.join(sorted(_SORTS))}")
            q.sort.append((key.lstrip("-"), desc))
    elif name == "_offset":
        if not value.isdigit() or len(value) > 9:
            raise _bad(name, "a paging cursor written by this server")
        q.offset = int(value)
    elif name == "_pages":
        parts = value.split(",") if value else []
        if len(parts) > MAX_PAGES_TRAIL or not all(p.isdigit() and len(p) <= 9 for p in parts):
            raise _bad(name, "a paging cursor written by this server")
        q.pages = [int(p) for p in parts]
    elif name == "_summary":
        if value not in ("false", "count"):  # true/text/data: elements.py, before parse
            raise _bad(name, "count, false, true, text or data")
        q.summary = value
    # _format is decided by the router


def _patient_ref(name: str, value: str, before: str | None) -> str:
    ref = value.removeprefix("Patient/")
    check_id(ref)
    if before is not None and before != ref:
        raise _bad(name, "names a second patient")
    return ref


def _own_id(held: Held) -> str:
    return patient_id(held.patient) if held.resource_type == "Patient" else held.record


# -- dates -------------------------------------------------------------------------
def value_range(text: str) -> tuple[int, int] | None:
    """The ``[start, end)`` in ms of a FHIR date, dateTime or instant (by precision)."""
    m = _DATE.fullmatch(text)
    if m is None:
        return None
    year, month, day, rest = m.groups()
    try:
        if rest:
            iso = f"{year}-{month}-{day}{rest}".replace("Z", "+00:00")
            start = datetime.fromisoformat(iso)
            if start.tzinfo is None:
                start = start.replace(tzinfo=UTC)
            step = timedelta(seconds=1) if "." not in rest else timedelta(milliseconds=1)
            return _ms(start), _ms(start + step)
        if day:
            start = datetime(int(year), int(month), int(day), tzinfo=UTC)
            return _ms(start), _ms(start + timedelta(days=1))
        if month:
            start = datetime(int(year), int(month), 1, tzinfo=UTC)
            end = datetime(int(year) + (int(month) == 12), int(month) % 12 + 1, 1, tzinfo=UTC)
            return _ms(start), _ms(end)
        return _ms(datetime(int(year), 1, 1, tzinfo=UTC)), \
            _ms(datetime(int(year) + 1, 1, 1, tzinfo=UTC))
    except ValueError:
        return None


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


def _ms_range(ms: int) -> tuple[int, int]:
    return ms, ms + 1


def date_matcher(name: str, value: str) -> Callable[[tuple[int, int]], bool]:
    prefix, text = (value[:2], value[2:]) if value[:2] in PREFIXES else ("eq", value)
    if value[:2].isalpha() and value[:2] not in PREFIXES:
        raise _bad(name, f"prefixes are {', '.join(PREFIXES)}")
    found = value_range(text)
    if found is None:
        raise _bad(name, "a FHIR date or dateTime (YYYY, YYYY-MM, YYYY-MM-DD, or an "
                         "instant), optionally after a prefix")
    lo, hi = found
    tests: dict[str, Callable[[tuple[int, int]], bool]] = {
        "eq": lambda r: lo <= r[0] and r[1] <= hi,
        "ne": lambda r: not (lo <= r[0] and r[1] <= hi),
        "gt": lambda r: r[1] > hi, "lt": lambda r: r[0] < lo,
        "ge": lambda r: r[1] > lo, "le": lambda r: r[0] < hi,
        "sa": lambda r: r[0] >= hi, "eb": lambda r: r[1] <= lo,
    }
    return tests[prefix]


def _dates_of(held: Held) -> Iterable[tuple[int, int]]:
    for path in DATE_PATHS.get(held.resource_type, ()):
        node: Any = held.resource
        for part in path.split("."):
            node = node.get(part) if isinstance(node, Mapping) else None
        if isinstance(node, str) and (found := value_range(node)) is not None:
            yield found
            return


# -- tokens --------------------------------------------------------------------------
def _token(name: str, value: str) -> tuple[str | None, str | None]:
    if not value:
        raise _bad(name, "a token is code, system|code, |code or system|")
    if "|" not in value:
        return None, value
    system, code = value.split("|", 1)
    return system, (code or None)


def _codings(node: Any) -> Iterable[tuple[str | None, str]]:
    for concept in node if isinstance(node, list) else [node]:
        if isinstance(concept, str):
            yield None, concept
        elif isinstance(concept, Mapping):
            for coding in concept.get("coding") or ():
                if isinstance(coding, Mapping) and isinstance(coding.get("code"), str):
                    yield coding.get("system"), coding["code"]
            if isinstance(concept.get("code"), str):  # a Coding itself
                yield concept.get("system"), concept["code"]


def _token_matches(coding: tuple[str | None, str],
                   tokens: Sequence[tuple[str | None, str | None]]) -> bool:
    system, code = coding
    for want_system, want_code in tokens:
        if want_code is not None and want_code != code:
            continue
        if want_system is None or (want_system == "" and system is None) \
                or want_system == system:
            return True
    return False


# -- order ---------------------------------------------------------------------------
def ordered(found: list[Held], sort: Sequence[tuple[str, bool]]) -> list[Held]:
    """Sorted by ``_sort`` (default ``_lastUpdated`` then id), stably, id last."""
    out = sorted(found, key=_own_id)
    for key, desc in reversed(list(sort) or [("_lastUpdated", False)]):
        out.sort(key=lambda h, k=key: _sort_key(h, k), reverse=desc)  # type: ignore[misc]
    return out


def _sort_key(held: Held, key: str) -> Any:
    if key == "_id":
        return _own_id(held)
    if key == "date":
        first = next(iter(_dates_of(held)), None)
        return first[0] if first is not None else -(1 << 62)
    return held.updated_ms
