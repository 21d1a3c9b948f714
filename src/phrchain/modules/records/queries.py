"""Records queries (read-only, at any retained height; lists paged as in ``paging``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.paging import object_id, page, paging, text
from phrchain.modules.records import keeper, keys


def by_id(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One record's descriptor (or tombstone), provable against the app hash."""
    record_id = object_id(data, "record")
    return QueryResult(keeper.get(state, record_id), keys.record_key(record_id))


def by_patient(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A patient's record ids (every status), by id."""
    patient, pg = text(data, "patient"), paging(data)
    ids, after = page(pg, lambda a: keeper.of_patient(state, patient, a))
    return QueryResult({"patient": patient, "records": ids, "next": after})


def holders(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """The organizations whose vaults hold a record's ciphertext."""
    record_id = object_id(data, "record")
    return QueryResult({"record": record_id, "holders": keeper.holders(state, record_id)})


QUERIES: Final[Mapping[str, Query]] = {"get": by_id, "patient": by_patient,
                                       "holders": holders}
