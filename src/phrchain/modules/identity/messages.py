"""Identity messages: typed views over validated message dicts (stateless checks only)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError, EncodingError
from phrchain.core.hashing import domain_prefix
from phrchain.modules import fields
from phrchain.modules.identity.errors import (
    BAD_ADMISSION_PROOF,
    INVALID_FIELD,
    INVALID_KEY,
    ROLE_NOT_ALLOWED,
)

ORG_TYPES: Final = frozenset({
    "hospital", "clinic", "insurer", "pharmacy", "manufacturer", "research_institute",
    "regulator", "wholesaler",
})
ROLES: Final = frozenset({
    "physician", "nurse", "pharmacist", "emergency", "claims_reviewer", "researcher",
    "clerk", "auditor",
})
# Which roles an organization of each type may give its staff (README "Kinds").
_CARE: Final = frozenset({"physician", "nurse", "pharmacist", "emergency", "clerk",
                          "researcher", "auditor"})
ALLOWED_ROLES: Final[Mapping[str, frozenset[str]]] = {
    "hospital": _CARE,
    "clinic": _CARE,
    "pharmacy": frozenset({"pharmacist", "clerk"}),
    "insurer": frozenset({"claims_reviewer", "clerk", "auditor"}),
    "manufacturer": frozenset({"clerk", "auditor", "researcher"}),
    "research_institute": frozenset({"researcher", "clerk", "auditor"}),
    "regulator": frozenset({"auditor", "clerk"}),
    # A drug wholesaler (supply module): holds and ships packs, never treats anyone.
    "wholesaler": frozenset({"clerk", "auditor"}),
}
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

# Events the handlers emit (``Event.type``), for clients that filter events.
IDENTITY_ADMITTED: Final = "identity.admitted"
IDENTITY_REGISTERED: Final = "identity.registered"
IDENTITY_ROLES_SET: Final = "identity.roles_set"
IDENTITY_KEY_ROTATED: Final = "identity.key_rotated"
IDENTITY_REVOKED: Final = "identity.revoked"
EVENTS: Final = frozenset({IDENTITY_ADMITTED, IDENTITY_REGISTERED, IDENTITY_ROLES_SET,
                           IDENTITY_KEY_ROTATED, IDENTITY_REVOKED})


def _fields(msg: Mapping[str, Any], *names: str) -> None:
    expected = {"type", *names}
    if set(msg) != expected:
        raise INVALID_FIELD(f"{msg['type']} takes exactly the fields {sorted(expected)}")


def _choice(msg: Mapping[str, Any], name: str, allowed: frozenset[str]) -> str:
    # isinstance first: an unhashable value (list, object) must not reach `in`.
    value = msg.get(name)
    if not isinstance(value, str) or value not in allowed:
        raise INVALID_FIELD(f"{name} must be one of {sorted(allowed)}")
    return value


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


def name_field(msg: Mapping[str, Any], name: str = "name") -> str:
    value = msg.get(name)
    if not isinstance(value, str) or NAME_RE.fullmatch(value) is None:
        raise INVALID_FIELD(f"{name} must be 1-128 printable characters")
    return value


def roles_field(msg: Mapping[str, Any]) -> tuple[str, ...]:
    roles = msg.get("roles")
    if not isinstance(roles, list) or not roles or len(roles) > MAX_ROLES \
            or not all(isinstance(r, str) and r in ROLES for r in roles) \
            or roles != sorted(set(roles)):
        raise INVALID_FIELD(f"roles must be a sorted, duplicate-free non-empty subset of "
                            f"{sorted(ROLES)}")
    return tuple(roles)


def pop_field(msg: Mapping[str, Any]) -> bytes:
    """The admitted key's proof of possession (``admission_bytes`` signed)."""
    if "pop" not in msg:
        raise BAD_ADMISSION_PROOF("the message needs 'pop', the admitted key's signature")
    try:
        return encoding.hex_bytes(msg["pop"], 64, "pop")
    except EncodingError as exc:
        raise BAD_ADMISSION_PROOF(str(exc)) from None


