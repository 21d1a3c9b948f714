"""FinalizeBlock reuses ProcessProposal's run of the same block (and only of the same
block on the same parent), and a mempool re-check skips the signature and nothing else
(issue 20)."""

from __future__ import annotations

import hashlib
import random
from typing import Any

import pytest

from phrchain import app as app_module
from phrchain.core import keys
from phrchain.core.errors import BAD_SIGNATURE
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import build_tx
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.adapter import AbciApplication
from tests.helpers import CHAIN_ID, enc_key, signing_key
from tests.unit.test_abci import _ts, call, init, patient_tx

ACCEPT = pb.ResponseProcessProposal.ACCEPT
MS = 1_700_000_100_000


def fresh(reuse: bool = True) -> AbciApplication:
    app = AbciApplication(MemoryStateStore(), reuse_trials=reuse)
    init(app)
    return app


def block_hash(height: int, ms: int, txs: list[bytes], round_: int = 0) -> bytes:
    """A stand-in for CometBFT's header hash: distinct blocks get distinct hashes."""
    parts = [b"%d/%d/%d" % (height, ms, round_), *(hashlib.sha256(t).digest() for t in txs)]
    return hashlib.sha256(b"".join(parts)).digest()


def process(app: AbciApplication, height: int, ms: int, txs: list[bytes],
            round_: int = 0) -> int:
    return int(call(app, "process_proposal", txs=txs, height=height, time=_ts(ms),
                    hash=block_hash(height, ms, txs, round_)).status)


def finalize(app: AbciApplication, height: int, ms: int, txs: list[bytes],
             round_: int = 0, hash_: bytes | None = None) -> Any:
    result = call(app, "finalize_block", txs=txs, height=height, time=_ts(ms),
                  hash=hash_ if hash_ is not None else block_hash(height, ms, txs, round_))
    call(app, "commit")
    return result


def reference_hash(history: list[tuple[int, list[bytes]]]) -> bytes:
    """The app hash after executing ``history`` (time, txs) afresh, block by block."""
    app = fresh(reuse=False)
    result = None
    for height, (ms, txs) in enumerate(history, start=1):
        result = finalize(app, height, ms, txs)
    assert result is not None and app.reused == 0
    return bytes(result.app_hash)


def test_finalize_reuses_the_processed_block_and_matches_a_fresh_execution() -> None:
    app = fresh()
    txs = [patient_tx(n) for n in range(100, 105)]
    assert process(app, 1, MS, txs) == ACCEPT
    result = finalize(app, 1, MS, txs)
    assert (app.reused, app.executed) == (1, 0)
    assert [r.code for r in result.tx_results] == [0] * 5
    assert bytes(result.app_hash) == reference_hash([(MS, txs)])


def test_a_different_block_at_the_same_height_is_executed_again() -> None:
    app = fresh()
    a = [patient_tx(n) for n in range(110, 114)]
    b = [patient_tx(n) for n in range(114, 117)]
    assert process(app, 1, MS, a) == ACCEPT
    result = finalize(app, 1, MS, b)  # the network decided another proposal
    assert (app.reused, app.executed) == (0, 1)
    assert bytes(result.app_hash) == reference_hash([(MS, b)])
    # Same hash but other contents (never sent by CometBFT; checked all the same), and
    # the same txs at another time: both run again.
    assert process(app, 2, MS + 1000, a) == ACCEPT
    second = finalize(app, 2, MS + 1000, a[:2], hash_=block_hash(2, MS + 1000, a))
    assert process(app, 3, MS + 2000, a[2:]) == ACCEPT
    third = finalize(app, 3, MS + 2001, a[2:], hash_=block_hash(3, MS + 2000, a[2:]))
    assert (app.reused, app.executed) == (0, 3)
    assert bytes(second.app_hash) != bytes(third.app_hash)
    assert bytes(third.app_hash) == reference_hash([(MS, b), (MS + 1000, a[:2]),
                                                    (MS + 2001, a[2:])])


def test_our_own_proposal_reuses_the_prepared_run_unless_it_dropped_txs() -> None:
    app = fresh()
    txs = [patient_tx(n) for n in range(120, 124)]
    prepared = call(app, "prepare_proposal", txs=txs, height=1, time=_ts(MS),
                    max_tx_bytes=1_000_000)
    assert list(prepared.txs) == txs
    assert process(app, 1, MS, txs) == ACCEPT
    first = finalize(app, 1, MS, txs)
    assert (app.reused, app.executed) == (1, 0)
    bad = [patient_tx(125), patient_tx(126, nonce=3)]  # the second one is dropped
    prepared = call(app, "prepare_proposal", txs=bad, height=2, time=_ts(MS + 1000),
                    max_tx_bytes=1_000_000)
    assert list(prepared.txs) == bad[:1]
    assert process(app, 2, MS + 1000, bad[:1]) == ACCEPT
    second = finalize(app, 2, MS + 1000, bad[:1])
    assert (app.reused, app.executed) == (1, 1)
    assert bytes(first.app_hash) == reference_hash([(MS, txs)])
    assert bytes(second.app_hash) == reference_hash([(MS, txs), (MS + 1000, bad[:1])])


