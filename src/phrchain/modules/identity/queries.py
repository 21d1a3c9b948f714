"""Identity queries (read-only, at any retained height).

Lists are paged: ``limit`` (default 100, at most 1000) and ``after`` (exclusive: the
last DID of the previous page). Every list answer carries ``next``: the DID to pass as
``after`` for the following page, or ``None`` when there is nothing more. ``limit`` may
be an integer or a decimal string (``GET /v1/query/...`` passes every parameter as a
string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.identity import keeper
from phrchain.modules.identity.messages import ORG_TYPES, ROLES

KINDS: Final = frozenset({"authority", "organization", "practitioner", "patient"})
DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_DECIMAL: Final = re.compile(r"[1-9][0-9]{0,3}")
_ACTIVE: Final = "active"


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise BAD_QUERY(f"'{name}' must be a non-empty string")
    return value


def _paging(data: Mapping[str, Any]) -> tuple[int, str | None]:
    """``(limit, after)`` of a list query."""
    limit = data.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, str) and _DECIMAL.fullmatch(limit):
        limit = int(limit)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise BAD_QUERY(f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    return limit, (_str(data, "after") if data.get("after") is not None else None)


def _page(paging: tuple[int, str | None], dids: Callable[[str | None], Iterator[str]],
          keep: Callable[[str], bool] = lambda _: True) -> tuple[list[str], str | None]:
    """Up to ``limit`` kept DIDs after ``after``, and the ``next`` cursor."""
    limit, after = paging
    page: list[str] = []
    for did in dids(after):
        if not keep(did):
            continue
        if len(page) == limit:
            return page, page[-1]  # one more exists: the client continues after our last
        page.append(did)
    return page, None


def _active(state: Reader, did: str, kind: str) -> bool:
    record = keeper.get(state, did)
    return record is not None and record["kind"] == kind and record["status"] == _ACTIVE


def by_did(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = _str(data, "did")
    return QueryResult(keeper.get(state, did), keeper.id_key(did))


def nonce(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = _str(data, "did")
    return QueryResult({"did": did, "last_nonce": keeper.last_nonce(state, did)})


def by_organization(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Active practitioners of an *active* organization: the staff who can act now."""
    org, paging = _str(data, "organization"), _paging(data)
    if not _active(state, org, "organization"):
        return QueryResult({"organization": org, "members": [], "next": None})
    members, after = _page(paging, lambda a: keeper.members(state, org, a),
                           lambda did: _active(state, did, "practitioner"))
    return QueryResult({"organization": org, "members": members, "next": after})


def by_role(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Active practitioners holding a role whose organization is active too. Revoking an
    organization leaves its staff's role index entries in place (rewriting them all in
    one tx could exceed its write limit), so the organization is checked here."""
    role, paging = _str(data, "role"), _paging(data)
    if role not in ROLES:
        raise BAD_QUERY(f"role must be one of {sorted(ROLES)}")
    org_active: dict[str, bool] = {}

    def keep(did: str) -> bool:
        record = keeper.get(state, did)
        if record is None or record["status"] != _ACTIVE:
            return False
        org = record["organization"]
        if org not in org_active:
            org_active[org] = _active(state, org, "organization")
        return org_active[org]

    dids, after = _page(paging, lambda a: keeper.with_role(state, role, a), keep)
    return QueryResult({"role": role, "dids": dids, "next": after})


def by_kind(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Every identity ever created of a kind, whatever its status (the directory)."""
    kind, paging = _str(data, "kind"), _paging(data)
    base, _, org_type = kind.partition("/")
    if base not in KINDS or (org_type and (base != "organization" or org_type not in ORG_TYPES)):
        raise BAD_QUERY(f"kind must be one of {sorted(KINDS)} or organization/<org_type>")
    dids, after = _page(paging, lambda a: keeper.of_kind(state, kind, a))
    return QueryResult({"kind": kind, "dids": dids, "next": after})


QUERIES: Final[Mapping[str, Query]] = {
    "did": by_did,
    "nonce": nonce,
    "organization": by_organization,
    "role": by_role,
    "kind": by_kind,
}
