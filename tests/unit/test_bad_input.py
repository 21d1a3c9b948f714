"""Every kind of bad input gets its stable (codespace, code) and changes no state."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from phrchain.core import encoding, keys
from phrchain.core.tx import MAX_TX_BYTES
from phrchain.modules.identity import rotation_bytes
from tests.helpers import (
    AUTHORITY,
    CHAIN_ID,
    Chain,
    admit_org_msg,
    admit_practitioner_msg,
    enc_key,
    pop,
    signing_key,
    tx_state,
)

ORG, DOCTOR, PATIENT, STRANGER = (signing_key(n) for n in (10, 11, 12, 13))
# y = 2 has no x on edwards25519: a did:key nobody can ever sign for (test_keys.py).
OFF_CURVE = keys.DID_KEY_PREFIX + keys.b58encode(
    keys.ED25519_PUB_MULTICODEC + (2).to_bytes(32, "little"))


@pytest.fixture
def chain() -> Chain:
    c = Chain.new()
    assert c.admit_org(ORG).ok
    assert c.admit_practitioner(ORG, DOCTOR).ok
    assert c.register_patient(PATIENT).ok
    return c


def _admit(who: keys.SigningKey, **changes: object) -> dict:
    """A valid admission of ``who`` by the authority (with ``who``'s pop), then changed."""
    return {**admit_org_msg(who, "clinic", "Clinic", enc_key(3)), **changes}


def _staff(who: keys.SigningKey, **changes: object) -> dict:
    """A valid admission of ``who`` as ORG's nurse, then changed."""
    return {**admit_practitioner_msg(ORG, who, ["nurse"], enc_key(4)), **changes}


def _revoke(did: str, reason: object = "unspecified") -> dict:
    return {"type": "identity/revoke", "did": did, "reason": reason}


def _flip_sig(raw: bytes) -> bytes:
    env = encoding.decode(raw)
    env["sig"] = ("1" if env["sig"][0] != "1" else "2") + env["sig"][1:]
    return encoding.encode(env)


def _reencode(raw: bytes, **changes: object) -> bytes:
    env = encoding.decode(raw)
    env.update(changes)
    return encoding.encode(env)


BAD: dict[str, tuple[Callable[[Chain], bytes], tuple[str, int]]] = {
    "bad signature": (lambda c: _flip_sig(c.tx(AUTHORITY, _admit(STRANGER))), ("tx", 5)),
    "signature by another key": (
        lambda c: c.tx(STRANGER, _admit(signing_key(40)), signer=AUTHORITY.did),
        ("tx", 5)),
    "wrong chain id": (lambda c: c.tx(AUTHORITY, _admit(STRANGER), chain_id="phr-other"),
                       ("tx", 4)),
    "replayed nonce": (lambda c: c.tx(AUTHORITY, _admit(STRANGER), nonce=1), ("tx", 6)),
    "skipped nonce": (lambda c: c.tx(AUTHORITY, _admit(STRANGER), nonce=9), ("tx", 7)),
    "unknown signer": (lambda c: c.tx(STRANGER, _admit(signing_key(41))), ("tx", 8)),
    "patient admits an organization": (lambda c: c.tx(PATIENT, _admit(STRANGER)),
                                       ("identity", 1)),
    "practitioner admits staff": (lambda c: c.tx(DOCTOR, _staff(STRANGER)), ("identity", 1)),
    "organization sets roles of another org's staff": (
        lambda c: c.tx(AUTHORITY, {"type": "identity/set_roles", "did": DOCTOR.did,
                                   "roles": ["emergency"]}), ("identity", 1)),
    "patient revokes a practitioner": (
        lambda c: c.tx(PATIENT, {"type": "identity/revoke", "did": DOCTOR.did,
                                 "reason": "unspecified"}), ("identity", 1)),
    "malformed bytes": (lambda c: b"\x00not json", ("tx", 1)),
    "non-canonical envelope": (
        lambda c: c.tx(AUTHORITY, _admit(STRANGER)).replace(b'{"chain_id"',
                                                                 b'{ "chain_id"'), ("tx", 1)),
    "oversize tx": (lambda c: b"{" + b" " * MAX_TX_BYTES + b"}", ("tx", 2)),
    "unsupported version": (lambda c: _reencode(c.tx(AUTHORITY, _admit(STRANGER)), v=2),
                            ("tx", 3)),
    "unknown message type": (lambda c: c.tx(AUTHORITY, {"type": "identity/teleport"}),
                             ("tx", 10)),
    "missing field": (lambda c: c.tx(AUTHORITY, {"type": "identity/admit_organization",
                                                 "did": STRANGER.did, "pop": "00" * 64}),
                      ("identity", 6)),
    "low-order encryption key": (
        lambda c: c.tx(AUTHORITY, {**_admit(STRANGER), "enc_key": "00" * 32}),
        ("identity", 4)),
    "second message fails": (
        lambda c: c.tx(AUTHORITY, _admit(STRANGER), _admit(STRANGER)),
        ("identity", 2)),
    # -- proof of possession (identity/9) ------------------------------------------------
    "admission without pop": (
        lambda c: c.tx(AUTHORITY, {k: v for k, v in _admit(STRANGER).items() if k != "pop"}),
        ("identity", 9)),
    "practitioner admission without pop": (
        lambda c: c.tx(ORG, {k: v for k, v in _staff(STRANGER).items() if k != "pop"}),
        ("identity", 9)),
    "pop is not hex": (lambda c: c.tx(AUTHORITY, _admit(STRANGER, pop=5)), ("identity", 9)),
    "pop signed by the admitter, not the admitted key (DID squatting)": (
        lambda c: c.tx(ORG, _staff(STRANGER, pop=ORG.sign(b"anything").hex())),
        ("identity", 9)),
    "pop made for another admitter": (
        lambda c: c.tx(ORG, _staff(STRANGER, pop=pop(STRANGER, AUTHORITY.did, enc_key(4)))),
        ("identity", 9)),
    "pop made for another chain": (
        lambda c: c.tx(AUTHORITY, _admit(STRANGER, pop=pop(STRANGER, AUTHORITY.did,
                                                           enc_key(3), "phr-other"))),
        ("identity", 9)),
    "pop over another encryption key": (
        lambda c: c.tx(AUTHORITY, _admit(STRANGER, enc_key=enc_key(5))), ("identity", 9)),
    "pop of another DID's key": (
        lambda c: c.tx(AUTHORITY, _admit(STRANGER, did=signing_key(42).did)),
        ("identity", 9)),
    # -- roles tied to the organization's type (identity/11) -----------------------------
    "hospital gives an insurer role": (
        lambda c: c.tx(ORG, _staff(STRANGER, roles=["claims_reviewer"])), ("identity", 11)),
    "hospital sets an insurer role": (
        lambda c: c.tx(ORG, {"type": "identity/set_roles", "did": DOCTOR.did,
                             "roles": ["claims_reviewer", "nurse"]}), ("identity", 11)),
    # -- the signer must still be active, and governance must remain ---------------------
    "organization revokes itself, then admits in the same tx": (
        lambda c: c.tx(ORG, _revoke(ORG.did), _staff(STRANGER)), ("tx", 9)),
    "organization revokes itself, then sets roles in the same tx": (
        lambda c: c.tx(ORG, _revoke(ORG.did), {"type": "identity/set_roles",
                                               "did": DOCTOR.did, "roles": ["nurse"]}),
        ("tx", 9)),
    "organization revokes itself, then revokes its staff in the same tx": (
        lambda c: c.tx(ORG, _revoke(ORG.did), _revoke(DOCTOR.did)), ("tx", 9)),
    "last authority revokes itself": (lambda c: c.tx(AUTHORITY, _revoke(AUTHORITY.did)),
                                      ("identity", 10)),
    # -- wrong-typed fields: the module's code, never tx/99 ------------------------------
    "org_type is a list": (lambda c: c.tx(AUTHORITY, _admit(STRANGER, org_type=["hospital"])),
                           ("identity", 6)),
    "org_type is an object": (lambda c: c.tx(AUTHORITY, _admit(STRANGER, org_type={})),
                              ("identity", 6)),
    "name is a number": (lambda c: c.tx(AUTHORITY, _admit(STRANGER, name=5)), ("identity", 6)),
    "did is a number": (lambda c: c.tx(AUTHORITY, _admit(STRANGER, did=5)), ("identity", 4)),
    "did is a list": (lambda c: c.tx(ORG, _staff(STRANGER, did=[STRANGER.did])),
                      ("identity", 4)),
    "did holds a key off the curve": (lambda c: c.tx(ORG, _staff(STRANGER, did=OFF_CURVE)),
                                      ("identity", 4)),
    "revoke names a key off the curve": (lambda c: c.tx(AUTHORITY, _revoke(OFF_CURVE)),
                                         ("identity", 4)),
    "enc_key is a number": (lambda c: c.tx(AUTHORITY, _admit(STRANGER, enc_key=7)),
                            ("identity", 4)),
    "roles is a string": (lambda c: c.tx(ORG, _staff(STRANGER, roles="nurse")),
                          ("identity", 6)),
    "roles holds a list": (lambda c: c.tx(ORG, _staff(STRANGER, roles=[["nurse"]])),
                           ("identity", 6)),
    "roles holds an object": (
        lambda c: c.tx(ORG, {"type": "identity/set_roles", "did": DOCTOR.did,
                             "roles": [{"nurse": 1}]}), ("identity", 6)),
    "reason is an object": (lambda c: c.tx(PATIENT, _revoke(PATIENT.did, {})),
                            ("identity", 6)),
    "reason is a list": (lambda c: c.tx(PATIENT, _revoke(PATIENT.did, ["unspecified"])),
                         ("identity", 6)),
    "revoked did is a number": (lambda c: c.tx(PATIENT, _revoke(5)), ("identity", 4)),
    "new_key is a list": (
        lambda c: c.tx(PATIENT, {"type": "identity/rotate_key", "new_key": [],
                                 "proof": "00" * 64}), ("identity", 4)),
    "rotation proof is an object": (
        lambda c: c.tx(PATIENT, {"type": "identity/rotate_key",
                                 "new_key": signing_key(43).public_key.hex(), "proof": {}}),
        ("identity", 4)),
    "patient enc_key is a number": (
        lambda c: c.tx(signing_key(44), {"type": "identity/register_patient", "enc_key": 7}),
        ("identity", 4)),
}


def _dump(chain: Chain) -> list[tuple[bytes, bytes]]:
    return tx_state(chain)


@pytest.mark.parametrize("case", list(BAD))
def test_bad_input_has_stable_code_and_changes_nothing(chain: Chain, case: str) -> None:
    make, expected = BAD[case]
    raw = make(chain)
    before = _dump(chain)
    checked = chain.app.check_tx(raw)
    assert (checked.codespace, checked.code) == expected, checked.log
    assert checked.log  # a human sentence
    result = chain.block([raw]).tx_results[0]
    assert (result.codespace, result.code) == expected, result.log
    assert _dump(chain) == before


def test_revoked_signer_is_refused_and_changes_nothing(chain: Chain) -> None:
    assert chain.run(ORG, {"type": "identity/revoke", "did": DOCTOR.did,
                           "reason": "affiliation_changed"}).ok
    before = tx_state(chain)
    result = chain.run(DOCTOR, {"type": "identity/rotate_key", "new_key": "00" * 32,
                                "proof": "00" * 64})
    assert (result.codespace, result.code) == ("tx", 9)
    assert tx_state(chain) == before


def test_staff_of_revoked_organization_cannot_sign(chain: Chain) -> None:
    assert chain.run(AUTHORITY, {"type": "identity/revoke", "did": ORG.did,
                                 "reason": "ceased_operation"}).ok
    result = chain.run(DOCTOR, {"type": "identity/revoke", "did": DOCTOR.did,
                                "reason": "unspecified"})
    assert (result.codespace, result.code) == ("tx", 9)


def test_rotated_away_key_signs_nothing(chain: Chain) -> None:
    new = signing_key(99)
    proof = new.sign(rotation_bytes(CHAIN_ID, PATIENT.did, new.public_key))
    assert chain.run(PATIENT, {"type": "identity/rotate_key", "new_key": new.public_key.hex(),
                               "proof": proof.hex()}).ok
    stale = chain.run(PATIENT, {"type": "identity/revoke", "did": PATIENT.did,
                                "reason": "unspecified"})
    assert (stale.codespace, stale.code) == ("tx", 5)
    fresh = chain.run(new, {"type": "identity/revoke", "did": PATIENT.did,
                            "reason": "key_compromise"}, signer=PATIENT.did, nonce=3)
    assert fresh.ok, fresh.log


def test_a_failed_tx_does_not_consume_the_nonce(chain: Chain) -> None:
    bad = chain.tx(PATIENT, _admit(STRANGER))  # nonce 2, unauthorised
    assert not chain.block([bad]).tx_results[0].ok
    good = chain.tx(PATIENT, {"type": "identity/revoke", "did": PATIENT.did,
                              "reason": "unspecified"}, nonce=2)
    assert chain.block([good]).tx_results[0].ok
