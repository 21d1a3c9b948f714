"""audit module: sealed entries appended by an organization holding a record of the
patient, the RFC 9162 log over their leaves, and what the chain refuses."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrchain.core import encoding, rfc9162
from phrchain.core.errors import TxError
from phrchain.modules.audit.messages import AUDIT_APPENDED, EVENTS, MAX_READERS, Append
from phrchain.testing import tx_state
from tests.audit_entries import READER, sealed
from tests.world import A1, AE, GA, HOSPITAL_A, HOSPITAL_B, INSURER, REGULATOR, P, Q, World


@pytest.fixture
def w() -> World:
    return World()


def entry(w: World, record: str, **kw: Any) -> dict[str, Any]:
    return sealed(P.did, HOSPITAL_A.did, record, A1.did, **kw)


def test_the_leaf_is_the_sealed_entry_in_its_place(w: World) -> None:
    record = w.record(author=A1, patient=P)
    e = entry(w, record)
    result = w.ok(HOSPITAL_A, {"type": "audit/append", "entries": [e]})
    found = w.query("audit/entry", patient=P.did, index=0)
    height = w.chain.app.store.version()
    assert bytes.fromhex(found["leaf"]) == encoding.encode(
        {"patient": P.did, "index": 0, "height": height, "vault": HOSPITAL_A.did,
         "request": e["request"], "commitment": e["commitment"], "sealed": e["sealed"]})
    assert [(ev.type, dict(ev.attributes)) for ev in result.events
            if ev.type.startswith("audit.")] == \
        [(AUDIT_APPENDED, {"patient": P.did, "index": "0"})]
    assert EVENTS == {AUDIT_APPENDED}  # no break-glass notice on chain: the flag is sealed


def test_audit_log_is_an_rfc9162_log_with_inclusion_and_consistency_proofs(w: World) -> None:
    record = w.record(author=A1, patient=P)
    entries = [entry(w, record) for _ in range(5)]
    w.ok(HOSPITAL_A, {"type": "audit/append", "entries": entries[:3]})
    old_height = w.chain.app.store.version()
    old = w.chain.app.query("audit/head", {"patient": P.did}, prove=True)
    w.ok(HOSPITAL_A, {"type": "audit/append", "entries": entries[3:]})
    head = w.query("audit/head", patient=P.did)
    assert head["size"] == 5 and old["value"]["size"] == 3 and old["height"] == old_height
    for index in range(5):
        e = w.query("audit/entry", patient=P.did, index=index)
        leaf = bytes.fromhex(e["leaf"])
        assert encoding.decode(leaf)["request"] == entries[index]["request"]
        assert e["entry"]["vault"] == HOSPITAL_A.did and e["entry"]["index"] == index
        rfc9162.verify_inclusion(rfc9162.leaf_hash(leaf), index, 5,
                                 [bytes.fromhex(p) for p in e["inclusion"]],
                                 bytes.fromhex(head["root"]))
    proof = w.query("audit/consistency", patient=P.did, size1=3)
    rfc9162.verify_consistency(3, 5, [bytes.fromhex(p) for p in proof["proof"]],
                               bytes.fromhex(old["value"]["root"]),
                               bytes.fromhex(head["root"]))
    listed = w.query("audit/entries", patient=P.did, start=1, limit=2)
    assert [x["index"] for x in listed["entries"]] == [1, 2] and listed["next"] == 3


def test_append_is_idempotent_per_request(w: World) -> None:
    record = w.record(author=A1, patient=P)
    e = sealed(P.did, HOSPITAL_A.did, record, AE.did, reason="break_glass", break_glass=True,
               purpose="ETREAT", action="break_glass")
    w.ok(HOSPITAL_A, {"type": "audit/append", "entries": [e]})
    again = w.ok(HOSPITAL_A, {"type": "audit/append", "entries": [e]})  # after a crash
    assert w.query("audit/head", patient=P.did)["size"] == 1
    assert not [ev for ev in again.events if ev.type == AUDIT_APPENDED]


def test_an_organization_holding_a_copy_by_push_appends_too(w: World) -> None:
    record = w.record(author=A1, patient=P)
    w.ok(P, {"type": "records/add_holder", "record": record, "org": HOSPITAL_B.did})
    w.ok(HOSPITAL_B, {"type": "audit/append",
                      "entries": [sealed(P.did, HOSPITAL_B.did, record, A1.did)]})
    assert w.query("audit/entry", patient=P.did, index=0)["entry"]["vault"] == HOSPITAL_B.did


def test_the_chain_bytes_of_an_append_name_no_accessor_record_action_purpose_or_decision(
        w: World) -> None:
    record = w.record(author=A1, patient=P)
    consent = "c0" * 16
    e = sealed(P.did, HOSPITAL_A.did, record, AE.did, reason="consent", consent=consent,
               purpose="HPAYMT", action="view")
    before = dict(tx_state(w.chain))
    raw = w.chain.tx(HOSPITAL_A, {"type": "audit/append", "entries": [e]})
    result = w.chain.block([raw]).tx_results[0]
    assert result.ok, result.log
    written = [k + b"=" + v for k, v in tx_state(w.chain) if before.get(k) != v]
    events = encoding.encode([[ev.type, [list(a) for a in ev.attributes]]
                              for ev in result.events])
    assert any(b"audit/leaf/" in x for x in written)
    for blob in (raw, events, *written):
        for secret in (AE.did, record, consent, "HPAYMT", "view", "permit", "consent",
                       "accessor", "purpose", "decision"):
            assert secret.encode() not in blob, (secret, blob[:80])


@pytest.mark.parametrize(("signer", "code"), [
    (A1, ("audit", 1)),          # a practitioner, not an organization
    (HOSPITAL_B, ("audit", 1)),  # an organization holding nothing of the patient
    (INSURER, ("audit", 1)),
    (REGULATOR, ("audit", 1)),   # the regulator reads entries, never writes them
    (GA, ("audit", 1)),
])
def test_only_an_organization_holding_a_record_of_the_patient_appends(
        w: World, signer: Any, code: tuple[str, int]) -> None:
    record = w.record(author=A1, patient=P)
    w.record(author=A1, patient=Q)  # hospital B holds a record of Q, not of P:
    q_record = w.record(author=A1, patient=Q)
    w.ok(Q, {"type": "records/add_holder", "record": q_record, "org": HOSPITAL_B.did})
    e = sealed(P.did, signer.did, record, A1.did)
    assert w.fails(signer, {"type": "audit/append", "entries": [e]}) == code
    assert w.query("audit/head", patient=P.did)["size"] == 0


def test_one_entry_for_a_patient_it_holds_nothing_of_refuses_the_batch(w: World) -> None:
    mine = w.record(author=A1, patient=P)
    batch = [entry(w, mine), sealed(Q.did, HOSPITAL_A.did, mine, A1.did)]
    assert w.fails(HOSPITAL_A, {"type": "audit/append", "entries": batch}) == ("audit", 1)
    assert w.query("audit/head", patient=P.did)["size"] == 0


def _mutate(e: dict[str, Any], how: str) -> dict[str, Any]:
    e = copy.deepcopy(e)
    s, ks = e["sealed"], e["sealed"]["keys"]
    some = next(iter(ks))
    if how == "ct_not_a_block":
        s["ct"] = s["ct"][:-2]
    elif how == "ct_too_long":
        s["ct"] = "00" * (9 * 256 + 16)
    elif how == "ct_only_tag":
        s["ct"] = "00" * 16
    elif how == "ct_upper":
        s["ct"] = s["ct"].upper()
    elif how == "ct_not_hex":
        s["ct"] = "zz" + s["ct"][2:]
    elif how == "keys_empty":
        s["keys"] = {}
    elif how == "keys_too_many":
        from tests.world import signing_key
        s["keys"] = {signing_key(900 + i).did: ks[some] for i in range(MAX_READERS + 1)}
    elif how == "key_not_a_did":
        ks["did:web:example"] = ks[some]
    elif how == "wrapped_short":
        ks[some] = ks[some][:-2]
    elif how == "keys_a_list":
        s["keys"] = list(ks.items())
    elif how == "sealed_extra":
        s["extra"] = 1
    elif how == "entry_extra":
        e["record"] = "00" * 16  # the record is never on chain
    elif how == "no_commitment":
        del e["commitment"]
    elif how == "request_short":
        e["request"] = e["request"][:-2]
    elif how == "patient_not_a_did":
        e["patient"] = "patient-1"
    elif how == "sealed_a_string":
        e["sealed"] = "opaque"
    return e


@pytest.mark.parametrize("how", [
    "ct_not_a_block", "ct_too_long", "ct_only_tag", "ct_upper", "ct_not_hex", "keys_empty",
    "keys_too_many", "key_not_a_did", "wrapped_short", "keys_a_list", "sealed_extra",
    "entry_extra", "no_commitment", "request_short", "patient_not_a_did", "sealed_a_string",
])
def test_bad_sealed_shapes_are_refused(w: World, how: str) -> None:
    record = w.record(author=A1, patient=P)
    bad = _mutate(entry(w, record), how)
    assert w.fails(HOSPITAL_A, {"type": "audit/append", "entries": [bad]}) == ("audit", 2)
    assert w.query("audit/head", patient=P.did)["size"] == 0


@pytest.mark.parametrize("missing", ["patient", "vault"])
def test_a_sealed_entry_must_be_readable_by_its_patient_and_its_vault(
        w: World, missing: str) -> None:
    record = w.record(author=A1, patient=P)
    e = entry(w, record, readers={GA.did: READER.public_key})
    del e["sealed"]["keys"][P.did if missing == "patient" else HOSPITAL_A.did]
    assert w.fails(HOSPITAL_A, {"type": "audit/append", "entries": [e]}) == ("audit", 6)


def test_a_batch_holds_1_to_64_entries(w: World) -> None:
    record = w.record(author=A1, patient=P)
    assert w.fails(HOSPITAL_A, {"type": "audit/append", "entries": []}) == ("audit", 2)
    one = entry(w, record)
    # 65 sealed entries exceed the tx size limit too: the message check alone refuses them
    with pytest.raises(TxError) as exc:
        Append.parse({"entries": [dict(one, request=f"{i:064x}") for i in range(65)]})
    assert (exc.value.codespace, exc.value.code) == ("audit", 2)
    assert len(Append.parse({"entries": [one] * 64}).entries) == 64


# -- the log verifies for any sequence of appends ------------------------------------------
def _naive_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 section 2.1.1's MTH, recursively, straight from the spec."""
    import hashlib

    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _naive_root(leaves[:k]) + _naive_root(leaves[k:])).digest()


