"""The only code that reads or writes the ``identity/`` key prefix.

State layout (values are canonical JSON unless noted)::

    identity/id/<did>                    -> identity record (see README)
    identity/nonce/<did>                 -> last used tx nonce (decimal ASCII)
    identity/member/<org did>/<did>      -> b"1"   practitioners of an organization
    identity/role/<role>/<did>           -> b"1"   practitioners holding a role
    identity/kind/<kind>/<did>           -> b"1"   identities by kind (and org type)
    identity/key/<pubkey hex>            -> did    signing keys bound now or ever
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader

PREFIX: Final = b"identity/"
_ID: Final = b"identity/id/"
_NONCE: Final = b"identity/nonce/"
_MEMBER: Final = b"identity/member/"
_ROLE: Final = b"identity/role/"
_KIND: Final = b"identity/kind/"
_KEY: Final = b"identity/key/"
_MARK: Final = b"1"

Record = dict[str, Any]


def id_key(did: str) -> bytes:
    return _ID + did.encode()


def get(state: Reader, did: str) -> Record | None:
    raw = state.get(id_key(did))
    return None if raw is None else encoding.decode(raw)


def put(state: Overlay, record: Record) -> None:
    # Records are built from fields that passed canonical decoding and message checks,
    # so the type walk of encoding.encode would only repeat that work.
    state.set(id_key(record["did"]), encoding.encode_trusted(record))


def last_nonce(state: Reader, did: str) -> int:
    raw = state.get(_NONCE + did.encode())
    return 0 if raw is None else int(raw)


def set_nonce(state: Overlay, did: str, nonce: int) -> None:
    state.set(_NONCE + did.encode(), str(nonce).encode())


def key_owner(state: Reader, public_key: bytes) -> str | None:
    raw = state.get(_KEY + public_key.hex().encode())
    return None if raw is None else raw.decode()


def bind_key(state: Overlay, public_key: bytes, did: str) -> None:
    state.set(_KEY + public_key.hex().encode(), did.encode())


def index(state: Overlay, record: Record) -> None:
    did = record["did"].encode()
    kind = record["kind"] + ("/" + record["org_type"] if "org_type" in record else "")
    state.set(_KIND + kind.encode() + b"/" + did, _MARK)
    if record["kind"] == "practitioner":
        state.set(_MEMBER + record["organization"].encode() + b"/" + did, _MARK)
        for role in record["roles"]:
            state.set(_ROLE + role.encode() + b"/" + did, _MARK)


def unindex_roles(state: Overlay, record: Record) -> None:
    for role in record.get("roles", ()):
        state.delete(_ROLE + role.encode() + b"/" + record["did"].encode())


def _tail(prefix: bytes, pairs: Iterator[tuple[bytes, bytes]]) -> list[str]:
    return [key[len(prefix):].decode() for key, _ in pairs]


def members(state: Reader, org: str) -> list[str]:
    prefix = _MEMBER + org.encode() + b"/"
    return _tail(prefix, state.iterate(prefix))


def with_role(state: Reader, role: str) -> list[str]:
    prefix = _ROLE + role.encode() + b"/"
    return _tail(prefix, state.iterate(prefix))


def of_kind(state: Reader, kind: str) -> list[str]:
    """DIDs of a kind; ``kind`` may be ``organization/<org_type>``."""
    prefix = _KIND + kind.encode() + b"/"
    return [d.rsplit("/", 1)[-1] for d in _tail(prefix, state.iterate(prefix))]
