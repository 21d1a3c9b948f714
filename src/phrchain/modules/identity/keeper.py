"""The only code that reads or writes the ``identity/`` key prefix.

State layout (values are canonical JSON unless noted)::

    identity/id/<did>                    -> identity record (see README)
    identity/nonce/<did>                 -> last used tx nonce (decimal ASCII)
    identity/member/<org did>/<did>      -> b"1"   practitioners of an organization
    identity/role/<role>/<did>           -> b"1"   practitioners holding a role
    identity/kind/<kind>[/<org_type>]/<did> -> b"1"  identities by kind (and org type)
    identity/key/<pubkey hex>            -> did    signing keys bound now or ever
    identity/frozen/<org did>            -> height the freeze was decided (decimal ASCII)
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from typing import Final, NotRequired, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.identity.keys import (
    KIND,
    MEMBER,
    ROLE,
    frozen_key,
    id_key,
    key_owner_key,
    nonce_key,
)
from phrchain.modules.identity.messages import ORG_TYPES
from phrchain.modules.paging import suffixes
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"



class Record(TypedDict):
    """An identity as stored at ``identity/id/<did>`` (README "Kinds"): the common fields,
    then those of one kind, then those a rotation or revocation adds."""

    did: str
    kind: str                      # authority | organization | practitioner | patient
    status: str                    # active | revoked
    signing_key: str               # hex
    enc_key: str                   # hex
    admitted_by: str               # admitting DID, "genesis", or the patient itself
    since: int                     # height
    name: NotRequired[str]         # authority, organization
    org_type: NotRequired[str]     # organization
    organization: NotRequired[str]  # practitioner
    roles: NotRequired[list[str]]  # practitioner
    rotated_at: NotRequired[int]
    revoked_at: NotRequired[int]
    revocation_reason: NotRequired[str]


def get(state: Reader, did: str) -> Record | None:
    found: Record | None = json_get(state, id_key(did))
    return found


def put(state: Overlay, record: Record) -> None:
    json_put(state, id_key(record["did"]), record)


def last_nonce(state: Reader, did: str) -> int:
    raw = state.get(nonce_key(did))
    return 0 if raw is None else int(raw)


def set_nonce(state: Overlay, did: str, nonce: int) -> None:
    state.set(nonce_key(did), str(nonce).encode())


def key_owner(state: Reader, public_key: bytes) -> str | None:
    raw = state.get(key_owner_key(public_key))
    return None if raw is None else raw.decode()


def bind_key(state: Overlay, public_key: bytes, did: str) -> None:
    state.set(key_owner_key(public_key), did.encode())


def index(state: Overlay, record: Record) -> None:
    did = record["did"].encode()
    kind = record["kind"] + ("/" + record["org_type"] if "org_type" in record else "")
    state.set(KIND + kind.encode() + b"/" + did, _MARK)
    if record["kind"] == "practitioner":
        state.set(MEMBER + record["organization"].encode() + b"/" + did, _MARK)
        for role in record["roles"]:
            state.set(ROLE + role.encode() + b"/" + did, _MARK)


def unindex_roles(state: Overlay, record: Record) -> None:
    for role in record.get("roles", ()):
        state.delete(ROLE + role.encode() + b"/" + record["did"].encode())


def _dids_after(state: Reader, prefix: bytes, after: str | None) -> Iterator[str]:
    return suffixes(state, prefix, after)


def members(state: Reader, org: str, after: str | None = None) -> Iterator[str]:
    """Practitioners ever admitted by ``org`` (any status), in DID order."""
    return _dids_after(state, MEMBER + org.encode() + b"/", after)


def with_role(state: Reader, role: str, after: str | None = None) -> Iterator[str]:
    """Active practitioners holding ``role``, in DID order (their organization may be
    revoked: callers filter)."""
    return _dids_after(state, ROLE + role.encode() + b"/", after)


def of_kind(state: Reader, kind: str, after: str | None = None) -> Iterator[str]:
    """DIDs of a kind (any status), in DID order; ``kind`` may be
    ``organization/<org_type>``. Plain ``organization`` merges the per-type indexes,
    so that the order (and ``after``) stays by DID."""
    if kind == "organization":
        return heapq.merge(*(of_kind(state, f"organization/{t}", after)
                             for t in sorted(ORG_TYPES)))
    return _dids_after(state, KIND + kind.encode() + b"/", after)


def frozen_since(state: Reader, did: str) -> int | None:
    """The height at which governance froze ``did``, or None if it is not frozen."""
    raw = state.get(frozen_key(did))
    return None if raw is None else int(raw)


def set_frozen(state: Overlay, did: str, height: int | None) -> None:
    if height is None:
        state.delete(frozen_key(did))
    else:
        state.set(frozen_key(did), str(height).encode())
