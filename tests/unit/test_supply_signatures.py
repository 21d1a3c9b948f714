"""A prescription's signature is verified once per process, and ahead by the solo
engine's verifier workers, with the same outcomes as verifying it in every run (issue 15,
speed): the memo of verified signatures, the app's message-signature jobs, the node's
worker path, the read-once helpers (``parties.acting_with_org``, the parameter table
cache) and replay determinism with and without pre-verification."""

from __future__ import annotations

import dataclasses
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError
from phrchain.core.module import Context
from phrchain.core.state import Overlay
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import decode_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.modules.identity import parties
from phrchain.modules.supply import custody, gs1
from phrchain.modules.supply import keys as supply_keys
from phrchain.testing import (
    AUTHORITY,
    CHAIN_ID,
    VALIDATOR,
    Chain,
    admit_practitioner_msg,
    enc_key,
    genesis,
    supply_params,
)
from tests.replay import Block, backends_agree_and_replay
from tests.supplyworld import PRODUCTS, World, tag

PRESCRIPTION = b"phrchain/supply/prescription/v1"
REASON = "ceased_operation"


def counting(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """Every message ``keys.verify`` is asked to check in this process, in order."""
    seen: list[bytes] = []
    real = keys.verify

    def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
        seen.append(message)
        real(public_key, signature, message)

    monkeypatch.setattr(keys, "verify", verify)
    return seen


def prescriptions(seen: list[bytes]) -> int:
    return sum(PRESCRIPTION in m for m in seen)


# -- the memo ------------------------------------------------------------------------------
def test_the_memo_verifies_a_good_signature_once_and_a_bad_one_every_time(
        monkeypatch: pytest.MonkeyPatch) -> None:
    seen = counting(monkeypatch)
    key = keys.SigningKey(bytes([9]) * 32)
    good = key.sign(b"hello")
    memo = keys.VerifiedSignatures(size=2)
    memo.verify(key.public_key, good, b"hello")
    memo.verify(key.public_key, good, b"hello")
    assert len(seen) == 1 and (key.public_key, good, b"hello") in memo
    for _ in range(2):  # a failure is never remembered
        with pytest.raises(CryptoError):
            memo.verify(key.public_key, good, b"hellO")
    assert len(seen) == 3
    # the same signature bytes under another message or key are other triples
    assert (key.public_key, good, b"hellO") not in memo
    other = keys.SigningKey(bytes([10]) * 32).public_key
    assert (other, good, b"hello") not in memo
    # bounded: the oldest entry goes
    for n in range(2):
        memo.verify(key.public_key, key.sign(bytes([n])), bytes([n]))
    assert (key.public_key, good, b"hello") not in memo
    # note() ignores malformed lengths (it could not have verified), and a triple whose
    # concatenation equals a known one's but splits differently is not "known"
    memo.note(key.public_key[:31], good, b"x")
    assert (key.public_key[:31], good, b"x") not in memo
    memo.verify(key.public_key, good, b"hello")
    shifted = (key.public_key[:31], key.public_key[31:] + good[:63], good[63:] + b"hello")
    assert shifted not in memo
    with pytest.raises(CryptoError):
        memo.verify(*shifted)


def test_a_context_without_a_memo_verifies_every_time(monkeypatch: pytest.MonkeyPatch) -> None:
    seen = counting(monkeypatch)
    key = keys.SigningKey(bytes([9]) * 32)
    ctx = Context(CHAIN_ID, 1, 0, "", Overlay(MemoryStateStore()))  # type: ignore[arg-type]
    for _ in range(2):
        ctx.verify_signature(key.public_key, key.sign(b"m"), b"m")
    assert len(seen) == 2


# -- in the app ----------------------------------------------------------------------------
def first_fill(world: World, rx: str = "rx-1", forged: bool = False) -> tuple[bytes, list[str]]:
    """A pharmacist's tx registering a prescription and dispensing one pack against it."""
    units = world.stock("morphine10", 1)
    prescription = world.prescription(rx)
    if forged:
        prescription = dataclasses.replace(prescription, quantity=2)  # not what was signed
    msg = world.dispense_msg(units, rx=rx, register=False)
    msg["quantity"] = prescription.quantity
    return world.chain.tx(world.pharmacist, prescription.to_msg(), msg), units


def check_then_execute(chain: Chain, raw: bytes) -> tuple[Any, Any]:
    checked = chain.app.check_tx(raw)
    return checked, chain.block([raw]).tx_results[0]


def test_a_prescription_is_verified_once_across_check_and_execution(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.build()
    raw, units = first_fill(world)
    seen = counting(monkeypatch)
    checked, executed = check_then_execute(world.chain, raw)
    assert checked.ok and executed.ok, (checked.log, executed.log)
    assert prescriptions(seen) == 1  # was 2: once in check_tx, again in the block
    assert world.q("supply/unit", unit=units[0])["status"] == "dispensed"


def test_a_job_the_engine_verified_is_not_verified_again(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.build()
    raw, _ = first_fill(world)
    app = world.chain.app
    jobs = app.message_signature_jobs(raw)
    assert len(jobs) == 1 and PRESCRIPTION in jobs[0][2]
    public_key, signature, message = jobs[0]
    assert public_key == world.physician.public_key
    keys.verify(public_key, signature, message)  # what the worker does
    app.note_signature(public_key, signature, message)
    assert app.message_signature_jobs(raw) == []  # known now: nothing left to send
    seen = counting(monkeypatch)
    checked, executed = check_then_execute(world.chain, raw)
    assert checked.ok and executed.ok
    assert prescriptions(seen) == 0


def test_a_forged_prescription_is_refused_whatever_was_noted(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.build()
    raw, units = first_fill(world, forged=True)
    app = world.chain.app
    (job,) = app.message_signature_jobs(raw)
    with pytest.raises(CryptoError):
        keys.verify(*job)  # a worker answers "no": nothing is noted
    seen = counting(monkeypatch)
    checked, executed = check_then_execute(world.chain, raw)
    assert (checked.codespace, checked.code) == ("supply", 1) == \
        (executed.codespace, executed.code)
    assert "signature does not verify" in executed.log
    assert prescriptions(seen) == 2  # a failure is never remembered
    assert world.q("supply/unit", unit=units[0])["status"] == "active"


def test_no_job_for_a_malformed_message_or_an_unknown_prescriber() -> None:
    world = World.build()
    app, chain = world.chain.app, world.chain
    good = world.prescription("rx-9").to_msg()
    assert app.message_signature_jobs(b"not a tx") == []
    assert app.message_signature_jobs(chain.tx(world.physician, {**good, "quantity": 0})) == []
    stranger = keys.SigningKey(bytes([77]) * 32).did
    assert app.message_signature_jobs(chain.tx(world.physician,
                                               {**good, "prescriber": stranger})) == []
    transfer = {"type": "settlement/transfer", "to": stranger, "amount": 1, "currency": "EUR"}
    assert app.message_signature_jobs(chain.tx(world.physician, transfer)) == []


def test_a_job_that_raises_is_skipped_and_the_handler_still_decides() -> None:
    world = World.build()
    raw, _ = first_fill(world)
    app = world.chain.app

    def broken(*_: Any) -> None:
        raise KeyError("a bug in a module's job")

    app._signature_jobs["supply/prescribe"] = broken
    assert app.message_signature_jobs(raw) == []
    checked, executed = check_then_execute(world.chain, raw)
    assert checked.ok and executed.ok


# -- the solo node: the prescription goes to the verifier workers ---------------------------
def _node(tmp_path: Path) -> tuple[SoloNode, keys.SigningKey, keys.SigningKey]:
    hospital, physician = keys.SigningKey(bytes([6]) * 32), keys.SigningKey(bytes([8]) * 32)
    orgs = [{"did": hospital.did, "org_type": "hospital", "name": "H", "enc_key": enc_key(11)}]
    home = tmp_path / "node"
    init_home(home, genesis(supply=supply_params(), organizations=orgs), VALIDATOR.seed,
              NodeConfig(block_interval_ms=20, verify_workers=1))
    node = SoloNode(home)
    node.start()
    return node, hospital, physician


def _committed(node: SoloNode, raw: bytes) -> dict[str, Any]:
    (admitted,) = node.submit_many([raw])
    if not admitted.ok:
        return {"status": "refused", "result": {"code": admitted.code, "log": admitted.log}}
    return node.wait_committed(decode_tx(raw).hash, timeout=20)


def test_the_node_verifies_a_prescription_in_its_workers(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    node, hospital, physician = _node(tmp_path)
    try:
        chain = Chain(node.app)
        admit = chain.tx(hospital, admit_practitioner_msg(hospital, physician, ("physician",)))
        assert _committed(node, admit)["status"] == "committed"
        world = World(chain, physician=physician)
        chain.time_ms = time.time_ns() // 1_000_000  # the node's blocks run on the wall clock
        seen = counting(monkeypatch)
        good = world.prescription("rx-node").to_msg()
        found = _committed(node, chain.tx(physician, good))
        assert found["status"] == "committed" and found["result"]["code"] == 0, found
        assert seen == []  # neither the tx's signature nor the prescription's ran here
        forged = {**world.prescription("rx-forged").to_msg(), "refills": 1}
        refused = _committed(node, chain.tx(physician, forged))
        assert refused["status"] == "refused" and refused["result"]["code"] == 1
        assert prescriptions(seen) == 1  # the worker said no: verified here, and refused
        assert node.query("supply/rx", {"rx": tag("rx-node")})["value"]["status"] == "active"
        assert node.query("supply/rx", {"rx": tag("rx-forged")})["value"] is None
    finally:
        node.close()


# -- the read-once helpers -----------------------------------------------------------------
def test_acting_with_org_answers_as_acting_organization_of_and_org_type() -> None:
    world = World.build(products=False)
    chain = world.chain
    patient = keys.SigningKey(bytes([55]) * 32)
    assert chain.register_patient(patient).ok
    revoked = chain.run(AUTHORITY, {"type": "identity/revoke", "did": world.clinic.did,
                                    "reason": REASON})
    assert revoked.ok, revoked.log
    state = chain.app._check
    assert parties.acting(state, world.physician2.did) is None  # its clinic is revoked
    dids = [k.did for k in (world.pharmacy, world.pharmacist, world.physician, world.nurse,
                            world.physician2, world.clinic, world.regulator, patient,
                            AUTHORITY)] + ["did:key:z6Mkunknown"]
    for did in dids:
        identity = parties.acting(state, did)
        org = None if identity is None else parties.organization_of(identity)
        expected = None if identity is None else \
            (identity, org, None if org is None else parties.org_type(state, org))
        assert parties.acting_with_org(state, did) == expected, did


def test_the_cached_parameter_table_is_the_stored_one_and_never_written(
        monkeypatch: pytest.MonkeyPatch) -> None:
    world = World.build()
    raw, _ = first_fill(world)
    assert world.chain.block([raw]).tx_results[0].ok
    state = world.chain.app._check
    version = int(encoding.decode(state.get(supply_keys.PARAMS_VERSION)))  # type: ignore[arg-type]
    stored = encoding.decode(state.get(supply_keys.params_key(version)))  # type: ignore[arg-type]
    assert custody._TABLES, "a dispense reads the table through the cache"
    cached = custody._TABLES[state.get(supply_keys.params_key(version))]  # type: ignore[index]
    assert cached == stored["params"]
    # a second chain with another table gets its own entry, never the first one's
    other = dict(supply_params())
    other["exemptions"] = sorted({*other["exemptions"], "zzz_other"})
    second = Chain.new(supply=other)
    raw_other = second.app._check.get(supply_keys.params_key(1))
    assert raw_other is not None and raw_other != state.get(supply_keys.params_key(version))
    ctx = Context(CHAIN_ID, 1, 0, "", second.app._check)
    assert custody.current_params(ctx)[1]["exemptions"] == other["exemptions"]


# -- replay determinism: pre-verified or not, the same chain --------------------------------
# what prelude's stock() commissioned in every world (serials count from 1 per world)
STOCKED = [f"{PRODUCTS['morphine10']['gtin']}/S{n:06d}" for n in range(1, 5)]


def make_world(chain: Chain) -> World:
    return World(chain)


def prelude(world: World) -> None:
    """Parameters, parties, products and four packs at the pharmacy (the same blocks in
    every world, the replaying one included)."""
    assert world.chain.run(AUTHORITY, {"type": "supply/set_params",
                                       "params": supply_params()}).ok
    world.populate()
    assert world.stock("morphine10", 4) == STOCKED


def _fills(world: World, units: list[str]) -> list[bytes]:
    """Three first fills, the second with a forged prescription, then a double dispense."""
    txs = []
    for n, unit in enumerate(units[:3]):
        rx = f"rx-replay-{n}"
        prescription = world.prescription(rx, patient=f"p{n % 2}")
        if n == 1:
            prescription = dataclasses.replace(prescription, refills=3)
        txs.append(world.chain.tx(world.pharmacist, prescription.to_msg(),
                                  world.dispense_msg([unit], rx=rx, patient=f"p{n % 2}",
                                                     register=False)))
        if n == 1:  # refused: its nonce stays unused, the next tx takes it
            world.chain.nonces[world.pharmacist.did] -= 1
    again = world.dispense_msg([units[0]], rx="rx-replay-0", patient="p0", register=False,
                               dispense=tag("second")[:32])
    return [*txs, world.chain.tx(world.pharmacist, again)]


def run(plan: str, worlds: list[World], blocks: list[Block]) -> None:
    first = worlds[0]
    units = STOCKED
    for world in worlds:
        assert world.chain.app.store.root() == first.chain.app.store.root()
        world.chain.nonces = dict(first.chain.nonces)
        world.chain.time_ms = first.chain.time_ms
    txs = _fills(first, units)
    if plan == "pre-verified":  # the memory world's engine verified every job ahead
        for raw in txs:
            for job in first.chain.app.message_signature_jobs(raw):
                try:
                    keys.verify(*job)
                except CryptoError:
                    continue
                first.chain.app.note_signature(*job)
    results = [world.chain.block(txs) for world in worlds]
    assert len({(r.app_hash, r.results_root) for r in results}) == 1
    codes = [(r.codespace, r.code) for r in results[0].tx_results]
    assert codes == [("", 0), ("supply", 1), ("", 0), ("supply", 9)], codes
    blocks.append((results[0].height, first.chain.time_ms, txs, results[0].app_hash,
                   results[0].results_root))


@pytest.mark.parametrize("plan", ["pre-verified", "verified in the handler"])
def test_memory_and_sqlite_agree_and_replay_reproduces(tmp_path: Path, plan: str) -> None:
    backends_agree_and_replay(tmp_path, plan, make_world, prelude, run)


@given(st.text("0123456789", max_size=20))
def test_the_check_digit_weights_3_1_3_from_the_right(body: str) -> None:
    weighted = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(body)))
    assert gs1.check_digit(body) == (10 - weighted % 10) % 10