@settings(max_examples=15, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=4), min_size=1, max_size=5),
       st.data())
def test_roots_and_proofs_verify_for_random_sequences(batches: list[int], data: Any) -> None:
    w = World()
    record = w.record(author=A1, patient=P)
    template = entry(w, record)
    heads: list[dict[str, Any]] = []
    leaves: list[bytes] = []
    n = 0
    for size in batches:
        batch = [dict(template, request=f"{n + i:064x}") for i in range(size)]
        n += size
        w.ok(HOSPITAL_A, {"type": "audit/append", "entries": batch})
        heads.append(dict(w.query("audit/head", patient=P.did)))
    for index in range(n):
        leaves.append(bytes.fromhex(w.query("audit/entry", patient=P.did, index=index)["leaf"]))
    assert heads[-1]["size"] == n
    assert _naive_root(leaves).hex() == heads[-1]["root"]
    index = data.draw(st.integers(min_value=0, max_value=n - 1))
    found = w.query("audit/entry", patient=P.did, index=index)
    rfc9162.verify_inclusion(rfc9162.leaf_hash(leaves[index]), index, n,
                             [bytes.fromhex(p) for p in found["inclusion"]],
                             bytes.fromhex(heads[-1]["root"]))
    old = data.draw(st.sampled_from(heads))
    if old["size"] < n:
        proof = w.query("audit/consistency", patient=P.did, size1=old["size"])["proof"]
        rfc9162.verify_consistency(old["size"], n, [bytes.fromhex(p) for p in proof],
                                   bytes.fromhex(old["root"]), bytes.fromhex(heads[-1]["root"]))
