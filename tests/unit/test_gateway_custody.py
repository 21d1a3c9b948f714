"""The vault's own v2 rules (gateway/custody.py): what a custody upload must carry, and
the author's permit, as pure functions."""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from phrchain.gateway.custody import register_of, with_author_permit
from phrchain.modules.records.messages import Register, size_bucket
from phrchain.vault import crypto
from phrchain.vault.descriptor import SEALED_SIZE
from phrchain.vault.errors import VaultError
from phrchain.vault.gateway_errors import UPLOAD_REFUSED
from phrchain.vault.wire import Upload
from tests.helpers import signing_key

ORG, OTHER, DOC, PATIENT = (signing_key(n).did for n in (101, 102, 201, 301))
STAFF = {"kind": "practitioner", "organization": ORG}


def _upload(**kw: Any) -> Upload:
    sealed = crypto.seal(secrets.token_bytes(16), PATIENT, b"x" * 700)
    meta = sealed.meta
    msg = Register(meta.record_id.hex(), PATIENT, meta.hash.hex(), size_bucket(meta.size),
                   meta.commitment.hex(), "ab" * 32).to_msg()
    fields: dict[str, Any] = {"meta": meta, "wrapped": {ORG: bytes(80)},
                              "chunks": sealed.chunks, "descriptor": bytes(SEALED_SIZE),
                              "register": msg}
    fields.update(kw)
    return Upload(**fields)


def test_staff_upload_gives_the_message_the_vault_signs() -> None:
    upload = _upload()
    msg = register_of(ORG, DOC, STAFF, upload)
    assert msg == {k: v for k, v in upload.register.items() if k != "custodian"}  # type: ignore[union-attr]
    assert register_of(ORG, ORG, {"kind": "organization"}, upload) == msg
    named = _upload()
    assert named.register is not None
    named.register["custodian"] = ORG   # naming itself is allowed, and dropped
    assert "custodian" not in register_of(ORG, DOC, STAFF, named)  # type: ignore[operator]


def test_the_patient_uploads_without_a_message_and_signs_its_own() -> None:
    assert register_of(ORG, PATIENT, {"kind": "patient"}, _upload(register=None)) is None


@pytest.mark.parametrize(("caller", "identity", "kw", "why"), [
    (DOC, {"kind": "practitioner", "organization": OTHER}, {}, "does not author"),
    (DOC, None, {}, "does not author"),
    (OTHER, {"kind": "organization"}, {}, "does not author"),
    (PATIENT, {"kind": "patient"}, {}, "registered by its patient"),
    (DOC, STAFF, {"wrapped": {DOC: bytes(80)}}, "wrapped for the custodian"),
    (DOC, STAFF, {"descriptor": None}, "sealed descriptor"),
    (DOC, STAFF, {"descriptor": bytes(SEALED_SIZE - 1)}, "sealed descriptor"),
    (DOC, STAFF, {"register": None}, "records/register message"),
    (DOC, STAFF, {"register": {"type": "records/erase"}}, "records/register message"),
])
def test_refusals(caller: str, identity: Any, kw: dict[str, Any], why: str) -> None:
    with pytest.raises(VaultError) as refused:
        register_of(ORG, caller, identity, _upload(**kw))
    assert refused.value.error is UPLOAD_REFUSED and why in str(refused.value)


@pytest.mark.parametrize("field", ["record", "patient", "hash", "size", "commitment"])
def test_a_message_that_does_not_describe_the_upload_is_refused(field: str) -> None:
    upload = _upload()
    assert upload.register is not None
    other = {"record": "00" * 16, "patient": OTHER, "hash": "00" * 32, "size": 1 << 20,
             "commitment": "00" * 32}
    upload.register[field] = other[field]
    with pytest.raises(VaultError, match="does not describe"):
        register_of(ORG, DOC, STAFF, upload)


def test_another_custodian_or_a_v1_field_is_refused() -> None:
    for patch, why in (({"custodian": OTHER}, "registers records kept by"),
                       ({"resource": "Observation"}, "malformed"),
                       ({"size": 4097}, "malformed")):
        upload = _upload()
        assert upload.register is not None
        upload.register.update(patch)
        with pytest.raises(VaultError, match=why):
            register_of(ORG, DOC, STAFF, upload)


DENY = {"permit": False, "reason": "no_consent", "consent": None, "break_glass": False,
        "height": 5, "time_ms": 9}


@pytest.mark.parametrize(("decision", "caller", "action", "author", "reason"), [
    (DENY, DOC, "read", DOC, "author"),
    (DENY, DOC, "view", DOC, "author"),
    ({**DENY, "reason": "out_of_scope"}, DOC, "read", DOC, "author"),
    ({**DENY, "permit": True, "reason": "consent", "consent": "c" * 32}, DOC, "read", DOC,
     "author"),
    (DENY, DOC, "pull", DOC, "no_consent"),                 # reading only, never copying
    (DENY, DOC, "read", OTHER, "no_consent"),               # not the local author
    (DENY, DOC, "read", None, "no_consent"),                # a copy: no local author
    ({**DENY, "reason": "revoked_accessor"}, DOC, "read", DOC, "revoked_accessor"),
    ({**DENY, "reason": "erased"}, DOC, "read", DOC, "erased"),
    ({**DENY, "reason": "unknown_accessor"}, DOC, "read", DOC, "unknown_accessor"),
    ({**DENY, "permit": True, "reason": "owner"}, DOC, "read", DOC, "owner"),
])
def test_the_author_permit(decision: dict[str, Any], caller: str, action: str,
                           author: str | None, reason: str) -> None:
    found = with_author_permit(decision, caller, action, author)
    assert found["reason"] == reason
    assert found["permit"] == (reason in ("author", "owner"))
    assert (found["height"], found["time_ms"]) == (5, 9)
    if reason == "author":
        assert found["consent"] is None and not found["break_glass"]
