"""Determinism and conservation of settlement + claims: random mixes of valid and invalid
messages give the same app hash on a memory store and a SQLite store at every height,
and at every height each currency's balances sum to its supply, which moves only by the
amounts minted and burned."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrchain.core import keys
from phrchain.core.state import StoreView
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import decode_tx
from phrchain.modules.records.messages import size_bucket
from phrchain.modules.settlement import keeper as ledger
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.helpers import AUTHORITY, Chain
from tests.world import (
    A1,
    COVERED,
    DAY_MS,
    EXCLUDED,
    HOSPITAL_A,
    INSURER,
    INSURER_B,
    IR,
    PH,
    ClaimsWorld,
    P,
    Q,
    product_msg,
    sealed_size,
)

PEOPLE = [AUTHORITY, P, Q, A1, HOSPITAL_A, PH, INSURER, IR, INSURER_B]
CURRENCIES = ("EUR", "USD")
JUMPS = (0, DAY_MS, 8 * DAY_MS)   # extra time before a block: reviews lapse, years pass


def _id(n: int) -> str:
    return hashlib.sha256(b"id" + n.to_bytes(4, "big")).hexdigest()[:32]


def _hex(n: int) -> str:
    return hashlib.sha256(b"hex" + n.to_bytes(4, "big")).hexdigest()


def _settlement(kind: int, signer: keys.SigningKey, other: keys.SigningKey, n: int
                ) -> dict[str, Any]:
    money = {"amount": (n + 1) * 100, "currency": CURRENCIES[n % 5 == 4]}
    if kind == 0:
        return {"type": "settlement/mint", "to": other.did, **money}
    if kind == 1:
        return {"type": "settlement/burn", "from": other.did, **money}
    if kind == 2:
        return {"type": "settlement/transfer", "to": other.did, **money}
    if kind == 3:
        return {"type": "settlement/bill", "bill": _id(n % 6), "patient": other.did,
                "encounter": _hex(n % 4), **money}
    return {"type": "settlement/pay_bill", "bill": _id(n % 6)}


def _claims(kind: int, other: keys.SigningKey, n: int, now: int) -> dict[str, Any]:
    product = _id(50 + (n % 7 == 6))   # mostly product 50; publishing bumps its version
    if kind == 5:   # mostly other products: a new version of 50 makes filings stale
        return product_msg(_id(50) if n % 7 == 0 else _id(52 + n % 2),
                           deductible=(n % 4) * 100, copay_bps=(n % 5) * 1000,
                           refer_above=60 * (n % 3 == 0), review_window_ms=DAY_MS)
    if kind == 6:
        return {"type": "claims/enrol", "insurer": other.did, "product": product,
                "start_ms": now, "end_ms": now + (n + 1) * 30 * DAY_MS}
    if kind == 7:
        return {"type": "claims/leave", "insurer": other.did, "product": product}
    if kind == 8:
        lines = [{"tag": COVERED[n % 3], "amount": 50 + n}, {"tag": EXCLUDED[0], "amount": 7}]
        return {"type": "claims/file", "claim": _id(100 + n % 8), "insurer": other.did,
                "product": product, "version": 1 + (n % 7 == 5), "bill": _id(n % 6),
                "service_ms": now - (n % 3) * 1000,
                "records": [{"record": _id(200 + n % 6), "commitment": _hex(n % 4)}],
                "lines": lines, "amount": 57 + n, "consent_end_ms": now + DAY_MS}
    claim = _id(100 + n % 8)
    if kind == 9:
        decision = {"decision": "approve", "amount": n * 4} if n % 3 else \
            {"decision": "deny", "reason": "reviewer_denied"}
        return {"type": "claims/review", "claim": claim, **decision}
    return {"type": ("claims/appeal", "claims/lapse", "claims/settle")[kind - 10],
            "claim": claim}


def _natural(kind: int, n: int) -> tuple[keys.SigningKey, keys.SigningKey]:
    """Who would usually send message ``kind`` about object ``n``, and about whom: the
    patient of an object is P for even ``n`` and Q for odd (ids keep ``n``'s parity)."""
    patient = (P, Q)[n % 2]
    holder = (P, Q, INSURER)[n % 3]
    return {0: (AUTHORITY, holder), 1: (AUTHORITY, holder), 2: (holder, (Q, INSURER, P)[n % 3]),
            3: ((A1, PH)[n % 2], patient), 5: (INSURER, INSURER), 9: (IR, INSURER),
            11: (A1, INSURER), 12: (A1, INSURER),
            13: (HOSPITAL_A, patient)}.get(kind, (patient, INSURER))


def _msg(kind: int, a: int, b: int, n: int, now: int) -> tuple[keys.SigningKey, dict[str, Any]]:
    """Message ``kind`` by person ``a`` about person ``b`` and object ``n`` (person 0: the
    usual sender or subject, else ``PEOPLE[a - 1]``); ``now`` is the block's time. Ids
    collide on purpose so that duplicates and missing objects occur."""
    signer, other = _natural(kind, n)
    signer = PEOPLE[a - 1] if a else signer
    other = PEOPLE[b - 1] if b else other
    if kind < 5:
        return signer, _settlement(kind, signer, other, n)
    if kind < 13:
        return signer, _claims(kind, other, n, now)
    return signer, {"type": "records/register", "record": _id(200 + n % 6),
                    "patient": other.did, "hash": _hex(100 + n),
                    "size": size_bucket(sealed_size(100 + n)[0]),
                    "commitment": _hex(n % 4), "descriptor": _hex(200 + n)}


# A prelude that makes valid filings likely: a funded insurer, product 50, P and Q
# enrolled, records 0-5 and bills 0-5 (P's even, Q's odd), paid but for bill 4 (in USD,
# which P lacks). (kind, signer, other, n) as in _msg.
PRELUDE = [
    [(0, 1, 7, 20), (0, 1, 2, 20), (0, 1, 3, 20), (5, 7, 7, 0)],
    [(6, 0, 0, 4), (6, 0, 0, 3)],
    [*((13, 0, 0, n) for n in range(6)), *((3, 0, 0, n) for n in range(6))],
    [(4, 0, 0, 0), (4, 0, 0, 1), (4, 0, 0, 2), (4, 0, 0, 3), (4, 0, 0, 5), (4, 0, 0, 4)],
]

person = st.one_of(st.just(0), st.integers(0, len(PEOPLE)))   # mostly the usual one
kinds = st.one_of(st.integers(0, 13), st.integers(8, 12))      # claims twice as often
steps = st.tuples(kinds, person, person, st.integers(0, 20))
plans = st.lists(st.tuples(st.sampled_from(JUMPS), st.lists(steps, max_size=8)),
                 min_size=1, max_size=8)


def conserved(chain: Chain) -> dict[str, int]:
    """Assert Σ balances == supply for every currency; return the supplies."""
    store = chain.app.store
    view = StoreView(store.get, store.iterate)
    sums: Counter[str] = Counter()
    for _, currency, amount in ledger.all_balances(view):
        assert amount > 0
        sums[currency] += amount
    supplies = ledger.all_supplies(view)
    assert dict(sums) == supplies
    return supplies


def _minted(result: Any) -> Counter[str]:
    """Net money created by a block's successful txs, from their events."""
    net: Counter[str] = Counter()
    for r in result.tx_results:
        for e in r.events:
            attrs = dict(e.attributes)
            if e.type == "settlement.minted":
                net[attrs["currency"]] += int(attrs["amount"])
            elif e.type == "settlement.burned":
                net[attrs["currency"]] -= int(attrs["amount"])
    return net


def run(plan: list[tuple[int, list[tuple[int, int, int, int]]]],
        worlds: list[ClaimsWorld]) -> Counter[tuple[str, int]]:
    """Run ``plan`` on every world in step; check agreement and conservation at every
    height; return how often each (codespace, code) occurred."""
    first = worlds[0]
    outcomes: Counter[tuple[str, int]] = Counter()
    supplies = conserved(first.chain)
    for jump, block in plan:
        for world in worlds:
            world.chain.time_ms += jump
        now = first.now + 1000
        txs = [first.chain.tx(*_msg(*step, now)) for step in block]
        results = [world.chain.block(txs) for world in worlds]
        assert len({(r.app_hash, r.results_root) for r in results}) == 1
        for raw, r in zip(txs, results[0].tx_results, strict=True):
            outcomes[(r.codespace, r.code)] += 1
            if not r.ok:   # a failed tx leaves its nonce unused
                first.chain.nonces[decode_tx(raw).signer] -= 1
        for world in worlds[1:]:
            world.chain.nonces = dict(first.chain.nonces)
        expected = Counter(supplies)
        expected.update(_minted(results[0]))
        supplies = conserved(first.chain)
        assert supplies == {c: a for c, a in expected.items() if a}
        assert all(conserved(world.chain) == supplies for world in worlds[1:])
    return outcomes


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans)
def test_memory_and_sqlite_agree_and_money_is_conserved(
        tmp_path: Path, plan: list[tuple[int, list[tuple[int, int, int, int]]]]) -> None:
    db = tmp_path / f"state-{hashlib.sha256(str(plan).encode()).hexdigest()[:16]}.db"
    db.unlink(missing_ok=True)
    memory = ClaimsWorld(Chain.new(MemoryStateStore()))
    sqlite = ClaimsWorld(Chain.new(SqliteStateStore(db)))
    assert memory.chain.app.store.root() == sqlite.chain.app.store.root()
    run([(0, block) for block in PRELUDE] + plan, [memory, sqlite])


