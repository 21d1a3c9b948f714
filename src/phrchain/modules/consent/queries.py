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
    """Who a record's data key must be wrapped for besides its author and custodian: the
    patient, and every acting grantee of a consent (read or pull, not yet ended) that
    covers it. Scopes name record ids, so a new record (no ``record``, or an id no
    consent names yet) is covered by ``all`` consents only; with ``record``, consents
    naming that id count too (a copy of an existing record written to a new vault)."""
    patient = text(data, "patient")
    if {"resource", "category"} & set(data):
        raise BAD_QUERY("'resource' and 'category' are not arguments: consents name record "
                        "ids or all records; give 'record' for an existing record")
    record_id = object_id(data, "record") if "record" in data else None
    _, now_ms = block_of(state)
    dids: dict[str, None] = {patient: None}
    for consent_id in keeper.of_patient(state, patient):
        consent = keeper.get(state, consent_id)
        assert consent is not None
        scope = Scope.stored(consent["scope"])
        if consent["status"] != "active" or consent["period"]["end_ms"] <= now_ms \
                or not {"read", "pull"} & set(consent["actions"]) \
                or not (scope.all or (record_id is not None and scope.names(record_id))):
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
