"""Consent queries: consents, the access decision, and who to wrap a new record's key for."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult, block_of
from phrchain.core.state import Reader
from phrchain.modules.consent import keeper, keys
from phrchain.modules.consent.decide import ACTIONS, decide
from phrchain.modules.consent.messages import PURPOSES, Grantee, Scope
from phrchain.modules.identity import parties
from phrchain.modules.paging import object_id, page, paging, text
from phrchain.modules.records.messages import CATEGORIES, RESOURCE_RE

MAX_READERS: Final = 256


def by_id(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    consent_id = object_id(data, "consent")
    return QueryResult(keeper.get(state, consent_id), keys.consent_key(consent_id))


def by_patient(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    patient, pg = text(data, "patient"), paging(data)
    ids, after = page(pg, lambda a: keeper.of_patient(state, patient, a))
    return QueryResult({"patient": patient, "consents": ids, "next": after})


def by_grantee(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Consents naming a grantee (a DID, or ``role:<role>``), any status."""
    grantee, pg = text(data, "grantee"), paging(data)
    ids, after = page(pg, lambda a: keeper.of_grantee(state, grantee, a))
    return QueryResult({"grantee": grantee, "consents": ids, "next": after})


def _choice(data: Mapping[str, Any], name: str, allowed: frozenset[str]) -> str:
    value = text(data, name)
    if value not in allowed:
        raise BAD_QUERY(f"'{name}' must be one of {sorted(allowed)}")
    return value


def decision(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """``decide`` at the queried height, at that height's block time."""
    height, now_ms = block_of(state)
    d = decide(state, text(data, "accessor"), _choice(data, "action", ACTIONS),
               object_id(data, "record"), _choice(data, "purpose", PURPOSES), now_ms)
    return QueryResult({**d.to_json(), "height": height, "time_ms": now_ms})


def _grantee_dids(state: Reader, grantee: Grantee) -> list[str]:
    if grantee.kind == "practitioner":
        return [grantee.id]
    if grantee.kind == "organization":
        return [grantee.id, *parties.members(state, grantee.id)]
    return [did for did in parties.with_role(state, grantee.id)
            if grantee.organization is None
            or ((found := parties.get(state, did)) is not None
                and found.get("organization") == grantee.organization)]


def readers(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Who a new record's data key must be wrapped for besides its author and custodian:
    the patient, and every acting grantee of a consent (read or pull, not yet ended)
    that covers a record of this resource type and category."""
    patient = text(data, "patient")
    record_id = data.get("record", "")
    probe: dict[str, Any] = {"record": record_id}
    if "resource" in data or "category" in data:  # v1 callers; v2 records have neither
        resource, category = text(data, "resource"), text(data, "category")
        if RESOURCE_RE.fullmatch(resource) is None or category not in CATEGORIES:
            raise BAD_QUERY("'resource' must be a resource type and 'category' a category")
        probe.update(resource=resource, category=category)
    _, now_ms = block_of(state)
    dids: dict[str, None] = {patient: None}
    for consent_id in keeper.of_patient(state, patient):
        consent = keeper.get(state, consent_id)
        assert consent is not None
        if consent["status"] != "active" or consent["period"]["end_ms"] <= now_ms \
                or not {"read", "pull"} & set(consent["actions"]) \
                or not Scope.parse(consent["scope"]).covers(probe):
            continue
        for did in _grantee_dids(state, Grantee.parse(consent["grantee"])):
            dids.setdefault(did)
    out = []
    for did in dids:
        identity = parties.acting(state, did)
        if identity is not None:
            out.append({"did": did, "enc_key": identity["enc_key"]})
        if len(out) == MAX_READERS:
            break
    return QueryResult({"patient": patient, "readers": out})


QUERIES: Final[Mapping[str, Query]] = {
    "get": by_id, "patient": by_patient, "grantee": by_grantee, "decide": decision,
    "readers": readers,
}
