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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from phrchain.core.errors import CodedError
from phrchain.fhir import RESOURCE_TYPES
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
    """One FHIR request: who asks (the token's grant), the audit request hash, and the
    absolute base URL answers are written against."""

    grant: Grant
    request_hash: str
    base: str


def served_type(resource_type: str) -> None:
    if resource_type not in RESOURCE_TYPES:
        raise UNKNOWN_TYPE(f"{resource_type[:64]} is not a FHIR R4 resource type")
    if resource_type not in SERVED_TYPES:
        raise UNKNOWN_TYPE(f"{resource_type} is not served here (see /metadata)")


class FhirService:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.index = RecordIndex(vault)
        self.decider = Decider(vault)

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
                        self.decider.decide(call.grant, fhir_id, call.request_hash) == "erased":
                    # a record erased here still gets its decision (audited): 410
                    raise GONE(f"{resource_type}/{fhir_id}")
                raise NOT_FOUND(f"{resource_type}/{fhir_id}")
            held = held_or_none
        try:
            self.decider.require(call.grant, held.record, call.request_hash, scope,
                                 held.patient)
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
        q = parse(resource_type or "Patient", params) if resource_type else \
            parse("Observation", [(k, v) for k, v in params if k.startswith("_")
                                  and k != "_id"])
        if everything_of is not None:
            q.patient = everything_of
        if resource_type == "Patient" and q.patient is None:
            q.patient = _single_id(params)
        if q.patient is None:
            if call.grant.patient is None:
                raise BAD_SEARCH_PARAMETER("patient: required (searches are per patient)")
            q.patient = patient_id(call.grant.patient)
        did = self._patient_in_reach(call.grant, q.patient)
        scope = self.decider.consent_in_force(call.grant)
        candidates = self._candidates(call.grant, q, did, resource_type)
        return self._page(call, q, candidates, scope, path, params)

    def _candidates(self, grant: Grant, q: Query, did: str,
                    resource_type: str | None) -> list[Held]:
        held = self.index.of_patient(did)
        found = [h for h in held if (h.resource_type == resource_type if resource_type
                                     else grant.scopes.may_read(h.resource_type))
                 and all(f(h) for f in q.filters)]
        return ordered(found, q.sort)

    def _page(self, call: Call, q: Query, candidates: list[Held], scope: Scope | None,
              path: str, params: Sequence[tuple[str, str]]) -> dict[str, Any]:
        released: list[Held] = []
        withheld, at, following = 0, q.offset, None
        want = len(candidates) if q.summary == "count" else q.count
        while at < len(candidates):
            verdict = self.decider.decide(call.grant, candidates[at].record,
                                          call.request_hash, scope, candidates[at].patient)
            if verdict != PERMIT:
                withheld += 1
                if verdict == "erased":
                    self.index.forget(candidates[at].record)
            elif len(released) < want:
                released.append(candidates[at])
            else:
                following = at
                break
            at += 1
        log.info("fhir search: %d released, %d withheld (in the audit log)",
                 len(released), withheld)
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
        siblings = self.index.siblings(released[0].patient) if released else []
        bundle["entry"] = [{"fullUrl": f"{call.base}{h.resource_type}/{_own(h)}",
                            "resource": present(h, siblings), "search": {"mode": "match"}}
                           for h in released]
        return bundle


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
