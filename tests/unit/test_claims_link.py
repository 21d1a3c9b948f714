"""Claims over another pseudonym's records (issue 14): the claim is signed by the
insurer-pseudonym and carries a link signed by the pseudonym that owns the named records
and the bill (the hospital-A pseudonym). Good, bad and misplaced links; the consent a
linked claim creates is the owner's; refusals change nothing."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.core import keys
from phrchain.modules.claims.messages import link_bytes
from phrchain.modules.identity import rotation_bytes
from phrchain.testing import CHAIN_ID
from tests.helpers import signing_key, tx_state
from tests.world import COVERED, INSURER, IR, ClaimsWorld, P, Q

# P is the patient's pseudonym at hospital A (records, bills); PI the same patient's
# pseudonym at the insurer (enrolment, claims); Q another patient's pseudonym.
PI = signing_key(303)
LINES = [(COVERED[0], 1000), (COVERED[1], 500)]


@pytest.fixture
def w() -> ClaimsWorld:
    world = ClaimsWorld()
    assert world.chain.register_patient(PI).ok
    return world


@pytest.fixture
def product(w: ClaimsWorld) -> str:
    pid = w.publish()
    w.enrol(PI, pid)
    w.mint(INSURER, 10_000_000)
    return pid


def link(claim: str, owner: keys.SigningKey, member: keys.SigningKey = PI,
         signer: keys.SigningKey | None = None) -> dict[str, str]:
    """``owner``'s link for ``claim`` filed by ``member`` (signed by ``signer``'s key)."""
    sig = (signer or owner).sign(link_bytes(claim, member.did))
    return {"pseudonym": owner.did, "sig": sig.hex()}


def linked_msg(w: ClaimsWorld, product: str, owner: keys.SigningKey = P,
               records: list[str] | None = None, bill: str | None = None) -> dict[str, Any]:
    records = records or [w.record(patient=owner)]
    msg = w.claim_msg(PI, product, bill or w.bill(owner, 1500), records, LINES)
    return {**msg, "link": link(msg["claim"], owner)}


def test_link_bytes_are_the_designed_encoding() -> None:
    assert link_bytes("ab" * 16, "did:key:z6Mkx") == (
        b'{"claim":"' + b"ab" * 16 + b'","domain":"phrchain/claims/link/v1",'
        b'"member":"did:key:z6Mkx"}')


def test_a_linked_claim_is_paid_to_the_insurer_pseudonym(w: ClaimsWorld,
                                                          product: str) -> None:
    named = [w.record(patient=P) for _ in range(2)]
    other = w.record(patient=P)
    msg = linked_msg(w, product, records=named)
    before = {who.did: w.balance(who) for who in (P, PI)}
    w.ok(PI, msg)
    c = w.query("claims/claim", claim=msg["claim"])
    assert (c["status"], c["patient"], c["owner"], c["payout"], c["payment"]) == \
        ("approved", PI.did, P.did, 1500, "paid")
    assert w.balance(PI) - before[PI.did] == 1500 and w.balance(P) == before[P.did]
    # the HPAYMT consent is the owner pseudonym's, over exactly the named records
    consent = w.query("consent/get", consent=msg["claim"])
    assert consent["patient"] == P.did
    assert consent["scope"] == {"records": sorted(named)}
    assert msg["claim"] in w.query("consent/patient", patient=P.did)["consents"]
    for record in named:
        for who in (INSURER, IR):
            assert w.decide(who, "read", record, "HPAYMT")["permit"]
    assert not w.decide(INSURER, "read", other, "HPAYMT")["permit"]
    # the insurer-pseudonym's own listing has the claim; nothing names it under P
    assert w.query("claims/of_patient", patient=PI.did)["claims"] == [msg["claim"]]
    assert w.query("claims/of_patient", patient=P.did)["claims"] == []


def test_without_a_link_the_insurer_pseudonym_cannot_claim_p_records(
        w: ClaimsWorld, product: str) -> None:
    msg = linked_msg(w, product)
    del msg["link"]
    assert w.fails(PI, msg) == ("claims", 10)       # bill_not_yours: the bill is P's
    own_bill = w.bill(PI, 1500)
    assert w.fails(PI, {**msg, "bill": own_bill}) == ("claims", 13)   # not_your_record


def _refused(w: ClaimsWorld, msg: dict[str, Any], code: int) -> None:
    before = tx_state(w.chain)
    assert w.fails(PI, msg) == ("claims", code), msg.get("link")
    assert tx_state(w.chain) == before


def test_bad_link_signatures_are_refused(w: ClaimsWorld, product: str) -> None:
    msg = linked_msg(w, product)
    sig = bytearray(bytes.fromhex(msg["link"]["sig"]))
    sig[5] ^= 1
    _refused(w, {**msg, "link": {**msg["link"], "sig": sig.hex()}}, 24)
    # a link signed for another claim, or for another member, does not transfer
    _refused(w, {**msg, "link": link("00" * 16, P)}, 24)
    _refused(w, {**msg, "link": link(msg["claim"], P, member=Q)}, 24)
    # the right pseudonym named, signed by another pseudonym's key
    _refused(w, {**msg, "link": link(msg["claim"], P, signer=Q)}, 24)
    _refused(w, {**msg, "link": link(msg["claim"], P, signer=PI)}, 24)
    w.ok(PI, msg)


def test_link_must_name_the_owner_of_every_record_and_the_bill(w: ClaimsWorld,
                                                               product: str) -> None:
    mine, theirs = w.record(patient=P), w.record(patient=Q)
    msg = linked_msg(w, product, records=[mine, theirs])
    _refused(w, msg, 27)                                   # record_not_linked
    msg = linked_msg(w, product, bill=w.bill(Q, 1500))
    _refused(w, msg, 26)                                   # bill_not_linked
    # a link by Q (valid signature) over P's records is still Q's link
    msg = linked_msg(w, product)
    _refused(w, {**msg, "link": link(msg["claim"], Q)}, 26)


def test_link_to_an_unknown_pseudonym_or_to_oneself(w: ClaimsWorld, product: str) -> None:
    msg = linked_msg(w, product)
    stranger = signing_key(398)
    _refused(w, {**msg, "link": link(msg["claim"], stranger)}, 25)   # unknown_pseudonym
    _refused(w, {**msg, "link": link(msg["claim"], IR)}, 25)         # not a patient
    _refused(w, {**msg, "link": link(msg["claim"], PI)}, 2)          # the signer itself
    _refused(w, {**msg, "link": {"pseudonym": P.did}}, 2)
    _refused(w, {**msg, "link": {**msg["link"], "sig": msg["link"]["sig"].upper()}}, 2)
    _refused(w, {**msg, "link": {**msg["link"], "extra": 1}}, 2)


def test_the_link_verifies_with_the_pseudonyms_current_key(w: ClaimsWorld,
                                                          product: str) -> None:
    record, bill = w.record(patient=P), w.bill(P, 1500)
    new = signing_key(397)
    proof = new.sign(rotation_bytes(CHAIN_ID, P.did, new.public_key))
    w.ok(P, {"type": "identity/rotate_key", "new_key": new.public_key.hex(),
             "proof": proof.hex()})
    msg = w.claim_msg(PI, product, bill, [record], LINES)
    _refused(w, {**msg, "link": link(msg["claim"], P)}, 24)           # the retired key
    w.ok(PI, {**msg, "link": link(msg["claim"], P, signer=new)})
