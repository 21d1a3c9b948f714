"""Identity queries (read-only, at any retained height).

Lists are paged as ``phrchain.modules.paging`` describes.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.identity import keeper, keys
from phrchain.modules.identity.messages import ORG_TYPES, ROLES
from phrchain.modules.paging import page, paging, text

KINDS: Final = frozenset({"authority", "organization", "practitioner", "patient"})
_ACTIVE: Final = "active"


def _active(state: Reader, did: str, kind: str) -> bool:
    record = keeper.get(state, did)
    return record is not None and record["kind"] == kind and record["status"] == _ACTIVE


def by_did(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = text(data, "did")
    return QueryResult(keeper.get(state, did), keys.id_key(did))


def nonce(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = text(data, "did")
    return QueryResult({"did": did, "last_nonce": keeper.last_nonce(state, did)})


def by_organization(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Active practitioners of an *active* organization: the staff who can act now."""
    org, pg = text(data, "organization"), paging(data)
    if not _active(state, org, "organization"):
        return QueryResult({"organization": org, "members": [], "next": None})
    members, after = page(pg, lambda a: keeper.members(state, org, a),
                           lambda did: _active(state, did, "practitioner"))
    return QueryResult({"organization": org, "members": members, "next": after})


def by_role(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Active practitioners holding a role whose organization is active too. Revoking an
    organization leaves its staff's role index entries in place (rewriting them all in
    one tx could exceed its write limit), so the organization is checked here."""
    role, pg = text(data, "role"), paging(data)
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

    dids, after = page(pg, lambda a: keeper.with_role(state, role, a), keep)
    return QueryResult({"role": role, "dids": dids, "next": after})


def by_kind(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Every identity ever created of a kind, whatever its status (the directory)."""
    kind, pg = text(data, "kind"), paging(data)
    base, _, org_type = kind.partition("/")
    if base not in KINDS or (org_type and (base != "organization" or org_type not in ORG_TYPES)):
        raise BAD_QUERY(f"kind must be one of {sorted(KINDS)} or organization/<org_type>")
    dids, after = page(pg, lambda a: keeper.of_kind(state, kind, a))
    return QueryResult({"kind": kind, "dids": dids, "next": after})


QUERIES: Final[Mapping[str, Query]] = {
    "did": by_did,
    "nonce": nonce,
    "organization": by_organization,
    "role": by_role,
    "kind": by_kind,
}