def _random_txs(rng: random.Random, next_signer: list[int], used: list[int]) -> list[bytes]:
    txs: list[bytes] = []
    for _ in range(rng.randrange(0, 7)):
        kind = rng.random()
        if kind < 0.6 or not used:  # a new patient
            n = next_signer[0]
            next_signer[0] += 1
            txs.append(patient_tx(n))
        elif kind < 0.75:  # a signer already seen: nonce replayed, or skipped ahead
            txs.append(patient_tx(rng.choice(used), nonce=rng.choice([1, 3])))
        elif kind < 0.85 and txs:  # the same tx twice in one block
            txs.append(rng.choice(txs))
        elif kind < 0.95:  # the same signer twice, other keys: the second is replayed
            n = rng.choice(used)
            txs.append(build_tx(signing_key(n), CHAIN_ID, 1,
                                [{"type": "identity/register_patient",
                                  "enc_key": enc_key(n + 7)}]))
        else:
            txs.append(b"not a tx %d" % rng.randrange(1000))
    return txs


def test_reusing_and_re_executing_nodes_agree_over_random_blocks() -> None:
    rng = random.Random(20)
    reusing, reference = fresh(), fresh(reuse=False)
    next_signer, used = [1000], []
    for height in range(1, 41):
        ms = MS + height * 1000
        rounds = [_random_txs(rng, next_signer, used) for _ in range(rng.randrange(1, 4))]
        for node in (reusing, reference):
            # The proposer's view: PrepareProposal on one of the candidates, sometimes.
            if rng.random() < 0.5:
                call(node, "prepare_proposal", txs=rounds[0], height=height, time=_ts(ms),
                     max_tx_bytes=rng.choice([300, 1_000_000]))
        statuses = [process(reusing, height, ms, txs, r) for r, txs in enumerate(rounds)]
        assert statuses == [process(reference, height, ms, txs, r)
                            for r, txs in enumerate(rounds)]
        # The decided block: one of the processed (accepted or not: a node that missed
        # the vote still finalizes what +2/3 decided), or a block never processed here.
        pick = rng.randrange(len(rounds) + 1)
        txs = rounds[pick] if pick < len(rounds) else _random_txs(rng, next_signer, used)
        a = finalize(reusing, height, ms, txs, pick)
        b = finalize(reference, height, ms, txs, pick)
        assert bytes(a.app_hash) == bytes(b.app_hash), f"height {height}"
        assert [(r.code, r.codespace, bytes(r.data)) for r in a.tx_results] == \
            [(r.code, r.codespace, bytes(r.data)) for r in b.tx_results]
        used[:] = range(1000, next_signer[0])
    assert reference.reused == 0 and reusing.reused >= 10 and reusing.executed >= 5
    assert reusing.reused + reusing.executed == 40


# -- mempool re-check --------------------------------------------------------------------------
@pytest.fixture
def verifies(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """The signed bytes of every Ed25519 verification the application runs."""
    seen: list[bytes] = []
    real = keys.verify

    def counting(public_key: bytes, sig: bytes, message: bytes) -> None:
        seen.append(message)
        real(public_key, sig, message)

    monkeypatch.setattr(app_module.keys, "verify", counting)
    return seen


def check(app: AbciApplication, tx: bytes, recheck: bool = False) -> Any:
    return call(app, "check_tx", tx=tx, type=pb.RECHECK if recheck else pb.NEW)


def test_recheck_skips_only_the_signature(verifies: list[bytes]) -> None:
    app = fresh()
    waiting, other = patient_tx(200), patient_tx(201)
    assert check(app, waiting).code == 0 and check(app, other).code == 0
    assert len(verifies) == 2
    app.app._verified.clear()  # as if the shared cache had evicted them
    finalize(app, 1, MS, [other])  # the block verifies `other` again: its cache is gone
    assert len(verifies) == 3
    # After the commit CometBFT re-checks the mempool: no signature check, same answer.
    assert check(app, waiting, recheck=True).code == 0
    assert len(verifies) == 3
    # State-dependent checks do rerun: the signer's nonce 1 is used by another tx.
    same_signer = build_tx(signing_key(200), CHAIN_ID, 1,
                           [{"type": "identity/register_patient", "enc_key": enc_key(9)}])
    finalize(app, 2, MS + 1000, [same_signer])
    replayed = check(app, waiting, recheck=True)
    assert (replayed.codespace, replayed.code) == ("tx", 6)  # nonce_replayed
    assert len(verifies) == 4  # the block's tx only


def test_recheck_verifies_what_the_mempool_did_not(verifies: list[bytes]) -> None:
    app = fresh()
    # Never checked as new here (e.g. this node restarted): verified on re-check.
    assert check(app, patient_tx(210), recheck=True).code == 0
    assert len(verifies) == 1
    # A signature that does not verify fails a re-check too (its tx hash is not one the
    # mempool passed: the hash covers the signature).
    good = patient_tx(211)
    assert check(app, good).code == 0
    forged = bytearray(good)
    at = forged.index(b'"sig":"') + 7
    forged[at] = ord("1") if forged[at] != ord("1") else ord("2")
    result = check(app, bytes(forged), recheck=True)
    assert (result.codespace, result.code) == (BAD_SIGNATURE.codespace, BAD_SIGNATURE.code)
    assert len(verifies) == 3
