"""Identity message handlers: validate → change state → emit events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core import keys
from phrchain.core.errors import REVOKED_SIGNER, UNKNOWN_SIGNER, CryptoError
from phrchain.core.module import Context, Handler
from phrchain.core.state import Overlay, Reader
from phrchain.core.tx import Msg
from phrchain.modules.identity import keeper
from phrchain.modules.identity.errors import (
    ALREADY_REGISTERED,
    ALREADY_REVOKED,
    BAD_ADMISSION_PROOF,
    BAD_ROTATION_PROOF,
    FROZEN,
    KEY_IN_USE,
    LAST_AUTHORITY,
    NOT_FOUND,
    UNAUTHORIZED,
)
from phrchain.modules.identity.messages import (
    ADMIT_ORGANIZATION,
    ADMIT_PRACTITIONER,
    IDENTITY_ADMITTED,
    IDENTITY_KEY_ROTATED,
    IDENTITY_REGISTERED,
    IDENTITY_REVOKED,
    IDENTITY_ROLES_SET,
    REGISTER_PATIENT,
    REVOKE,
    ROTATE_KEY,
    SET_ROLES,
    AdmitOrganization,
    AdmitPractitioner,
    RegisterPatient,
    Revoke,
    RotateKey,
    SetRoles,
    admission_bytes,
    check_roles_allowed,
    rotation_bytes,
)

ACTIVE: Final = "active"
REVOKED: Final = "revoked"


def _active(state: Reader, did: str, kind: str | None = None) -> keeper.Record:
    record = keeper.get(state, did)
    if record is None:
        raise NOT_FOUND(did)
    if record["status"] != ACTIVE:
        raise ALREADY_REVOKED(did)
    if kind is not None and record["kind"] != kind:
        raise UNAUTHORIZED(f"{did} is a {record['kind']}, not a {kind}")
    return record


def _signer(ctx: Context) -> keeper.Record:
    """The signer's record, which must still be active *now*: the ante checked it before
    the first message, but an earlier message of the same tx may have revoked it."""
    record = keeper.get(ctx.state, ctx.signer)
    if record is None:
        raise UNAUTHORIZED(f"{ctx.signer} is not a registered identity")
    if record["status"] != ACTIVE:
        raise REVOKED_SIGNER(f"{ctx.signer} was revoked earlier in this transaction")
    return record


def _require_signer(ctx: Context, kind: str) -> keeper.Record:
    record = _signer(ctx)
    if record["kind"] != kind:
        raise UNAUTHORIZED(f"only an {kind} may do this")
    return record


def _check_admission_proof(ctx: Context, did: str, enc_key: bytes, pop: bytes) -> None:
    try:
        keys.verify(keys.public_key_from_did(did), pop,
                    admission_bytes(ctx.chain_id, ctx.signer, did, enc_key))
    except CryptoError as exc:
        raise BAD_ADMISSION_PROOF(str(exc)) from None


def new_identity(state: Overlay, did: str, kind: str, enc_key: bytes, admitted_by: str,
                 height: int, *, name: str | None = None, org_type: str | None = None,
                 organization: str | None = None,
                 roles: list[str] | None = None) -> keeper.Record:
    """Create, bind and index a fresh identity; refuses reused DIDs and keys. The
    keyword fields are those of the kind (an absent one is no key at all)."""
    if keeper.get(state, did) is not None:
        raise ALREADY_REGISTERED(did)
    public_key = keys.public_key_from_did(did)
    if keeper.key_owner(state, public_key) is not None:
        raise KEY_IN_USE(did)
    record: keeper.Record = {
        "did": did, "kind": kind, "status": ACTIVE, "signing_key": public_key.hex(),
        "enc_key": enc_key.hex(), "admitted_by": admitted_by, "since": height,
    }
    if name is not None:
        record["name"] = name
    if org_type is not None:
        record["org_type"] = org_type
    if organization is not None:
        record["organization"] = organization
    if roles is not None:
        record["roles"] = roles
    keeper.put(state, record)
    keeper.bind_key(state, public_key, did)
    keeper.index(state, record)
    return record


def admit_organization(ctx: Context, msg: Msg) -> None:
    m = AdmitOrganization.parse(msg)
    _require_signer(ctx, "authority")
    _check_admission_proof(ctx, m.did, m.enc_key, m.pop)
    new_identity(ctx.state, m.did, "organization", m.enc_key, ctx.signer, ctx.height,
                 org_type=m.org_type, name=m.name)
    ctx.emit(IDENTITY_ADMITTED, did=m.did, kind="organization", org_type=m.org_type)


def admit_practitioner(ctx: Context, msg: Msg) -> None:
    m = AdmitPractitioner.parse(msg)
    org = _require_signer(ctx, "organization")
    check_roles_allowed(org["org_type"], m.roles)
    _check_admission_proof(ctx, m.did, m.enc_key, m.pop)
    new_identity(ctx.state, m.did, "practitioner", m.enc_key, ctx.signer, ctx.height,
                 organization=ctx.signer, roles=list(m.roles))
    ctx.emit(IDENTITY_ADMITTED, did=m.did, kind="practitioner", organization=ctx.signer,
             roles=",".join(m.roles))


def register_patient(ctx: Context, msg: Msg) -> None:
    m = RegisterPatient.parse(msg)
    new_identity(ctx.state, ctx.signer, "patient", m.enc_key, ctx.signer, ctx.height)
    ctx.emit(IDENTITY_REGISTERED, did=ctx.signer, kind="patient")


def set_roles(ctx: Context, msg: Msg) -> None:
    m = SetRoles.parse(msg)
    org = _require_signer(ctx, "organization")
    record = _active(ctx.state, m.did, "practitioner")
    if record["organization"] != ctx.signer:
        raise UNAUTHORIZED("only the practitioner's own organization sets roles")
    check_roles_allowed(org["org_type"], m.roles)
    keeper.unindex_roles(ctx.state, record)
    record["roles"] = list(m.roles)
    keeper.put(ctx.state, record)
    keeper.index(ctx.state, record)
    ctx.emit(IDENTITY_ROLES_SET, did=m.did, roles=",".join(m.roles))


def rotate_key(ctx: Context, msg: Msg) -> None:
    m = RotateKey.parse(msg)
    record = _signer(ctx)
    if keeper.key_owner(ctx.state, m.new_key) is not None:
        raise KEY_IN_USE("the new key is bound to an identity now or was used before")
    try:
        keys.verify(m.new_key, m.proof, rotation_bytes(ctx.chain_id, ctx.signer, m.new_key))
    except CryptoError as exc:
        raise BAD_ROTATION_PROOF(str(exc)) from None
    record["signing_key"] = m.new_key.hex()
    if m.enc_key is not None:
        record["enc_key"] = m.enc_key.hex()
    record["rotated_at"] = ctx.height
    keeper.put(ctx.state, record)
    keeper.bind_key(ctx.state, m.new_key, ctx.signer)
    ctx.emit(IDENTITY_KEY_ROTATED, did=ctx.signer, height=ctx.height)


def _may_revoke(signer: keeper.Record, target: keeper.Record) -> bool:
    if signer["did"] == target["did"]:
        return True
    by_authority: bool = signer["kind"] == "authority"
    if target["kind"] == "organization":
        return by_authority
    if target["kind"] == "practitioner":
        return by_authority or bool(target["organization"] == signer["did"])
    # Patients and authorities revoke only themselves: one authority removing another
    # needs multi-party consortium governance, which is future work.
    return False


def _other_active_authority(state: Reader, did: str) -> bool:
    return any(other != did and (record := keeper.get(state, other)) is not None
               and record["status"] == ACTIVE for other in keeper.of_kind(state, "authority"))


def revoke(ctx: Context, msg: Msg) -> None:
    m = Revoke.parse(msg)
    signer = _signer(ctx)
    record = _active(ctx.state, m.did)
    if not _may_revoke(signer, record):
        raise UNAUTHORIZED(f"{ctx.signer} may not revoke a {record['kind']}")
    if record["kind"] == "authority" and not _other_active_authority(ctx.state, m.did):
        raise LAST_AUTHORITY("the chain would be left without governance")
    record["status"] = REVOKED
    record["revoked_at"] = ctx.height
    record["revocation_reason"] = m.reason
    keeper.put(ctx.state, record)
    keeper.unindex_roles(ctx.state, record)
    ctx.emit(IDENTITY_REVOKED, did=m.did, kind=record["kind"], reason=m.reason,
             by=ctx.signer)


HANDLERS: Final[Mapping[str, Handler]] = {
    ADMIT_ORGANIZATION: admit_organization,
    ADMIT_PRACTITIONER: admit_practitioner,
    REGISTER_PATIENT: register_patient,
    SET_ROLES: set_roles,
    ROTATE_KEY: rotate_key,
    REVOKE: revoke,
}


class IdentityAuthenticator:
    """The app's ante step: who may sign, with which key, and the signer's nonce."""

    def signer_key(self, state: Reader, signer: str, msgs: tuple[Msg, ...]) -> bytes:
        record = keeper.get(state, signer)
        if record is None:
            # Self-registration is the one thing an unknown did:key may sign.
            if len(msgs) == 1 and msgs[0]["type"] == REGISTER_PATIENT:
                try:
                    return keys.public_key_from_did(signer)
                except CryptoError as exc:
                    raise UNKNOWN_SIGNER(str(exc)) from None
            raise UNKNOWN_SIGNER(signer)
        if record["status"] != ACTIVE:
            raise REVOKED_SIGNER(signer)
        if record["kind"] == "organization" and keeper.frozen_since(state, signer) is not None:
            raise FROZEN(signer)
        if record["kind"] == "practitioner":
            org = keeper.get(state, record["organization"])
            if org is None or org["status"] != ACTIVE:
                raise REVOKED_SIGNER(f"organization of {signer} is revoked")
            if keeper.frozen_since(state, record["organization"]) is not None:
                raise FROZEN(f"organization of {signer}")
        return bytes.fromhex(record["signing_key"])

    def last_nonce(self, state: Reader, signer: str) -> int:
        return keeper.last_nonce(state, signer)

    def set_nonce(self, state: Overlay, signer: str, nonce: int) -> None:
        keeper.set_nonce(state, signer, nonce)