def check_roles_allowed(org_type: str, roles: tuple[str, ...]) -> None:
    """Raise unless an organization of ``org_type`` may give every one of ``roles``."""
    refused = [r for r in roles if r not in ALLOWED_ROLES.get(org_type, frozenset())]
    if refused:
        raise ROLE_NOT_ALLOWED(f"a {org_type} may not give {', '.join(refused)}; it may "
                               f"give {', '.join(sorted(ALLOWED_ROLES.get(org_type, ())))}")


def organization_fields(entry: Mapping[str, Any]) -> tuple[str, str, str, bytes]:
    """``(did, org_type, name, enc_key)`` of an organization (a message or a genesis
    entry); the caller checks which other fields the entry may have."""
    return (did_field(entry), _choice(entry, "org_type", ORG_TYPES), name_field(entry),
            enc_key_field(entry))


@dataclass(frozen=True, slots=True)
class AdmitOrganization:
    did: str
    org_type: str
    name: str
    enc_key: bytes
    pop: bytes

    TYPE: ClassVar[str] = ADMIT_ORGANIZATION

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> AdmitOrganization:
        pop = pop_field(msg)
        _fields(msg, "did", "org_type", "name", "enc_key", "pop")
        return cls(*organization_fields(msg), pop)

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "did": self.did, "org_type": self.org_type,
                "name": self.name, "enc_key": self.enc_key.hex(), "pop": self.pop.hex()}


@dataclass(frozen=True, slots=True)
class AdmitPractitioner:
    did: str
    roles: tuple[str, ...]
    enc_key: bytes
    pop: bytes

    TYPE: ClassVar[str] = ADMIT_PRACTITIONER

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> AdmitPractitioner:
        pop = pop_field(msg)
        _fields(msg, "did", "roles", "enc_key", "pop")
        return cls(did_field(msg), roles_field(msg), enc_key_field(msg), pop)

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "did": self.did, "roles": list(self.roles),
                "enc_key": self.enc_key.hex(), "pop": self.pop.hex()}


@dataclass(frozen=True, slots=True)
class RegisterPatient:
    """Pseudonymous: the patient's did:key and encryption key, nothing that names them."""

    enc_key: bytes

    TYPE: ClassVar[str] = REGISTER_PATIENT

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> RegisterPatient:
        _fields(msg, "enc_key")
        return cls(enc_key_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "enc_key": self.enc_key.hex()}


@dataclass(frozen=True, slots=True)
class SetRoles:
    did: str
    roles: tuple[str, ...]

    TYPE: ClassVar[str] = SET_ROLES

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> SetRoles:
        _fields(msg, "did", "roles")
        return cls(did_field(msg), roles_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "did": self.did, "roles": list(self.roles)}


@dataclass(frozen=True, slots=True)
class RotateKey:
    """Replace the signing key (and optionally the encryption key). The new key signs
    ``rotation_bytes(did, new_key)`` to prove its holder agrees."""

    new_key: bytes
    enc_key: bytes | None
    proof: bytes

    TYPE: ClassVar[str] = ROTATE_KEY

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

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "new_key": self.new_key.hex(), "proof": self.proof.hex(),
                **fields.present(enc_key=None if self.enc_key is None else self.enc_key.hex())}


@dataclass(frozen=True, slots=True)
class Revoke:
    did: str
    reason: str

    TYPE: ClassVar[str] = REVOKE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Revoke:
        _fields(msg, "did", "reason")
        reason = _choice(msg, "reason", REVOCATION_REASONS)
        return cls(did_field(msg), reason)

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "did": self.did, "reason": self.reason}


def rotation_bytes(chain_id: str, did: str, new_key: bytes) -> bytes:
    """What the *new* key signs to consent to becoming ``did``'s signing key."""
    body = {"chain_id": chain_id, "did": did, "new_key": new_key.hex()}
    return domain_prefix("phrchain/rotate/v1") + encoding.encode(body)


def admission_bytes(chain_id: str, admitted_by: str, did: str, enc_key: bytes) -> bytes:
    """What the *admitted* key signs (``pop``) to agree to being admitted as ``did`` with
    ``enc_key`` by ``admitted_by`` on ``chain_id``: nobody can be admitted, nor a DID
    squatted, without its key holder."""
    body = {"admitted_by": admitted_by, "chain_id": chain_id, "did": did,
            "enc_key": enc_key.hex()}
    return domain_prefix("phrchain/admit/v1") + encoding.encode(body)
