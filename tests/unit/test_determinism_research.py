"""Replay determinism of the research module: random mixes of valid and invalid
donations, revocations, studies, requests, matches, releases and key destructions give
the same app hash and results root on a memory store and a SQLite store at every height,
and a fresh application replaying the recorded blocks reproduces both."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrchain.core import keys
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import decode_tx
from phrchain.modules.research.messages import DestroyKey, Donate, Match, Request
from phrchain.research import terms
from tests.helpers import AUTHORITY, Chain
from tests.replay import backends_agree_and_replay
from tests.researchflow import ResearchWorld, digest, oid, study_msg
from tests.world import DAY_MS, HOSPITAL_A, RR

Step = tuple[int, int]
PERMISSIONS = ({"code": "HMB"}, {"code": "GRU"}, {"code": "DS", "disease": "MONDO:0005015"},
               {"code": "DS", "disease": "MONDO:0004979"})
MODIFIERS: tuple[list[dict[str, Any]], ...] = ([], [{"code": "NPU"}], [{"code": "GSO"}],
                                               [{"code": "GS", "param": ["KR"]}])


def _msg(w: ResearchWorld, kind: int, n: int, now: int
         ) -> tuple[keys.SigningKey, dict[str, Any]]:
    donor = w.donors[n % 3]
    study, request = oid(f"study {n % 2}"), oid(f"request {n % 3}")
    if kind == 0:
        return donor, Donate(PERMISSIONS[n % 4], MODIFIERS[n % 4], {"all": True},
                             now - 1000, now + (1 + n % 3) * DAY_MS).to_msg()
    if kind == 1:
        return donor, {"type": "research/revoke"}
    if kind == 2:
        return RR, study_msg(study, k=2 + n % 2).to_msg()
    if kind == 3:
        return RR, Request(request, study).to_msg()
    if kind == 4:
        return RR, Match(request).to_msg()
    if kind == 5:
        mine = [r for r in w.records if w.query("records/get", record=r)["patient"]
                == donor.did][:2]
        if w.query("research/request", request=request) is None:
            return HOSPITAL_A, DestroyKey(oid(f"dataset {n}")).to_msg()
        return HOSPITAL_A, w.release_msg(oid(f"dataset {n % 2}"), request, mine,
                                         donation=1 + n % 2).to_msg()
    if kind == 7:      # a continuation part of dataset n % 2 (refused when it may not)
        mine = [r for r in w.records if w.query("records/get", record=r)["patient"]
                == donor.did][-1:]
        return HOSPITAL_A, w.part_msg(oid(f"dataset {n % 2}"), 2 + n % 2, mine)
    return HOSPITAL_A, DestroyKey(oid(f"dataset {n % 2}")).to_msg()


steps = st.tuples(st.integers(0, 7), st.integers(0, 5))
plans = st.lists(st.lists(steps, min_size=1, max_size=4), min_size=1, max_size=12)


class World(ResearchWorld):
    records: list[str]


def prelude(world: World) -> None:
    world.ok(AUTHORITY, {"type": "research/set_params",
                         **terms.params(min_k=2, match_batch=2)})
    world.records = []
    for i in range(3):
        donor = world.donor(i)
        world.records += [world.record(
            HOSPITAL_A, donor, record=oid(f"r{i}/{j}"), hash=digest(f"h{i}/{j}"),
            commitment=digest(f"c{i}/{j}"), descriptor=digest(f"d{i}/{j}")) for j in range(2)]


def run(plan: list[list[Step]], worlds: list[World],
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


@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans)
def test_memory_and_sqlite_agree_and_replay_reproduces(tmp_path: Path,
                                                       plan: list[list[Step]]) -> None:
    backends_agree_and_replay(tmp_path, plan, World, prelude, run)


def test_a_fixed_story_exercises_success_and_refusal() -> None:
    world = World(Chain.new(MemoryStateStore()))
    prelude(world)
    story = [[(0, 0), (0, 1), (0, 2)], [(2, 0)], [(3, 0)], [(4, 0)], [(4, 0)], [(5, 0)],
             [(5, 0)], [(6, 0)], [(6, 0)], [(1, 1)], [(1, 1)], [(2, 0)], [(5, 1)]]
    outcomes = run(story, [world], [])
    assert outcomes[("", 0)] >= 8
    codes = {code for (space, code) in outcomes if space == "research"}
    assert {4, 6, 11, 18} <= codes, outcomes
