"""Exchange queries: pull requests by id, by patient (their inbox), by requester."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.exchange import keeper, keys
from phrchain.modules.paging import object_id, page, paging, text


def by_id(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    request_id = object_id(data, "request")
    return QueryResult(keeper.get(state, request_id), keys.request_key(request_id))


def to_patient(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    patient, pg = text(data, "patient"), paging(data)
    ids, after = page(pg, lambda a: keeper.to_patient(state, patient, a))
    return QueryResult({"patient": patient, "requests": ids, "next": after})


def by_requester(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    requester, pg = text(data, "requester"), paging(data)
    ids, after = page(pg, lambda a: keeper.by_requester(state, requester, a))
    return QueryResult({"requester": requester, "requests": ids, "next": after})


QUERIES: Final[Mapping[str, Query]] = {"get": by_id, "patient": to_patient,
                                       "requester": by_requester}