# A fixed story: claims approved and paid, refusals, a fraud denial, an appeal that lapses.
STORY = [
    (0, [(8, 2, 7, 0)]),                   # P files claim 100 over bill 0: partial, paid
    (0, [(8, 3, 7, 4)]),                   # Q names P's bill 4: refused
    (0, [(8, 3, 7, 3)]),                   # Q files claim 103 over bill 3
    (0, [(3, 4, 2, 6), (4, 2, 2, 6)]),     # bill id 0 again: taken; bill 0 paid already
    (0, [(8, 2, 7, 42)]),                  # P claims bill 0 again, wrong commitment: denied
    (0, [(10, 2, 2, 0), (12, 1, 1, 0)]),   # P appeals claim 100; settle a paid claim: refused
    (0, [(8, 0, 0, 14)]),                  # P files claim 106 over bill 2: 64 > 60, referred
    (0, [(9, 0, 0, 14), (9, 0, 0, 6)]),    # IR approves 56 of it; a second review: refused
    (8 * DAY_MS, [(11, 5, 1, 0)]),         # claim 100's review window passed: lapse
    (0, [(1, 1, 7, 20), (2, 7, 2, 0)]),    # burn more than the insurer holds; it pays P
]
OUTCOMES = ["1", "0", "1", "00", "1", "10", "1", "10", "1", "01"]

