"""What a custody upload must be, and the author's permit: the two rules of v2 the
vault applies itself (``docs/records.md`` "Registration by the vault").

- Staff of the institution (its practitioners, or the institution's own key) upload a
  record with its sealed descriptor and the ``records/register`` message the vault will
  send, signed by the institution: the message must describe exactly the uploaded
  ciphertext (record id, patient, hash, size bucket, commitment) and name no other
  custodian. The vault keeps the uploader as the record's local author; the chain never
  learns it.
- The record's patient uploads a self-reported record with its sealed descriptor and no
  message: the patient signs its own ``records/register`` (self-reported records are
  the patient's statement, not the institution's).
- The author's permit: the chain's decision knows the custodian, not the author, so the
  vault permits ``read``/``view`` by the local author where the chain would go on to
  consult consents (the same place the chain's author rule had in v1), reason
  ``author``. It is audited like every decision.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import TxError
from phrchain.modules.records.messages import REGISTER, Register, size_bucket
from phrchain.vault.descriptor import SEALED_SIZE
from phrchain.vault.gateway_errors import UPLOAD_REFUSED
from phrchain.vault.wire import Upload

# Chain decisions past which the v1 author rule used to come first: a permit by consent,
# or a denial from the consent stage. Never an unknown, revoked or erased case.
_AUTHOR_FIRST: Final = frozenset({
    "consent", "no_consent", "consent_revoked", "consent_not_started", "consent_expired",
    "action_not_permitted", "purpose_not_permitted", "out_of_scope",
})


def is_staff(org: str, caller: str, identity: Mapping[str, Any] | None) -> bool:
    """The institution itself, or one of its acting practitioners."""
    return identity is not None and (caller == org or (
        identity["kind"] == "practitioner" and identity.get("organization") == org))


def register_of(org: str, caller: str, identity: Mapping[str, Any] | None,
                upload: Upload) -> dict[str, Any] | None:
    """The ``records/register`` message the vault sends for ``upload`` (None for a
    self-reported record, which its patient registers); ``upload_refused`` otherwise."""
    meta = upload.meta
    staff = is_staff(org, caller, identity)
    owner = identity is not None and identity["kind"] == "patient" and caller == meta.patient
    if not (staff or owner):
        raise UPLOAD_REFUSED(f"{caller} does not author records in {org}")
    if org not in upload.wrapped:
        raise UPLOAD_REFUSED("the data key must be wrapped for the custodian institution")
    if upload.descriptor is None or len(upload.descriptor) != SEALED_SIZE:
        raise UPLOAD_REFUSED(f"a record comes with its sealed descriptor ({SEALED_SIZE} "
                             "bytes)")
    if not staff:
        if upload.register is not None:
            raise UPLOAD_REFUSED("a self-reported record is registered by its patient, "
                                 "not by the vault")
        return None
    if upload.register is None or upload.register.get("type") != REGISTER:
        raise UPLOAD_REFUSED("a record by the institution's staff comes with the "
                             "records/register message its vault sends")
    try:
        m = Register.parse(upload.register)
    except TxError as exc:
        raise UPLOAD_REFUSED(f"the register message is malformed: {exc.log}") from None
    if (m.record, m.patient, m.hash, m.size, m.commitment) != (
            meta.record_id.hex(), meta.patient, meta.hash.hex(), size_bucket(meta.size),
            meta.commitment.hex()):
        raise UPLOAD_REFUSED("the register message does not describe the uploaded record "
                             "(record id, patient, hash, size bucket or commitment)")
    if m.custodian not in (None, org):
        raise UPLOAD_REFUSED(f"this vault registers records kept by {org} only")
    return Register(m.record, m.patient, m.hash, m.size, m.commitment, m.descriptor,
                    None, m.replaces).to_msg()


def with_author_permit(decision: Mapping[str, Any], caller: str, action: str,
                       local_author: str | None) -> dict[str, Any]:
    """The chain's decision, or the author's permit where it applies."""
    if local_author is None or caller != local_author or action not in ("read", "view") \
            or decision["reason"] not in _AUTHOR_FIRST:
        return dict(decision)
    return {**decision, "permit": True, "reason": "author", "consent": None,
            "break_glass": False}
