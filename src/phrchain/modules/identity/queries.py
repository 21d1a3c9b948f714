"""Identity queries (read-only, at any retained height)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.identity import keeper
from phrchain.modules.identity.messages import ORG_TYPES, ROLES

KINDS: Final = frozenset({"authority", "organization", "practitioner", "patient"})


def _str(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise BAD_QUERY(f"'{name}' must be a non-empty string")
    return value


def by_did(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = _str(data, "did")
    return QueryResult(keeper.get(state, did), keeper.id_key(did))


def nonce(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = _str(data, "did")
    return QueryResult({"did": did, "last_nonce": keeper.last_nonce(state, did)})


def by_organization(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    org = _str(data, "organization")
    return QueryResult({"organization": org, "members": keeper.members(state, org)})


def by_role(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    role = _str(data, "role")
    if role not in ROLES:
        raise BAD_QUERY(f"role must be one of {sorted(ROLES)}")
    return QueryResult({"role": role, "dids": keeper.with_role(state, role)})


def by_kind(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    kind = _str(data, "kind")
    base, _, org_type = kind.partition("/")
    if base not in KINDS or (org_type and (base != "organization" or org_type not in ORG_TYPES)):
        raise BAD_QUERY(f"kind must be one of {sorted(KINDS)} or organization/<org_type>")
    return QueryResult({"kind": kind, "dids": keeper.of_kind(state, kind)})


QUERIES: Final[Mapping[str, Query]] = {
    "did": by_did,
    "nonce": nonce,
    "organization": by_organization,
    "role": by_role,
    "kind": by_kind,
}
