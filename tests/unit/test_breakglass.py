"""The break-glass justification commitment and receipt (``client/breakglass.py``), and
the domain-separated hashes of the claims SDK, against their definitions written out
here independently (test vectors of the formats)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac

import pytest

from phrchain.client.breakglass import JustificationError, Receipt, check, commit, receipt
from phrchain.client.claims import Code, ProductKey, encounter_key, product_id
from phrchain.core import keys
from phrchain.vault.requests import sign_request

SALT = bytes(range(32))
REASON = "unconscious on arrival, allergy status needed"
CALLER = keys.SigningKey(bytes([7]) * 32)
VAULT, RECORD = "did:key:z6MkVault", "ab" * 16


def test_commitment_is_the_tagged_salted_hash_of_the_trimmed_reason() -> None:
    salt, digest = commit(f"  {REASON}\n", SALT)
    want = hashlib.sha256(b"phrchain/break-glass/justification/v1\x00" + SALT
                          + REASON.encode()).hexdigest()
    assert (salt, digest) == (SALT, want)
    assert commit(REASON)[1] != commit(REASON)[1]      # a fresh salt each time
    with pytest.raises(JustificationError):
        commit("   urgent ")                            # fewer than 10 characters


def _receipt(justification: str, action: str = "break_glass") -> Receipt:
    headers = sign_request(CALLER, CALLER.did, VAULT, "GET", f"/v1/vault/records/{RECORD}",
                           {"action": action, "purpose": "ETREAT",
                            "justification": justification}, b"", 1_700_000_000_000)
    return receipt(RECORD, VAULT, CALLER.did, headers, SALT, justification)


def test_a_receipt_proves_the_reason_signed_into_the_request() -> None:
    _, justification = commit(REASON, SALT)
    r = _receipt(justification)
    envelope = check(r, REASON, CALLER.public_key)
    assert envelope["caller"] == CALLER.did and justification in envelope["query"]
    assert Receipt.from_json(r.to_json()) == r
    assert REASON not in str(r.to_json())


@pytest.mark.parametrize("change", ["reason", "salt", "request", "justification", "record",
                                    "action", "signer"])
def test_a_receipt_that_does_not_hold_is_refused(change: str) -> None:
    _, justification = commit(REASON, SALT)
    r, reason, key = _receipt(justification), REASON, CALLER.public_key
    if change == "reason":
        reason = REASON + " and more"
    elif change == "salt":
        r = dataclasses.replace(r, salt="00" * 32)
    elif change == "request":
        r = dataclasses.replace(r, request="11" * 32)
    elif change == "justification":
        r = dataclasses.replace(r, justification=commit(reason, SALT[::-1])[1])
    elif change == "record":
        r = dataclasses.replace(r, record="cd" * 16)
    elif change == "action":
        r = _receipt(justification, action="read")
    else:
        key = keys.SigningKey(bytes([8]) * 32).public_key
    with pytest.raises(JustificationError):
        check(r, reason, key)


def test_claims_hashes_follow_their_definitions() -> None:
    key = ProductKey(bytes([5]) * 32)
    tag = key.tag(Code("http://snomed.info/sct", "73761001"))
    assert tag == hmac.new(bytes([5]) * 32, b"phrchain/claims/code-tag/v1\x00"
                           b"http://snomed.info/sct|73761001", hashlib.sha256).hexdigest()
    assert product_id("did:key:z6MkIns", "basic") == hashlib.sha256(
        b"phrchain/claims/product-id/v1\x00did:key:z6MkIns/basic").hexdigest()[:32]
    assert encounter_key("did:key:z6MkHosp", "E-1") == hashlib.sha256(
        b"phrchain/claims/encounter/v1\x00did:key:z6MkHosp/E-1").hexdigest()
