"""``_include`` and ``_revinclude`` on searches (FHIR R4 3.1.1.5.4), through consent.

The reference parameters this endpoint searches are ``patient`` and ``subject`` (every
served type's records belong to one patient), so what it includes is:

- ``_include=<Type>:patient`` (or ``:subject``, ``:patient:Patient``,
  ``:subject:Patient``, or ``*``) on a search of ``<Type>``: the ``Patient`` resource
  of each matched resource's patient;
- ``_revinclude=<Type>:patient`` (or ``:subject``) on a ``Patient`` search: the
  ``<Type>`` resources of each matched patient, at most :data:`MAX_INCLUDED` a page
  (an ``OperationOutcome`` entry, ``search.mode`` ``outcome``, says when a permitted
  one was left out: search ``<Type>?patient=<id>`` for the rest).

Anything else (another type or parameter, ``:iterate``) is ``fhirapi/16``; a type the
token has no read scope for is ``smart/2``. Every included resource is decided like a
read (:meth:`Deciding.decide`, audited under the page's request hash as its ``batch``,
in the same journal commit as the page's matches): a withheld one is left out and
counted in the audit log, never in the answer. An included resource appears once
(``search.mode`` ``include``), and not at all if it is already a match.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final

from phrchain.fhirapi.access import PERMIT
from phrchain.fhirapi.errors import INSUFFICIENT_SCOPE, UNSUPPORTED_INCLUDE
from phrchain.fhirapi.index import Held, patient_id
from phrchain.fhirapi.scopes import Scopes
from phrchain.fhirapi.search import SERVED_TYPES
from phrchain.modules.consent.messages import Scope

if TYPE_CHECKING:
    from phrchain.fhirapi.service import Call, ResourceService

log = logging.getLogger(__name__)
MAX_INCLUDED: Final = 200
MAX_VALUES: Final = 16
REFERENCES: Final = ("patient", "subject")
_TARGETED: Final = tuple(f"{r}:Patient" for r in REFERENCES)


@dataclass(frozen=True, slots=True)
class Includes:
    """What a search includes: the Patient of its matches (``patient``), and the types
    whose resources of each matched Patient it reverse-includes (``reverse``)."""

    patient: bool = False
    reverse: tuple[str, ...] = ()

    @property
    def none(self) -> bool:
        return not self.patient and not self.reverse


def take(resource_type: str | None, params: Sequence[tuple[str, str]], scopes: Scopes
         ) -> tuple[Includes, list[tuple[str, str]]]:
    """The includes ``params`` ask for and the parameters left for the search parser;
    ``fhirapi/16`` for a value not supported, ``smart/2`` beyond the token's scopes."""
    patient = False
    reverse: list[str] = []
    rest: list[tuple[str, str]] = []
    for name, value in params:
        if name.startswith(("_include:", "_revinclude:")):
            raise UNSUPPORTED_INCLUDE(f"{name.split(':')[0]}: no modifiers (:iterate)")
        if name not in ("_include", "_revinclude"):
            rest.append((name, value))
            continue
        if resource_type is None:
            raise UNSUPPORTED_INCLUDE(f"{name}: $everything includes every type already")
        if len(reverse) + patient >= MAX_VALUES:
            raise UNSUPPORTED_INCLUDE(f"{name}: at most {MAX_VALUES} values")
        if name == "_include":
            _check_include(resource_type, value)
            patient = True
        else:
            reverse.append(_check_revinclude(resource_type, value))
    for kind in (["Patient"] if patient else []) + reverse:
        if not scopes.may_read(kind):
            raise INSUFFICIENT_SCOPE(f"no read scope for {kind} (included)")
    return Includes(patient, tuple(dict.fromkeys(reverse))), rest


def _check_include(resource_type: str, value: str) -> None:
    source, _, param = value.partition(":")
    if value == "*" and resource_type != "Patient":
        return
    if source != resource_type or resource_type == "Patient" \
            or param not in (*REFERENCES, *_TARGETED):
        raise UNSUPPORTED_INCLUDE(
            f"_include: {resource_type}:patient or {resource_type}:subject"
            if resource_type != "Patient" else "_include: Patient has none here")


def _check_revinclude(resource_type: str, value: str) -> str:
    source, _, param = value.partition(":")
    if resource_type != "Patient" or source not in SERVED_TYPES or source == "Patient" \
            or param not in (*REFERENCES, *_TARGETED):
        raise UNSUPPORTED_INCLUDE("_revinclude: on Patient searches, <Type>:patient")
    return source


class Including:
    """The included resources of one search page, each decided for the caller."""

    def __init__(self, service: ResourceService, call: Call, scope: Scope | None) -> None:
        self.service, self.call, self.scope = service, call, scope
        self.withheld = 0

    def entries(self, includes: Includes, matched: list[Held],
                present: Callable[[Held], dict[str, Any]]) -> list[dict[str, Any]]:
        """The page's ``include`` entries (and an ``outcome`` entry past the cap);
        call inside the page's ``Deciding.batch``."""
        if includes.none or not matched:
            return []
        wanted = self._targets(includes, matched)
        seen = {h.record for h in matched}
        out: list[dict[str, Any]] = []
        at = 0
        while at < len(wanted) and len(out) < MAX_INCLUDED:
            held = wanted[at]
            at += 1
            if held.record in seen:
                continue
            seen.add(held.record)
            if self._decide(held):
                out.append({"fullUrl": f"{self.call.base}{held.resource_type}/{_own(held)}",
                            "resource": present(held), "search": {"mode": "include"}})
        log.info("fhir include: %d released, %d withheld (in the audit log)",
                 len(out), self.withheld)
        if self._more(wanted[at:], seen):
            out.append(_capped())
        return out

    def _targets(self, includes: Includes, matched: list[Held]) -> list[Held]:
        index = self.service.index
        patients = list(dict.fromkeys(h.patient for h in matched))
        found: list[Held] = []
        if includes.patient:
            for did in patients:
                own = [h for h in index.of_patient(did) if h.resource_type == "Patient"]
                found.extend(own[-1:])
        if includes.reverse:
            kinds = set(includes.reverse)
            for did in patients:
                found.extend(h for h in index.of_patient(did) if h.resource_type in kinds)
        return found

    def _decide(self, held: Held) -> bool:
        decider = self.service.decider
        verdict = decider.decide(self.call.grant, held.record, self.call.request_hash,
                                 self.scope, held.patient, since=self.call.arrived)
        if verdict == PERMIT:
            return True
        self.withheld += 1
        if verdict == "erased":
            self.service.index.forget(held.record)
        return False

    def _more(self, left: list[Held], seen: set[str]) -> bool:
        """Whether a permitted resource was left out by the cap (asked without an
        audit entry, as a page's ``next`` look-ahead is: nothing is released on it)."""
        decider = self.service.decider
        return any(h.record not in seen and decider.would_permit(
            self.call.grant, h.record, self.scope, h.patient, since=self.call.arrived)
            for h in left)


def _own(held: Held) -> str:
    return patient_id(held.patient) if held.resource_type == "Patient" else held.record


def _capped() -> dict[str, Any]:
    return {"resource": {"resourceType": "OperationOutcome", "issue": [{
        "severity": "information", "code": "too-costly",
        "details": {"text": f"at most {MAX_INCLUDED} resources are included a page: "
                            "search the type with patient=<id> for the rest"}}]},
        "search": {"mode": "outcome"}}
