"""Same genesis + same blocks ⇒ same app hash, whatever the store and however replayed."""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrchain.core import keys
from phrchain.core.store import MemoryStateStore
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.helpers import (
    AUTHORITY,
    Chain,
    admit_org_msg,
    admit_practitioner_msg,
    enc_key,
    signing_key,
)

ACTORS = [signing_key(100 + i) for i in range(6)]


def _msg(kind: int, actor: keys.SigningKey, other: keys.SigningKey) -> tuple[keys.SigningKey,
                                                                              dict]:
    """A mix of valid and invalid identity actions."""
    if kind == 0:
        return actor, {"type": "identity/register_patient", "enc_key": enc_key(kind)}
    if kind == 1:
        return AUTHORITY, admit_org_msg(actor, "clinic", "C", enc_key(2))
    if kind == 2:
        return actor, admit_practitioner_msg(actor, other, ["nurse"], enc_key(3))
    if kind == 3:  # a role a clinic may not give: refused, deterministically
        return actor, admit_practitioner_msg(actor, other, ["claims_reviewer"], enc_key(3))
    return actor, {"type": "identity/revoke", "did": other.did, "reason": "unspecified"}


blocks_strategy = st.lists(
    st.lists(st.tuples(st.integers(0, 4), st.integers(0, 5), st.integers(0, 5)),
             max_size=6),
    min_size=1, max_size=6)


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blocks_strategy)
def test_two_independent_stores_agree_at_every_height(tmp_path: Path,
                                                      plan: list[list[tuple]]) -> None:
    db = tmp_path / f"state-{abs(hash(str(plan)))}.db"
    db.unlink(missing_ok=True)
    memory, sqlite = Chain.new(MemoryStateStore()), Chain.new(SqliteStateStore(db))
    assert memory.app.store.root() == sqlite.app.store.root()
    for block in plan:
        txs = []
        for kind, a, b in block:
            signer, msg = _msg(kind, ACTORS[a], ACTORS[b])
            txs.append(memory.tx(signer, msg))
        r1, r2 = memory.block(txs), sqlite.block(txs)
        assert r1.app_hash == r2.app_hash
        assert [r.to_json() for r in r1.tx_results] == [r.to_json() for r in r2.tx_results]
        assert r1.results_root == r2.results_root
    # reopening the durable store gives back the same version and root
    reopened = SqliteStateStore(db)
    assert (reopened.version(), reopened.root()) == (sqlite.app.store.version(),
                                                     sqlite.app.store.root())
    for height in range(reopened.version() + 1):
        assert reopened.root(height) == memory.app.store.root(height)
    reopened.close()


def test_app_hash_commits_to_whole_state() -> None:
    """Changing any value changes the root (no hash-chain-of-txs shortcut)."""
    a, b = Chain.new(), Chain.new()
    a.register_patient(ACTORS[0])
    b.run(ACTORS[0], {"type": "identity/register_patient", "enc_key": enc_key(1)})
    assert a.app.store.root() != b.app.store.root()


_REPLAY = """
import sys
from tests.helpers import (Chain, signing_key, enc_key, AUTHORITY, admit_org_msg,
                           admit_practitioner_msg)
chain = Chain.new()
org = signing_key(900)
txs = [chain.tx(AUTHORITY, admit_org_msg(org, "insurer", "Insurer", enc_key(1)))]
txs += [chain.tx(signing_key(901 + i), {"type": "identity/register_patient",
                                        "enc_key": enc_key(i)}) for i in range(20)]
txs += [chain.tx(org, admit_practitioner_msg(org, signing_key(950), ["claims_reviewer"],
                                            enc_key(3)))]
for start in range(0, len(txs), 7):
    print(chain.block(txs[start:start + 7]).app_hash.hex())
"""


def test_app_hashes_do_not_depend_on_the_process() -> None:
    """Same blocks in processes with different hash seeds give the same app hashes."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    outputs = []
    for seed in ("1", "2", "random"):
        env = {**os.environ, "PYTHONHASHSEED": seed, "PYTHONPATH": str(root)}
        run = subprocess.run([sys.executable, "-c", _REPLAY], capture_output=True, text=True,
                             env=env, cwd=root, timeout=120, check=True)
        outputs.append(run.stdout.split())
    assert len(outputs[0]) == 4
    assert outputs[0] == outputs[1] == outputs[2]
