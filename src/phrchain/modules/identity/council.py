"""The identity changes only the consortium council may make, by a passed ``governance``
proposal (never by one authority's transaction): admit or remove an authority, freeze or
unfreeze an organization. Re-exported from ``phrchain.modules.identity``; the governance
module calls them when it executes a proposal, after its own checks.

Each raises an identity code when the change is impossible now (the caller records the
refusal and changes nothing).
"""

from __future__ import annotations

from typing import Final

from phrchain.core.state import Overlay
from phrchain.modules.identity import keeper
from phrchain.modules.identity.errors import (
    ALREADY_REVOKED,
    FROZEN,
    LAST_AUTHORITY,
    NOT_FOUND,
    UNAUTHORIZED,
)
from phrchain.modules.identity.handlers import ACTIVE, REVOKED, new_identity

# ``admitted_by`` of an authority the council admitted (and the ``admitted_by`` its
# proof of possession names: ``admission_bytes(chain_id, COUNCIL, did, enc_key)``).
COUNCIL: Final = "governance"


def admit_authority(state: Overlay, did: str, enc_key: bytes, name: str, height: int) -> None:
    """A new authority (its proof of possession was checked by the caller)."""
    new_identity(state, did, "authority", enc_key, COUNCIL, height, name=name)


def remove_authority(state: Overlay, did: str, reason: str, height: int) -> None:
    """Revoke authority ``did``; refused if it is not an active authority or is the last."""
    record = keeper.get(state, did)
    if record is None or record["kind"] != "authority":
        raise NOT_FOUND(f"{did} is not an authority")
    if record["status"] != ACTIVE:
        raise ALREADY_REVOKED(did)
    if not any(other != did and (r := keeper.get(state, other)) is not None
               and r["status"] == ACTIVE for other in keeper.of_kind(state, "authority")):
        raise LAST_AUTHORITY("the chain would be left without governance")
    record["status"] = REVOKED
    record["revoked_at"] = height
    record["revocation_reason"] = reason
    keeper.put(state, record)


def _organization(state: Overlay, did: str) -> None:
    record = keeper.get(state, did)
    if record is None or record["kind"] != "organization":
        raise NOT_FOUND(f"{did} is not an organization")
    if record["status"] != ACTIVE:
        raise ALREADY_REVOKED(did)


def freeze(state: Overlay, org: str, height: int) -> None:
    """Freeze an active organization: it and its staff stop acting (``parties.acting``)
    and signing (the ante answers ``identity/12 frozen``) until :func:`unfreeze`."""
    _organization(state, org)
    if keeper.frozen_since(state, org) is not None:
        raise FROZEN(f"{org} is frozen already")
    keeper.set_frozen(state, org, height)


def unfreeze(state: Overlay, org: str) -> None:
    _organization(state, org)
    if keeper.frozen_since(state, org) is None:
        raise UNAUTHORIZED(f"{org} is not frozen")
    keeper.set_frozen(state, org, None)
