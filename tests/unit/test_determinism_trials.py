"""Replay determinism of the trials module: random mixes of valid and invalid trial
messages give the same app hash and results root on a memory store and a SQLite store at
every height, and a fresh application replaying the recorded blocks reproduces both."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrchain.core import keys
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import decode_tx
from phrchain.modules.trials.messages import (
    Amend,
    Commit,
    Enrol,
    Lock,
    Reconsent,
    Register,
    Sign,
    Unblind,
    Withdraw,
)
from phrchain.modules.trials.outcomes import Outcome
from tests.helpers import Chain
from tests.replay import backends_agree_and_replay
from tests.trialflow import OUTCOMES, TrialWorld, commitment, entry_id, protocol, trial_id
from tests.world import A1, A2, B1, HOSPITAL_A, HOSPITAL_B, RR

TRIALS = (trial_id(1), trial_id(2))
SWITCHED = (Outcome("mortality", "All-cause mortality", "12 months", "secondary"),
            Outcome("new", "Readmission", "30 days", "primary"))
Step = tuple[int, int, int]


def _msg(w: TrialWorld, kind: int, t: int, n: int, now: int) -> tuple[keys.SigningKey,
                                                                          dict[str, Any]]:
    trial = TRIALS[t]
    who = w.participant(n % 3, trial)
    site = (HOSPITAL_A, HOSPITAL_B)[n % 2]
    head = w.query("trials/trial", trial=trial)
    current = 1 if head is None else head["version"]
    version = w.query("trials/version", trial=trial, version=current) or {"protocol": "00" * 32}
    if kind == 0:
        return RR, Register(trial, now + (n % 3) * 1000 - 1000, protocol()).to_msg()
    if kind == 1:
        return RR, Commit(trial, ("sap", "randomisation")[n % 2], commitment(str(n))).to_msg()
    if kind == 2:
        return who, Enrol(trial, current, version["protocol"], site.did).to_msg()
    if kind == 3:
        return RR, Amend(trial, current - n % 2, protocol(doc=f"v{n}"), "change",
                         n % 3 == 0).to_msg()
    if kind == 4:
        return who, Reconsent(trial, current, version["protocol"]).to_msg()
    if kind == 5:
        return (A1, B1)[n % 2], w.entry_msg(trial, n, who)
    if kind == 6:
        return (A1, B1)[n % 2], w.entry_msg(trial, n + 100, who, corrects=entry_id(n),
                                           reason="fix")
    if kind == 7:
        return A2, Sign(trial, entry_id(n), ("review", "approval")[n % 2]).to_msg()
    if kind == 8:
        return RR, (Lock(trial) if n % 2 else Unblind(trial)).to_msg()
    if kind == 9:
        return RR, w.results_msg(trial, OUTCOMES if n % 2 else SWITCHED)
    return who, Withdraw(trial).to_msg()


steps = st.tuples(st.integers(0, 10), st.integers(0, 1), st.integers(0, 5))
plans = st.lists(st.lists(steps, min_size=1, max_size=4), min_size=1, max_size=14)


def run(plan: list[list[Step]], worlds: list[TrialWorld],
        blocks: list[tuple[int, int, list[bytes], bytes, bytes]]) -> Counter[tuple[str, int]]:
    first = worlds[0]
    outcomes: Counter[tuple[str, int]] = Counter()
    for block in plan:
        now = first.now + 1000
        txs = [first.chain.tx(*_msg(first, *step, now)) for step in block]
        results = [world.chain.block(txs) for world in worlds]
        assert len({(r.app_hash, r.results_root) for r in results}) == 1
        blocks.append((results[0].height, first.now, txs, results[0].app_hash,
                       results[0].results_root))
        for raw, r in zip(txs, results[0].tx_results, strict=True):
            outcomes[(r.codespace, r.code)] += 1
            if not r.ok:
                first.chain.nonces[decode_tx(raw).signer] -= 1
        for world in worlds[1:]:
            world.chain.nonces = dict(first.chain.nonces)
    return outcomes


def prelude(world: TrialWorld) -> None:
    for trial in TRIALS:
        for k in range(3):
            world.participant(k, trial)


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans)
def test_memory_and_sqlite_agree_and_replay_reproduces(tmp_path: Path,
                                                       plan: list[list[Step]]) -> None:
    backends_agree_and_replay(tmp_path, plan, TrialWorld, prelude, run)


def test_a_fixed_story_exercises_success_and_refusal() -> None:
    world = TrialWorld(Chain.new(MemoryStateStore()))
    prelude(world)
    story = [[(0, 0, 1)], [(1, 0, 0), (1, 0, 1)], [(2, 0, 0)], [(2, 0, 1), (5, 0, 0)],
             [(3, 0, 6)], [(5, 0, 0)], [(4, 0, 0)], [(5, 0, 0)], [(7, 0, 0)], [(6, 0, 0)],
             [(8, 0, 1)], [(5, 0, 2)], [(9, 0, 1)], [(9, 0, 1)], [(10, 0, 1)]]
    outcomes = run(story, [world], [])
    assert outcomes[("", 0)] >= 10
    codes = {code for (space, code) in outcomes if space == "trials"}
    assert {3, 10, 13, 18} <= codes, outcomes
