"""Read-only views of identities that the other modules decide on: identity's public
face (re-exported from ``phrchain.modules.identity``; other modules never read the keeper).

A practitioner acts only while both they and their organization are active: revoking a
hospital stops its whole staff at once, with no per-practitioner transaction. An
organization frozen by consortium governance (``governance`` module, ``council.py``) does
not act either, nor does its staff, until it is unfrozen.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

from phrchain.core.state import Reader
from phrchain.modules.identity import keeper

ACTIVE: Final = "active"
# Organization types that author and keep clinical records.
CARE_ORG_TYPES: Final = frozenset({"hospital", "clinic", "pharmacy"})

Identity = keeper.Record


def get(state: Reader, did: str) -> Identity | None:
    """``did``'s identity record, whatever its status; None if never registered."""
    return keeper.get(state, did)


def members(state: Reader, org: str) -> Iterator[str]:
    """Practitioners ever admitted by ``org`` (any status), in DID order."""
    return keeper.members(state, org)


def with_role(state: Reader, role: str) -> Iterator[str]:
    """Active practitioners holding ``role``, in DID order (their organization may be
    revoked: callers filter)."""
    return keeper.with_role(state, role)


def acting(state: Reader, did: str) -> Identity | None:
    """``did``'s identity if it may act now: active and not frozen, and for a
    practitioner with an active organization that is not frozen; else None."""
    identity = keeper.get(state, did)
    if identity is None or identity["status"] != ACTIVE:
        return None
    if identity["kind"] == "organization" and keeper.frozen_since(state, did) is not None:
        return None
    if identity["kind"] == "practitioner":
        org_did = identity["organization"]
        org = keeper.get(state, org_did)
        if org is None or org["status"] != ACTIVE \
                or keeper.frozen_since(state, org_did) is not None:
            return None
    return identity


def acting_with_org(state: Reader, did: str
                    ) -> tuple[Identity, str | None, str | None] | None:
    """:func:`acting`, :func:`organization_of` and that organization's :func:`org_type`
    with each record read once: ``(identity, org, org type)``, or None when ``did`` may
    not act now (org and type are None for an identity that acts for no organization)."""
    identity = keeper.get(state, did)
    if identity is None or identity["status"] != ACTIVE:
        return None
    if identity["kind"] == "organization":
        if keeper.frozen_since(state, did) is not None:
            return None
        return identity, did, str(identity["org_type"])
    if identity["kind"] != "practitioner":
        return identity, None, None
    org_did = str(identity["organization"])
    org = keeper.get(state, org_did)
    if org is None or org["status"] != ACTIVE or keeper.frozen_since(state, org_did) is not None:
        return None
    return identity, org_did, str(org["org_type"]) if org["kind"] == "organization" else None


def is_frozen(state: Reader, did: str) -> bool:
    """Whether governance keeps organization ``did`` frozen now."""
    return keeper.frozen_since(state, did) is not None


def authorities(state: Reader) -> list[str]:
    """The active authorities (the consortium council), in DID order."""
    return [did for did in keeper.of_kind(state, "authority")
            if (record := keeper.get(state, did)) is not None and record["status"] == ACTIVE]


def organization_of(identity: Identity) -> str | None:
    """The organization an identity acts for: itself, its employer, or None."""
    if identity["kind"] == "organization":
        return str(identity["did"])
    if identity["kind"] == "practitioner":
        return str(identity["organization"])
    return None


def org_type(state: Reader, org: str) -> str | None:
    identity = keeper.get(state, org)
    if identity is None or identity["kind"] != "organization":
        return None
    return str(identity["org_type"])


def has_role(identity: Identity, role: str) -> bool:
    return identity["kind"] == "practitioner" and role in identity["roles"]


def active_patient(state: Reader, did: str) -> bool:
    identity = keeper.get(state, did)
    return identity is not None and identity["kind"] == "patient" \
        and identity["status"] == ACTIVE


def is_regulator_officer(state: Reader, identity: Identity) -> bool:
    """A regulator organization, or an auditor practitioner of one."""
    org = organization_of(identity)
    if org is None or org_type(state, org) != "regulator":
        return False
    return identity["kind"] == "organization" or has_role(identity, "auditor")
