"""How long a new node takes to hold the current state: by replaying every block since
genesis, or by state sync (restoring a snapshot, ``engine/abci/snapshots.py``).

For each history size in ``--txs`` (patient registrations, ``--block`` per block): a
source node executes the chain on a SQLite state store; then a fresh store

- **replays** every block (``Application.finalize_block`` + ``commit``): ``replay_s``;
- **state-syncs**: the source's snapshot of its last height is restored chunk by chunk
  (each chunk hash-checked, the root checked against the source's app hash):
  ``statesync_s`` (the source's snapshot time is ``snapshot_s``).

Disk: ``disk_archive_mb`` is the source's state database (every version, an archive
node); ``disk_pruned_mb`` the replaying node's, which prunes to its last 5 versions every
5 blocks as it goes (``--keep-versions 5``; its pruning time is left out of
``replay_s`` and shown as ``pruning_s``); ``disk_one_version_mb`` the state-synced
node's (one version). SQLite reuses the pages pruning frees but never shrinks its file:
a pruned database stays at its high-water mark. CometBFT's own work (fetching chunks,
block sync) is not in these figures.

Last line: ``{"bench": "statesync", "statesync_s", "replay_s", "ratio" (statesync ÷
replay at the largest history; goal <= 0.1), "replay_ms_per_tx" (replay_s per tx of
history there: what a longer history costs to replay, as replay is linear in it),
"disk_pruned_mb", "disk_archive_mb",
"runs": [...]}``.

    python bench/statesync.py [--txs 100000,1000000] [--block 1000] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from phrchain import testing
from phrchain.app import Application, BlockInfo, new_application
from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.abci.snapshots import (
    Restore,
    SnapshotStore,
    decode_snapshot,
    encode_snapshot,
)
from phrchain.modules.identity.messages import RegisterPatient
from phrchain.storage.sqlite_state import SqliteStateStore

GENESIS_MS = 1_700_000_000_000
KEEP_VERSIONS = 5


def _txs(count: int) -> list[bytes]:
    out = []
    for n in range(count):
        key = keys.SigningKey((10_000_000 + n).to_bytes(32, "big"))
        enc = keys.EncryptionKey((20_000_000 + n).to_bytes(32, "big")).public_key
        out.append(build_tx(key, testing.CHAIN_ID, 1, [RegisterPatient(enc).to_msg()]))
    return out


def _run_blocks(app: Application, blocks: list[list[bytes]], keep: int = 0) -> float:
    """Execute ``blocks``; with ``keep``, prune to the last ``keep`` versions every
    ``keep`` blocks (as ``--keep-versions``). Returns the seconds spent pruning."""
    pruning = 0.0
    for height, txs in enumerate(blocks, start=1):
        app.finalize_block(BlockInfo(height, GENESIS_MS + 1000 * height), txs)
        app.commit()
        if keep and height % keep == 0:
            start = time.perf_counter()
            app.store.prune(height - keep + 1)  # type: ignore[attr-defined]
            pruning += time.perf_counter() - start
    return pruning


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def one(count: int, block: int, tmp: Path) -> dict[str, Any]:
    txs = _txs(count)
    blocks = [txs[i:i + block] for i in range(0, count, block)]
    source_db, replay_db, synced_db = tmp / "source.db", tmp / "replay.db", tmp / "synced.db"
    source = new_application(SqliteStateStore(source_db))
    source.init_chain(testing.genesis())
    _run_blocks(source, blocks)
    height, app_hash = source.store.version(), source.store.root()

    replica = new_application(SqliteStateStore(replay_db))  # replays, pruning as it goes
    start = time.perf_counter()
    replica.init_chain(testing.genesis())
    pruning_s = _run_blocks(replica, blocks, keep=KEEP_VERSIONS)
    replay_s = time.perf_counter() - start - pruning_s
    assert replica.store.root() == app_hash
    replica.store.close()  # type: ignore[attr-defined]

    start = time.perf_counter()
    snapshot = SnapshotStore(tmp / "snapshots").take(source.store, height)
    snapshot_s = time.perf_counter() - start
    offered = decode_snapshot(encode_snapshot(snapshot))
    synced = SqliteStateStore(synced_db)
    start = time.perf_counter()
    restore = Restore(offered.height, offered.format, offered.chunks, offered.hash,
                      offered.metadata, app_hash)
    for index in range(offered.chunks):
        assert restore.accept(index, SnapshotStore(tmp / "snapshots").chunk(height, 1, index))
    restore.apply(synced)
    statesync_s = time.perf_counter() - start
    assert synced.root() == app_hash
    synced.close()
    source.store.close()  # type: ignore[attr-defined]
    return {"txs": count, "height": height, "chunks": offered.chunks,
            "replay_s": round(replay_s, 2), "statesync_s": round(statesync_s, 2),
            "replay_ms_per_tx": round(1000 * replay_s / count, 3),
            "snapshot_s": round(snapshot_s, 2), "ratio": round(statesync_s / replay_s, 4),
            "pruning_s": round(pruning_s, 2), "disk_archive_mb": round(_mb(source_db), 2),
            "disk_pruned_mb": round(_mb(replay_db), 2),
            "disk_one_version_mb": round(_mb(synced_db), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--txs", default="100000,1000000",
                    help="history sizes, comma-separated (patient registrations)")
    ap.add_argument("--block", type=int, default=1000, help="txs per block")
    ap.add_argument("--quick", action="store_true", help="one history of 2000 txs")
    args = ap.parse_args(argv)
    sizes = [2000] if args.quick else [int(n) for n in args.txs.split(",")]
    block = 200 if args.quick else args.block
    runs = []
    for count in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            run = one(count, block, Path(tmp))
        runs.append(run)
        print(f"{count:>9} txs, height {run['height']}: replay {run['replay_s']} s, state "
              f"sync {run['statesync_s']} s ({run['chunks']} chunks; snapshot "
              f"{run['snapshot_s']} s), ratio {run['ratio']}; state db "
              f"{run['disk_archive_mb']} MB every version, {run['disk_pruned_mb']} MB "
              f"pruned to {KEEP_VERSIONS}, {run['disk_one_version_mb']} MB one",
              file=sys.stderr)
    last = runs[-1]
    print(json.dumps({"bench": "statesync", "statesync_s": last["statesync_s"],
                      "replay_s": last["replay_s"], "ratio": last["ratio"],
                      "replay_ms_per_tx": last["replay_ms_per_tx"],
                      "disk_pruned_mb": last["disk_pruned_mb"],
                      "disk_archive_mb": last["disk_archive_mb"], "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
