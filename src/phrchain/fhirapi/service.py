"""The FHIR interactions, framework-free: read, vread, search, ``$everything``.

Every resource in an answer passed :meth:`Decider.decide` for this request. A search is
paged over its ordered candidates (the patient's matching records held here): a page
decides candidates in order until it has ``_count`` permitted ones and one more (so a
``next`` link is given only when a permitted resource follows: the caller never learns
that withheld ones exist), and carries the candidate offset of the next page, and the
offsets of the pages before it, in its absolute ``next``/``previous`` links.
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any, Final, Protocol
from urllib.parse import urlencode

from phrchain.core.errors import CodedError
from phrchain.fhir import RESOURCE_TYPES
from phrchain.fhirapi import elements, include
from phrchain.fhirapi.access import PERMIT, Decider
from phrchain.fhirapi.errors import (
    BAD_SEARCH_PARAMETER,
    GONE,
    INSUFFICIENT_SCOPE,
    NOT_FOUND,
    UNKNOWN_TYPE,
    UNKNOWN_VERSION,
)
from phrchain.fhirapi.index import Held, RecordIndex, instant, patient_did, patient_id, present
from phrchain.fhirapi.search import SERVED_TYPES, Query, check_id, ordered, parse
from phrchain.fhirapi.smart import Grant
from phrchain.gateway.service import Vault, wall_clock_ms
from phrchain.modules.consent.messages import Scope

log = logging.getLogger(__name__)
_RECORD: Final = re.compile(r"[0-9a-f]{32}")


@dataclass(frozen=True, slots=True)
class Call:
    """One FHIR request: who asks (the token's grant), the audit request hash, the
    absolute base URL answers are written against, and when it arrived (its decisions
    are made at a height the node had committed after then: one probe of the node's
    height for all of them, ``Vault.access(since=)``)."""

    grant: Grant
    request_hash: str
    base: str
    arrived: float = field(default_factory=time.monotonic)


def served_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise UNKNOWN_TYPE(f"{resource_type[:64]} is not a FHIR R4 resource type")
    if resource_type not in SERVED_TYPES:
        raise UNKNOWN_TYPE(f"{resource_type} is not served here (see /metadata)")


class Index(Protocol):
    """Where a service finds the records it serves (:class:`RecordIndex`: a vault's
    held records; the patient wallet's: the records it opened, ``web/fhir.py``)."""

    def of_patient(self, patient: str) -> list[Held]: ...
    def siblings(self, patient: str) -> list[Held]: ...
    def get(self, record: str) -> Held | None: ...
    def forget(self, record: str) -> None: ...


class Deciding(Protocol):
    """Who decides each release (:class:`Decider`: the vault's audited access)."""

    def consent_in_force(self, grant: Grant) -> Scope | None: ...
    def batch(self) -> AbstractContextManager[None]:
        """The decisions of one answer, made inside it, are durable when it ends."""
    def decide(self, grant: Grant, record: str, req_hash: str,
               scope: Scope | None = None, patient: str | None = None, *,
               released: str | None = None, since: float | None = None) -> str: ...
    def require(self, grant: Grant, record: str, req_hash: str,
                scope: Scope | None = None, patient: str | None = None, *,
                since: float | None = None) -> None: ...
    def would_permit(self, grant: Grant, record: str, scope: Scope | None = None,
                     patient: str | None = None, *, since: float | None = None
                     ) -> bool: ...


class ResourceService:
    """Read, vread, search and ``$everything`` over an index, each release decided."""

    def __init__(self, index: Index, decider: Deciding) -> None:
        self.index = index
        self.decider = decider

    # -- read ---------------------------------------------------------------------------
    def read(self, call: Call, resource_type: str, fhir_id: str) -> dict[str, Any]:
        served_type(resource_type)
        check_id(fhir_id)
        if not call.grant.scopes.may_read(resource_type):
            raise INSUFFICIENT_SCOPE(f"no read scope for {resource_type}")
        scope = self.decider.consent_in_force(call.grant)
        if resource_type == "Patient":
            did = self._patient_in_reach(call.grant, fhir_id)
            found = [h for h in self.index.of_patient(did) if h.resource_type == "Patient"]
            if not found:
                raise NOT_FOUND(f"Patient/{fhir_id}")
            held = found[-1]
        else:
            held_or_none = self.index.get(fhir_id) if _RECORD.fullmatch(fhir_id) else None
            if held_or_none is None or held_or_none.resource_type != resource_type:
                if _RECORD.fullmatch(fhir_id) and call.grant.patient is None and \
                        self.decider.decide(call.grant, fhir_id, call.request_hash,
                                            since=call.arrived) == "erased":
                    # a record erased here still gets its decision (audited): 410
                    raise GONE(f"{resource_type}/{fhir_id}")
                raise NOT_FOUND(f"{resource_type}/{fhir_id}")
            held = held_or_none
        try:
            self.decider.require(call.grant, held.record, call.request_hash, scope,
                                 held.patient, since=call.arrived)
        except CodedError as exc:
            if exc.error is GONE:
                self.index.forget(held.record)
            raise
        return present(held, self.index.siblings(held.patient))

    def vread(self, call: Call, resource_type: str, fhir_id: str, version: str
              ) -> dict[str, Any]:
        if version != "1":
            check_id(version)
            served_type(resource_type)
            raise UNKNOWN_VERSION(f"{resource_type}/{fhir_id} has version 1 only")
        return self.read(call, resource_type, fhir_id)

    def _patient_in_reach(self, grant: Grant, fhir_id: str) -> str:
        """The patient a request names. A patient token naming another patient is not
        refused here: each of that patient's records is decided by the vault (denied,
        and audited in that patient's log), so a read is 403 and a search empty."""
        del grant
        return patient_did(check_id(fhir_id))

    # -- search -------------------------------------------------------------------------
    def search(self, call: Call, resource_type: str | None, params: Sequence[tuple[str, str]],
               path: str, everything_of: str | None = None) -> dict[str, Any]:
        """A searchset Bundle (``resource_type`` None with ``everything_of``: every
        type the token may read, for ``Patient/{id}/$everything``)."""
        if resource_type is not None:
            served_type(resource_type)
            if not call.grant.scopes.may_read(resource_type):
                raise INSUFFICIENT_SCOPE(f"no read scope for {resource_type}")
        shape, rest = elements.take(params)  # _elements, _summary=true|text|data
        includes, rest = include.take(resource_type, rest, call.grant.scopes)
        q = parse(resource_type or "Patient", rest) if resource_type else \
            parse("Observation", [(k, v) for k, v in rest if k.startswith("_")
                                  and k != "_id"])
        if everything_of is not None:
            q.patient = everything_of
        if resource_type == "Patient" and q.patient is None:
            q.patient = _single_id(params)
        dids = self._patients(call.grant, q)
        scope = self.decider.consent_in_force(call.grant)
        candidates = self._candidates(call.grant, q, dids, resource_type)
        return self._page(call, q, candidates, scope, path, params, (shape, includes))

    def _patients(self, grant: Grant, q: Query) -> list[str]:
        """The patient DIDs a search covers: the one it names, else the token's own."""
        if q.patient is None:
            if grant.patient is None:
                raise BAD_SEARCH_PARAMETER("patient: required (searches are per patient)")
            q.patient = patient_id(grant.patient)
        return [self._patient_in_reach(grant, q.patient)]

    def _candidates(self, grant: Grant, q: Query, dids: list[str],
                    resource_type: str | None) -> list[Held]:
        held = [h for did in dids for h in self.index.of_patient(did)]
        found = [h for h in held if (h.resource_type == resource_type if resource_type
                                     else grant.scopes.may_read(h.resource_type))
                 and all(f(h) for f in q.filters)]
        return ordered(found, q.sort)

    def _decide_page(self, call: Call, q: Query, candidates: list[Held],
                     scope: Scope | None, count_only: bool) -> tuple[list[Held], int | None]:
        """The resources this page releases, each decided and audited, and where the
        next page starts (None: no permitted resource follows). The page decides
        candidates in order until it has ``_count`` permitted ones; the look-ahead for
        the ``next`` link asks the vault without an audit entry (nothing is released on
        it) and the next page starts right after this one's last decision, so every
        candidate it reaches is decided, and audited, by the page that serves it.
        ``_summary=count`` decides every candidate, each permit audited as released
        ``count`` (the total carries it, not the resource)."""
        released: list[Held] = []
        withheld, at = 0, q.offset
        while at < len(candidates) and (count_only or len(released) < q.count):
            held = candidates[at]
            verdict = self.decider.decide(call.grant, held.record, call.request_hash, scope,
                                          held.patient,
                                          released="count" if count_only else None,
                                          since=call.arrived)
            if verdict == PERMIT:
                released.append(held)
            else:
                withheld += 1
                if verdict == "erased":
                    self.index.forget(held.record)
            at += 1
        log.info("fhir search: %d released, %d withheld (in the audit log)",
                 len(released), withheld)
        if count_only or not any(self.decider.would_permit(call.grant, h.record, scope,
                                                           h.patient, since=call.arrived)
                                 for h in candidates[at:]):
            return released, None
        return released, at

    def _page(self, call: Call, q: Query, candidates: list[Held], scope: Scope | None,
              path: str, params: Sequence[tuple[str, str]],
              shaping: tuple[elements.Shape, include.Includes] = (elements.Shape(),
                                                                  include.Includes())
              ) -> dict[str, Any]:
        count_only = q.summary == "count"
        shape, includes = shaping
        with self.decider.batch():  # the page's audit entries: one journal commit
            released, following = self._decide_page(call, q, candidates, scope, count_only)
            included = [] if count_only else include.Including(self, call, scope).entries(
                includes, released, lambda h: shape.apply(
                    present(h, self.index.siblings(h.patient)), matched=False))
        bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset",
                                  "timestamp": instant(wall_clock_ms())}
        if q.summary == "count":
            bundle["total"] = len(released)
            return bundle
        base_params = [(k, v) for k, v in params if k not in ("_offset", "_pages")]
        links = [{"relation": "self", "url": _url(call.base, path, base_params
                                                  + _cursor(q.offset, q.pages))}]
        if following is not None:
            links.append({"relation": "next", "url": _url(
                call.base, path, base_params + _cursor(following, [*q.pages, q.offset]))})
        if q.offset > 0 and q.pages:
            links.append({"relation": "previous", "url": _url(
                call.base, path, base_params + _cursor(q.pages[-1], q.pages[:-1]))})
        bundle["link"] = links
        bundle["entry"] = [{"fullUrl": f"{call.base}{h.resource_type}/{_own(h)}",
                            "resource": shape.apply(present(h, self.index.siblings(h.patient))),
                            "search": {"mode": "match"}} for h in released] + included
        return bundle


class FhirService(ResourceService):
    """A vault gateway's: the records it holds, each release the vault's decision."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.records = RecordIndex(vault)
        super().__init__(self.records, Decider(vault))


def _own(h: Held) -> str:
    return patient_id(h.patient) if h.resource_type == "Patient" else h.record


def _single_id(params: Sequence[tuple[str, str]]) -> str | None:
    ids = [v for k, v in params if k == "_id"]
    return ids[0] if len(ids) == 1 and "," not in ids[0] else None


def _cursor(offset: int, pages: Sequence[int]) -> list[tuple[str, str]]:
    out = [("_offset", str(offset))] if offset else []
    if pages:
        out.append(("_pages", ",".join(str(p) for p in pages[-64:])))
    return out


def _url(base: str, path: str, params: Sequence[tuple[str, str]]) -> str:
    return f"{base}{path}" + (f"?{urlencode(list(params))}" if params else "")
