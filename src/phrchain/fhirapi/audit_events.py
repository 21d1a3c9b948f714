"""``GET /AuditEvent``: the patient's verifiable audit trail as FHIR ``AuditEvent`` s.

The chain's audit log of a patient (``audit/entries``) holds sealed entries; the
entries this institution appended are sealed to it too (``vault/audit_seal.py``), so
the gateway opens those with its key, checks each against its commitment, and maps it
with ``phrchain.fhir.audit_to_fhir`` (``recorded``: the block time of the leaf's
height). A patient token reads its own trail; the institution's own backend token reads
any patient's (``patient`` required). Others: 403. Parameters: ``patient``, ``entity``
(a record: ``<id>`` or ``Type/<id>``), ``agent`` (an accessor DID), ``date`` (prefixes),
``_count`` (paging by log position, absolute links).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Final
from urllib.parse import urlencode

from phrchain.core.errors import CodedError
from phrchain.fhir import audit_to_fhir
from phrchain.fhirapi.errors import BAD_SEARCH_PARAMETER, FORBIDDEN
from phrchain.fhirapi.index import instant, patient_did, patient_id
from phrchain.fhirapi.search import check_id, date_matcher
from phrchain.fhirapi.service import Call
from phrchain.gateway.service import wall_clock_ms
from phrchain.vault.audit_seal import open_entry

if TYPE_CHECKING:
    from phrchain.fhirapi.routes import FhirApi

PAGE: Final = 100
_KNOWN: Final = frozenset({"patient", "entity", "agent", "date", "_count", "_offset"})


def search_audit(api: FhirApi, call: Call, params: Sequence[tuple[str, str]]
                 ) -> dict[str, Any]:
    given = dict(params)
    for name, _ in params:
        if name not in _KNOWN:
            raise BAD_SEARCH_PARAMETER(f"{name}: not a supported parameter of AuditEvent")
    grant, vault = call.grant, api.vault
    if not grant.scopes.may_read("AuditEvent"):
        raise FORBIDDEN("no read scope for AuditEvent")
    pid = given.get("patient", "").removeprefix("Patient/") or (
        patient_id(grant.patient) if grant.patient else "")
    if not pid:
        raise BAD_SEARCH_PARAMETER("patient: required")
    did = patient_did(check_id(pid))
    if grant.patient is not None:
        api.service.decider.consent_in_force(grant)
        if did != grant.patient:
            raise FORBIDDEN("a patient token reads its own audit trail only")
    elif grant.client_id != vault.org:
        raise FORBIDDEN("only the patient and the institution read this trail here")
    count = _int(given.get("_count", "20"), "_count", 1, PAGE)
    start = _int(given.get("_offset", "0"), "_offset", 0, 1 << 40)
    when = date_matcher("date", given["date"]) if "date" in given else None
    entity = given.get("entity", "").rsplit("/", 1)[-1]
    agent = given.get("agent", "")
    page = vault.query("audit/entries", {"patient": did, "start": start, "limit": count})
    events = []
    for item in page["entries"]:
        event = _event(api, item["entry"])
        if event is None or (entity and entity not in _entity_ids(event)) \
                or (agent and agent not in _agents(event)):
            continue
        if when is not None and not when(_recorded_range(event)):
            continue
        events.append(event)
    links = [{"relation": "self", "url": _url(call.base, params, start)}]
    if page.get("next") is not None:
        links.append({"relation": "next", "url": _url(call.base, params, page["next"])})
    if start > 0:
        links.append({"relation": "previous",
                      "url": _url(call.base, params, max(0, start - count))})
    return {"resourceType": "Bundle", "type": "searchset",
            "timestamp": instant(wall_clock_ms()), "link": links,
            "entry": [{"fullUrl": f"{call.base}AuditEvent/{e['id']}", "resource": e,
                       "search": {"mode": "match"}} for e in events]}


def _event(api: FhirApi, leaf: dict[str, Any]) -> dict[str, Any] | None:
    vault = api.vault
    if vault.org not in (leaf.get("sealed") or {}).get("keys", {}):
        return None  # appended by another institution: not ours to open
    try:
        opened = open_entry(leaf, vault.org, vault.org_enc)
    except CodedError:
        return None
    merged = {**opened, **{k: leaf[k] for k in ("patient", "index", "height", "vault",
                                                 "request")}}
    event = audit_to_fhir(merged, time_ms=_block_time(api, int(leaf["height"])))
    for entity in event["entity"]:  # the patient as this endpoint names it
        if entity.get("what", {}).get("type") == "Patient":
            entity["what"] = {"reference": f"Patient/{patient_id(str(leaf['patient']))}"}
    return event


def _block_time(api: FhirApi, height: int) -> int:
    chain: Any = api.vault.chain
    node = getattr(chain, "node", None)
    if node is not None:
        block = node.block(height)
        return int(block[0].header.time_ms) if block is not None else 0
    found = chain.client.block(height)
    return int(found["signed_header"]["header"]["time_ms"])


def _entity_ids(event: dict[str, Any]) -> set[str]:
    return {str(e["what"].get("identifier", {}).get("value", "")) for e in event["entity"]}


def _agents(event: dict[str, Any]) -> set[str]:
    return {str(a["who"].get("identifier", {}).get("value", "")) for a in event["agent"]}


def _recorded_range(event: dict[str, Any]) -> tuple[int, int]:
    from phrchain.fhirapi.search import value_range
    found = value_range(event["recorded"])
    return found if found is not None else (0, 1)


def _int(value: str, name: str, lo: int, hi: int) -> int:
    if not value.isdigit() or not lo <= int(value) <= hi:
        raise BAD_SEARCH_PARAMETER(f"{name}: an integer from {lo} to {hi}")
    return int(value)


def _url(base: str, params: Sequence[tuple[str, str]], offset: int) -> str:
    kept = [(k, v) for k, v in params if k != "_offset"]
    kept += [("_offset", str(offset))] if offset else []
    return f"{base}AuditEvent" + (f"?{urlencode(kept)}" if kept else "")
