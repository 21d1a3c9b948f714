"""The claims filing fast path (issue 20) writes exactly what the filing wrote before.

``claims/file`` now reads each value once per filing (a custodian's identity once per
custodian, the product version and the year's usage handed to ``ledger.approve``, the
bill and encounter marks once) and parses a product version's rules once per stored
value. The app hashes below were recorded by running the same blocks on main at 7b36bcf,
before that change: equal roots mean the same state, byte for byte. The blocks cover
what the change touched: several records of one custodian, a second care custodian, a
self-reported record, a bill whose encounter was already claimed, a referred claim, a
review, an appeal, a lapse and a new product version. (Should another change alter the
state on purpose, re-record the roots by running ``_stories`` on the code before it.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phrchain.core.store import MemoryStateStore
from phrchain.modules.claims import keeper
from phrchain.modules.records.messages import size_bucket
from tests.helpers import Chain
from tests.replay import Block, backends_agree_and_replay
from tests.unit.test_determinism_claims import PRELUDE, STORY, _hex, _id, run_block
from tests.world import COVERED, EXCLUDED, INSURER, PHARMACY, ClaimsWorld, P, Q, product_msg

Step = tuple[int, int, int, int]


def _register(record: int, patient: Any, **extra: str) -> dict[str, Any]:
    return {"type": "records/register", "record": _id(record), "patient": patient.did,
            "hash": _hex(300 + record), "size": size_bucket(548),
            "commitment": _hex(400 + record), "descriptor": _hex(500 + record), **extra}


def _file(claim: int, bill: int, records: list[tuple[int, str]], now: int,
          version: int = 1) -> dict[str, Any]:
    lines = [{"tag": COVERED[0], "amount": 90}, {"tag": EXCLUDED[0], "amount": 10}]
    return {"type": "claims/file", "claim": _id(claim), "insurer": INSURER.did,
            "product": _id(50), "version": version, "bill": _id(bill), "service_ms": now,
            "records": [{"record": _id(r), "commitment": c} for r, c in records],
            "lines": lines, "amount": 100, "consent_end_ms": now + 86_400_000}


def _custodians(world: ClaimsWorld, blocks: list[Block] | None = None) -> list[bool]:
    """Records of a second care custodian and a self-reported one, then claims naming
    several records per custodian, an encounter claimed before, a new product version.
    Returns each tx's success; appends each block to ``blocks``."""
    chain, oks = world.chain, []

    def block(*signed: tuple[Any, dict[str, Any]]) -> None:
        txs = [chain.tx(key, msg) for key, msg in signed]
        result = chain.block(txs)
        if blocks is not None:
            blocks.append((result.height, chain.time_ms, txs, result.app_hash,
                           result.results_root))
        for (key, _), r in zip(signed, result.tx_results, strict=True):
            if not r.ok:
                chain.nonces[key.did] -= 1
            oks.append(r.ok)

    block((PHARMACY, _register(230, P)),
          (P, _register(231, P, custodian=PHARMACY.did)))
    now = world.now + 1000
    a = [(200, _hex(0)), (202, _hex(2)), (204, _hex(0))]      # hospital A's, P's
    block((P, _file(120, 2, [*a, (230, _hex(630))], now)))      # + the pharmacy's
    block((P, _file(121, 0, [(230, _hex(630)), (231, _hex(631)), *a[:2]],
                    world.now + 1000)))                         # + a self-reported one
    # Q's bills 1 and 5 share an encounter: the second filing finds it claimed.
    block((Q, _file(122, 1, [(201, _hex(1))], world.now + 1000)))
    block((Q, _file(123, 5, [(203, _hex(3)), (205, _hex(1))], world.now + 1000)))
    block((INSURER, product_msg(_id(50), deductible=30, copay_bps=2500)))
    block((P, _file(124, 2, a, world.now + 1000, version=2)))  # bill 2 again
    return oks


def _stories(world: ClaimsWorld) -> list[str]:
    """PRELUDE, STORY and the custodian blocks: the app hash after each block, and the
    custodian blocks' results roots (their events)."""
    roots = []
    for jump, block in [(0, b) for b in PRELUDE] + STORY:
        run_block(world, jump, block)
        roots.append(world.chain.app.store.root().hex())
    blocks: list[Block] = []
    _custodians(world, blocks)
    return roots + [h.hex() for _, _, _, app_hash, results in blocks
                    for h in (app_hash, results)]