def test_story_exercises_success_and_refusal() -> None:
    world = ClaimsWorld(Chain.new(MemoryStateStore()))
    run([(0, block) for block in PRELUDE], [world])
    pattern = ["".join("1" if ok else "0" for ok in run_block(world, jump, block))
               for jump, block in STORY]
    assert pattern == OUTCOMES
    paid, again = world.query("claims/claim", claim=_id(100)), \
        world.query("claims/claim", claim=_id(102))
    assert (paid["status"], paid["payout"], paid["payment"]) == ("partial", 50, "paid")
    assert paid["reasons"] == ["excluded", "review_lapsed"] and paid["appealed"]
    assert (again["status"], again["reasons"]) == \
        ("denied", ["duplicate_claim", "tampered_record", "excluded"])
    assert world.query("claims/claim", claim=_id(103))["status"] == "partial"
    reviewed = world.query("claims/claim", claim=_id(106))
    assert (reviewed["status"], reviewed["rules_payout"], reviewed["payout"],
            reviewed["review"]["by"]) == ("partial", 64, 56, IR.did)


def run_block(world: ClaimsWorld, jump: int, block: list[tuple[int, int, int, int]]
              ) -> list[bool]:
    world.chain.time_ms += jump
    now = world.now + 1000
    txs = [world.chain.tx(*_msg(*step, now)) for step in block]
    supplies = conserved(world.chain)
    result = world.chain.block(txs)
    for raw, r in zip(txs, result.tx_results, strict=True):
        if not r.ok:
            world.chain.nonces[decode_tx(raw).signer] -= 1
    expected = Counter(supplies)
    expected.update(_minted(result))
    assert conserved(world.chain) == {c: a for c, a in expected.items() if a}
    return [r.ok for r in result.tx_results]


_REPLAY = """
from phrchain.core.store import MemoryStateStore
from tests.helpers import Chain
from tests.unit.test_determinism_claims import PRELUDE, STORY, ClaimsWorld, run_block
w = ClaimsWorld(Chain.new(MemoryStateStore()))
for jump, block in [(0, b) for b in PRELUDE] + STORY:
    oks = run_block(w, jump, block)
    print(w.chain.app.store.root().hex(), "".join("1" if ok else "0" for ok in oks))
"""


def test_claims_do_not_depend_on_the_process() -> None:
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": f"{root / 'src'}:{root}"}
        done = subprocess.run([sys.executable, "-c", _REPLAY], capture_output=True, text=True,
                              env=env, cwd=root, timeout=120, check=True)
        outputs.append(done.stdout.split())
    assert outputs[0] == outputs[1] == outputs[2]
    assert outputs[0][1::2][len(PRELUDE):] == OUTCOMES
