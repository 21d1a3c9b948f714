"""Identity messages: typed views over validated message dicts (stateless checks only)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError, EncodingError
from phrchain.core.hashing import domain_prefix
from phrchain.modules.identity.errors import INVALID_FIELD, INVALID_KEY

ORG_TYPES: Final = frozenset({
    "hospital", "clinic", "insurer", "pharmacy", "manufacturer", "research_institute",
    "regulator",
})
ROLES: Final = frozenset({
    "physician", "nurse", "pharmacist", "emergency", "claims_reviewer", "researcher",
    "clerk", "auditor",
})
REVOCATION_REASONS: Final = frozenset({
    "key_compromise", "superseded", "ceased_operation", "affiliation_changed",
    "privilege_withdrawn", "unspecified",
})
MAX_ROLES: Final = len(ROLES)
NAME_RE: Final = re.compile(r"[^\x00-\x1f\x7f]{1,128}")

ADMIT_ORGANIZATION: Final = "identity/admit_organization"
ADMIT_PRACTITIONER: Final = "identity/admit_practitioner"
REGISTER_PATIENT: Final = "identity/register_patient"
SET_ROLES: Final = "identity/set_roles"
ROTATE_KEY: Final = "identity/rotate_key"
REVOKE: Final = "identity/revoke"


def _fields(msg: Mapping[str, Any], *names: str) -> None:
    expected = {"type", *names}
    if set(msg) != expected:
        raise INVALID_FIELD(f"{msg['type']} takes exactly the fields {sorted(expected)}")


def did_field(msg: Mapping[str, Any], name: str = "did") -> str:
    value = msg.get(name)
    if not isinstance(value, str):
        raise INVALID_KEY(f"{name} must be a did:key string")
    try:
        keys.public_key_from_did(value)
    except CryptoError as exc:
        raise INVALID_KEY(f"{name}: {exc}") from None
    return value


def enc_key_field(msg: Mapping[str, Any], name: str = "enc_key") -> bytes:
    try:
        raw = encoding.hex_bytes(msg.get(name), 32, name)
        keys.check_x25519_public_key(raw)
    except (EncodingError, CryptoError) as exc:
        raise INVALID_KEY(f"{name}: {exc}") from None
    return raw


def roles_field(msg: Mapping[str, Any]) -> tuple[str, ...]:
    roles = msg.get("roles")
    if not isinstance(roles, list) or not roles or len(roles) > MAX_ROLES \
            or any(r not in ROLES for r in roles) or roles != sorted(set(roles)):
        raise INVALID_FIELD(f"roles must be a sorted, duplicate-free non-empty subset of "
                            f"{sorted(ROLES)}")
    return tuple(roles)


@dataclass(frozen=True, slots=True)
class AdmitOrganization:
    did: str
    org_type: str
    name: str
    enc_key: bytes

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> AdmitOrganization:
        _fields(msg, "did", "org_type", "name", "enc_key")
        if msg["org_type"] not in ORG_TYPES:
            raise INVALID_FIELD(f"org_type must be one of {sorted(ORG_TYPES)}")
        if not isinstance(msg["name"], str) or NAME_RE.fullmatch(msg["name"]) is None:
            raise INVALID_FIELD("name must be 1-128 printable characters")
        return cls(did_field(msg), msg["org_type"], msg["name"], enc_key_field(msg))


@dataclass(frozen=True, slots=True)
class AdmitPractitioner:
    did: str
    roles: tuple[str, ...]
    enc_key: bytes

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> AdmitPractitioner:
        _fields(msg, "did", "roles", "enc_key")
        return cls(did_field(msg), roles_field(msg), enc_key_field(msg))


@dataclass(frozen=True, slots=True)
class RegisterPatient:
    """Pseudonymous: the patient's did:key and encryption key, nothing that names them."""

    enc_key: bytes

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> RegisterPatient:
        _fields(msg, "enc_key")
        return cls(enc_key_field(msg))


@dataclass(frozen=True, slots=True)
class SetRoles:
    did: str
    roles: tuple[str, ...]

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> SetRoles:
        _fields(msg, "did", "roles")
        return cls(did_field(msg), roles_field(msg))


@dataclass(frozen=True, slots=True)
class RotateKey:
    """Replace the signing key (and optionally the encryption key). The new key signs
    ``rotation_bytes(did, new_key)`` to prove its holder agrees."""

    new_key: bytes
    enc_key: bytes | None
    proof: bytes

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> RotateKey:
        _fields(msg, *[f for f in ("new_key", "enc_key", "proof") if f in msg or
                       f != "enc_key"])
        try:
            new_key = encoding.hex_bytes(msg["new_key"], 32, "new_key")
            keys.check_ed25519_public_key(new_key)
            proof = encoding.hex_bytes(msg["proof"], 64, "proof")
        except (EncodingError, CryptoError) as exc:
            raise INVALID_KEY(str(exc)) from None
        enc_key = enc_key_field(msg) if "enc_key" in msg else None
        return cls(new_key, enc_key, proof)


@dataclass(frozen=True, slots=True)
class Revoke:
    did: str
    reason: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Revoke:
        _fields(msg, "did", "reason")
        if msg["reason"] not in REVOCATION_REASONS:
            raise INVALID_FIELD(f"reason must be one of {sorted(REVOCATION_REASONS)}")
        return cls(did_field(msg), msg["reason"])


def rotation_bytes(chain_id: str, did: str, new_key: bytes) -> bytes:
    """What the *new* key signs to consent to becoming ``did``'s signing key."""
    body = {"chain_id": chain_id, "did": did, "new_key": new_key.hex()}
    return domain_prefix("phrchain/rotate/v1") + encoding.encode(body)