# Recorded on main at 7b36bcf (before the fast path) by ``_stories``.
STORY_ROOTS = [
    "2ef9bc3ffe73cf1675e8e54a356da3292a769b0eff54ed08fc637dece45f5667",
    "06feab8f8286b5c999f79350171e0928c0389a3a47457831885507bf23fd7fae",
    "00dc174f6a72bb275ae19ed4dff880fdffbef5bde5ef94abf47997b7671fb7d6",
    "876b876d496c1857c867185dcb76ba55292a158a62a727894670ec191fac3e76",
    "9ab76fb033264eeb4bdbe343bd16306d8cb8cbe91158b7ee8ef91670a920c2d9",
    "a1ee2644b815f65424af0699e3bff03eebdb20e5644d53c8a25d9f54ed1bcb6a",
    "a5512c45905331021d369c194cb3b32a9844312e6e52d1c4512c029877546d7e",
    "579ae9ff9d7c3ce86c9781a5f931e0d5dcd01bc9bab2139d1e31dd839a2c243a",
    "21f38fa1a0a65914ffcd0d2843f95353b00dd1adbee58f1952470ae67f80f9b7",
    "7448a3a04e4d937ba8d0ef980d96cad102375bde520eae6fdbc316cfd87802be",
    "05e5394ab0f02edb839f0c9ab16d565b081d1ea619dbb9728de8248a56359e72",
    "e3f4fa732ca3118f4f263986854c059ee1d3eada07e059b498b24d5365880261",
    "8db9516afe69cd104d5ded1397cb98be064cc399e7698b1b6af17e392f8a5775",
    "6c4d83c664b444f385d051a9546a28fe6f9553e305b0b496d5804efc2de4ceaa",
    "c4bbe579754076dce943bdd3f8a9aca0510094bf3897b4aa8e152fc4c89ac608",
    "072cfceccb4bcdf645770ca52ce318496aed30b6ba80cc246febe53d27d8078d",
    "81207b9a12eac442faef6eb088351f2ee582bff14ba4c5d39648db2edd228154",
    "d416392437e7bd6b98eeb7b480704ddc97fe39e3fe11cf817f8323c11dd5bf3b",
    "8c55dc8dd9bd1e67eee1e79404dc7dadd88a2d04d830b1ac05a446e506aef726",
    "b6f1ad3c1ac4000e4c285b60d854433a5dde028dfd78336e64d61bdfd00824fa",
    "9507c0431d825313e0c9bafd276f9297a5056325b6062d9f787200e5e061cf7c",
    "68916ffb95b3d8f43fdc03cbf4e0b70bb771900990c3b5e997c30e488f36e8ea",
    "53058ff715f68b365b0fdcef78a7570a8956d7bd0adb474732f003968fd9a56a",
    "b291fda30d23e6c6158d8ef78920e32d8393d55d10dab42c5c518b60f6451e8c",
    "366a60aa035190df9e44d4f154ae1b82cfdbc833dc495fc865824af6d78cd793",
    "8f03fabdf6ebe4a66eb1ce9c6c941c4976d03d15793ced103715fcddcbb26402",
    "a777d6028c624702aeb6348c2333c16989e200ad87c0f202c5b7b8d32371db6b",
    "d092d6ae324a07178b4a3e4fd5f7f6909d7fedaad45807738e67cd92311a1549",
]
CUSTODIAN_OUTCOMES = [True, True, True, True, True, True, True, True]


def test_filing_writes_what_it_wrote_before() -> None:
    world = ClaimsWorld(Chain.new(MemoryStateStore()))
    assert _stories(world) == STORY_ROOTS


def test_custodian_blocks_decide_as_expected() -> None:
    world = ClaimsWorld(Chain.new(MemoryStateStore()))
    for jump, block in [(0, b) for b in PRELUDE]:
        run_block(world, jump, block)
    assert _custodians(world) == CUSTODIAN_OUTCOMES
    claim = world.query("claims/claim", claim=_id(120))
    assert "non_admitted_provider" not in claim["reasons"]
    assert "non_admitted_provider" in world.query("claims/claim", claim=_id(121))["reasons"]
    first, second = (world.query("claims/claim", claim=_id(n)) for n in (122, 123))
    assert "duplicate_claim" not in first["reasons"]
    assert "duplicate_claim" in second["reasons"]
    # the encounter mark keeps the first claim; the bill mark names the second
    state = world.chain.app._fresh_overlay()
    assert keeper.claimed_encounter(state, _hex(1)) == _id(122)
    assert keeper.claimed_bill(state, _id(5)) == _id(123)
    again = world.query("claims/claim", claim=_id(124))
    assert again["version"] == 2 and "duplicate_claim" in again["reasons"]


def test_product_rules_follow_each_published_version() -> None:
    """The per-value cache of product rules can never answer for another version."""
    world = ClaimsWorld(Chain.new(MemoryStateStore()))
    for jump, block in [(0, b) for b in PRELUDE]:
        run_block(world, jump, block)
    view = world.chain.app._fresh_overlay()
    v1 = keeper.product_terms(view, INSURER.did, _id(50))
    assert v1 is not None and v1[0]["version"] == 1 and v1[1].deductible == 0
    world.ok(INSURER, product_msg(_id(50), deductible=30))
    view = world.chain.app._fresh_overlay()
    v2 = keeper.product_terms(view, INSURER.did, _id(50))
    assert v2 is not None and v2[0]["version"] == 2 and v2[1].deductible == 30
    assert v2[0] == keeper.get_product(view, INSURER.did, _id(50))
    assert keeper.product_terms(view, INSURER.did, _id(51)) is None


def test_custodian_blocks_replay_on_both_stores(tmp_path: Path) -> None:
    def prelude(world: ClaimsWorld) -> None:
        for jump, block in [(0, b) for b in PRELUDE]:
            run_block(world, jump, block)

    def run(_: Any, worlds: list[ClaimsWorld], blocks: list[Block]) -> None:
        assert _custodians(worlds[0], blocks) == CUSTODIAN_OUTCOMES
        assert _custodians(worlds[1]) == CUSTODIAN_OUTCOMES
        assert worlds[0].chain.app.store.root() == worlds[1].chain.app.store.root()

    backends_agree_and_replay(tmp_path, "custodians", ClaimsWorld, prelude, run)
