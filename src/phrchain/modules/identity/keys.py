"""State keys of the identity module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

ID: Final = b"identity/id/"
NONCE: Final = b"identity/nonce/"
MEMBER: Final = b"identity/member/"
ROLE: Final = b"identity/role/"
KIND: Final = b"identity/kind/"
KEY: Final = b"identity/key/"
FROZEN: Final = b"identity/frozen/"


def id_key(did: str) -> bytes:
    """Where ``did``'s identity record is kept."""
    return ID + did.encode()


def nonce_key(did: str) -> bytes:
    return NONCE + did.encode()


def key_owner_key(public_key: bytes) -> bytes:
    return KEY + public_key.hex().encode()


def frozen_key(did: str) -> bytes:
    """Present while consortium governance keeps organization ``did`` frozen."""
    return FROZEN + did.encode()
