"""Records queries (read-only, at any retained height; lists paged as in ``paging``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.fields import is_id
from phrchain.modules.paging import object_id, page, paging, text
from phrchain.modules.records import keeper, keys

MAX_MANY: Final = 256  # record ids per ``records/many`` query


def by_id(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One record's descriptor (or tombstone), provable against the app hash."""
    record_id = object_id(data, "record")
    return QueryResult(keeper.get(state, record_id), keys.record_key(record_id))


def by_patient(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A patient's record ids (every status), by id."""
    patient, pg = text(data, "patient"), paging(data)
    ids, after = page(pg, lambda a: keeper.of_patient(state, patient, a))
    return QueryResult({"patient": patient, "records": ids, "next": after})


def many(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Several records' descriptors (or tombstones, or ``None``) at once: ``records`` is
    up to :data:`MAX_MANY` distinct ids, comma-separated (or a list). The same answers
    as ``records/get`` each, in one round trip; no proof (ask ``records/get`` for one)."""
    raw = data.get("records")
    ids = raw.split(",") if isinstance(raw, str) else raw
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_MANY \
            or not all(isinstance(i, str) and is_id(i) for i in ids) \
            or len(set(ids)) != len(ids):
        raise BAD_QUERY(f"'records' must be 1 to {MAX_MANY} distinct object ids "
                        "(32 lowercase hex characters), comma-separated")
    return QueryResult({"records": {i: keeper.get(state, i) for i in ids}})


def holders(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """The organizations whose vaults hold a record's ciphertext."""
    record_id = object_id(data, "record")
    return QueryResult({"record": record_id, "holders": keeper.holders(state, record_id)})


QUERIES: Final[Mapping[str, Query]] = {"get": by_id, "patient": by_patient,
                                       "holders": holders, "many": many}
