"""Determinism of the record-keeping modules: random mixes of valid and invalid records,
consent, audit and exchange messages give the same app hash on a memory store and a
SQLite store at every height, in this process and in processes with other hash seeds."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrchain.core import keys
from phrchain.core.store import MemoryStateStore
from phrchain.modules.records.messages import size_bucket
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.helpers import Chain
from tests.world import (
    A1,
    AE,
    B1,
    GA,
    HOSPITAL_A,
    HOSPITAL_B,
    IR,
    P,
    Q,
    World,
    sealed_size,
)

PEOPLE = [A1, B1, AE, IR, P, Q, HOSPITAL_A, HOSPITAL_B, GA]


def _id(n: int) -> str:
    return hashlib.sha256(b"id" + n.to_bytes(4, "big")).hexdigest()[:32]


def _msg(kind: int, a: int, b: int, n: int, now: int) -> tuple[keys.SigningKey, dict[str, Any]]:
    """Message ``kind`` by person ``a`` about person ``b`` and object ``n`` (ids
    collide on purpose so that duplicates and missing objects occur)."""
    signer, other = PEOPLE[a], PEOPLE[b]
    if kind == 0:
        return signer, {"type": "records/register", "record": _id(n % 5),
                        "patient": other.did, "hash": _id(n) * 2,
                        "size": size_bucket(sealed_size(100 + n)[0]),
                        "commitment": _id(n + 1) * 2, "descriptor": _id(n + 2) * 2}
    if kind == 1:
        return signer, {"type": "consent/grant", "consent": _id(100 + n % 4),
                        "grantee": {"kind": "practitioner", "id": other.did},
                        "actions": ["pull", "push", "read"], "scope": {"all": True},
                        "purposes": ["TREAT"],
                        "period": {"start_ms": now - 1, "end_ms": now + 10_000 * (n + 1)}}
    if kind == 2:
        return signer, {"type": "consent/revoke", "consent": _id(100 + n % 4)}
    if kind == 3:
        # a sealed entry of the right shape (the chain never opens one; fixed bytes keep
        # the tx the same in every process)
        entry = {"patient": other.did, "request": _id(200 + n) * 2,
                 "commitment": _id(n + 7) * 2,
                 "sealed": {"ct": "5a" * (256 + 16),
                            "keys": {other.did: "a5" * 80, signer.did: "a5" * 80}}}
        return signer, {"type": "audit/append", "entries": [entry]}
    if kind == 4:
        return signer, {"type": "exchange/request", "request": _id(300 + n % 3),
                        "patient": other.did, "scope": {"records": [_id(n % 5)]},
                        "purpose": "TREAT"}
    if kind == 5:
        return signer, {"type": "exchange/approve", "request": _id(300 + n % 3),
                        "end_ms": now + 50_000}
    if kind == 6:
        return signer, {"type": "exchange/push", "record": _id(n % 5), "to": other.did,
                        "purpose": "TREAT"}
    if kind == 7:
        return signer, {"type": "records/erase", "record": _id(n % 5),
                        "reason": "patient_request"}
    return signer, {"type": "records/add_holder", "record": _id(n % 5), "org": other.did}


plans = st.lists(st.lists(st.tuples(st.integers(0, 8), st.integers(0, 8),
                                    st.integers(0, 8), st.integers(0, 20)),
                          max_size=8), min_size=1, max_size=6)


def _world(store: Any) -> World:
    return World(Chain.new(store))


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(plans)
def test_memory_and_sqlite_agree_at_every_height(tmp_path: Path,
                                                 plan: list[list[tuple[int, ...]]]) -> None:
    db = tmp_path / f"state-{abs(hash(str(plan)))}.db"
    db.unlink(missing_ok=True)
    memory, sqlite = _world(MemoryStateStore()), _world(SqliteStateStore(db))
    assert memory.chain.app.store.root() == sqlite.chain.app.store.root()
    outcomes = set()
    for block in plan:
        txs = [memory.chain.tx(*_msg(*step, memory.now)) for step in block]
        r1, r2 = memory.chain.block(txs), sqlite.chain.block(txs)
        assert r1.app_hash == r2.app_hash and r1.results_root == r2.results_root
        outcomes |= {(r.codespace, r.code) for r in r1.tx_results}
        # a failed tx leaves its nonce unused: keep the harness's nonces in step
        for raw, result in zip(txs, r1.tx_results, strict=True):
            if not result.ok:
                from phrchain.core.tx import decode_tx

                signer = decode_tx(raw).signer
                memory.chain.nonces[signer] -= 1
        sqlite.chain.nonces = dict(memory.chain.nonces)


# (kind, signer, other, n): PEOPLE = A1 B1 AE IR P Q HOSPITAL_A HOSPITAL_B GA
STORY = [
    [(0, 6, 4, 0), (0, 6, 4, 1), (0, 7, 5, 2), (0, 3, 4, 3)],   # 3 records, insurer refused
    [(1, 4, 1, 0), (1, 5, 0, 1), (2, 4, 0, 2), (3, 6, 4, 0)],   # grants, bad revoke, audit
    [(4, 1, 4, 1), (5, 4, 0, 1), (6, 6, 1, 1), (3, 7, 4, 1)],   # pull (standing consent
    #                        approves it, so the patient's approval is refused), push, and
    #                        hospital B (now holding a record of P) audits in P's log
    [(2, 4, 0, 0), (6, 6, 1, 0), (7, 4, 0, 0), (7, 8, 0, 2)],   # revoke, push refused, erase
]

_REPLAY = """
from tests.unit.test_determinism_records import STORY, _msg, _world
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import decode_tx
w = _world(MemoryStateStore())
for block in STORY:
    txs = [w.chain.tx(*_msg(*step, w.now)) for step in block]
    result = w.chain.block(txs)
    for raw, r in zip(txs, result.tx_results):
        if not r.ok:
            w.chain.nonces[decode_tx(raw).signer] -= 1
    print(result.app_hash.hex(), "".join("1" if r.ok else "0" for r in result.tx_results))
"""


def test_record_modules_do_not_depend_on_the_process() -> None:
    root = Path(__file__).resolve().parents[2]
    outputs = []
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        run = subprocess.run([sys.executable, "-c", _REPLAY], capture_output=True, text=True,
                             env=env, cwd=root, timeout=120, check=True)
        outputs.append(run.stdout.split())
    assert outputs[0] == outputs[1] == outputs[2]
    # the story exercises successes and refusals in every module
    assert outputs[0][1::2] == ["1110", "1101", "1011", "1011"], outputs[0]
