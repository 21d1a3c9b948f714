"""How long a new node takes to hold the current state: by replaying every block since
genesis, or by state sync (restoring a snapshot, ``engine/abci/snapshots.py``).

For each history size in ``--txs`` (patient registrations, ``--block`` per block), the
signed txs are made once; then two processes, forked from that one, run at the same
time (``--serial``: one after the other), each a fresh node executing every block from
genesis on its own SQLite state store (``Application.finalize_block`` + ``commit``:
every tx decoded and its Ed25519 signature verified, every block executed and its
version written durably, as a node replaying its chain does):

- the **source**, an archive node (every version kept, no orphan records): its time is
  ``replay_archive_s``; at the end it takes the snapshot of its last height
  (``snapshot_s``);
- the **replica**, a pruned node (``--keep-versions 5``: it prunes to its last 5
  versions every 5 blocks, as it goes): its time without the prunes is ``replay_s``,
  the prunes' ``pruning_s``. Its app hash must equal the source's.

Then, alone, a fresh store **state-syncs** from the source's snapshot, chunk by chunk
(each chunk hash-checked, the rebuilt root checked against the source's app hash):
``statesync_s``. ``ratio`` = ``statesync_s`` ÷ ``replay_s``. Concurrent, the two
replays share the machine's cores with each other (and with whatever else runs), so
``replay_s`` is measured under more load than ``statesync_s`` unless ``--serial``.

Disk: ``disk_archive_mb`` is the source's state database (every version);
``disk_pruned_mb`` the replica's; ``disk_one_version_mb`` the state-synced node's (one
version). SQLite reuses the pages pruning frees but never shrinks its file: a pruned
database stays at its high-water mark. CometBFT's own work (fetching chunks, block
sync) is not in these figures.

Last line: ``{"bench": "statesync", "statesync_s", "replay_s", "ratio" (statesync ÷
replay at the largest history; goal <= 0.1), "replay_ms_per_tx" (replay_s per tx of
history there), "disk_pruned_mb", "disk_archive_mb", "runs": [...]}``; each run also
has ``replay_first_ms_per_tx`` / ``replay_last_ms_per_tx`` (the replica's first and
last tenth of the blocks: how replay cost grows with the state).

    python bench/statesync.py [--txs 100000,1000000] [--block 1000] [--serial] [--quick]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
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
    """``count`` signed registrations, made by two processes (the input, not measured)."""
    if count < 10_000:
        return _tx_range((0, count))
    half = count // 2
    with multiprocessing.get_context("fork").Pool(2) as pool:
        first, second = pool.map(_tx_range, [(0, half), (half, count)])
    return first + second


def _tx_range(bounds: tuple[int, int]) -> list[bytes]:
    out = []
    for n in range(*bounds):
        key = keys.SigningKey((10_000_000 + n).to_bytes(32, "big"))
        enc = keys.EncryptionKey((20_000_000 + n).to_bytes(32, "big")).public_key
        out.append(build_tx(key, testing.CHAIN_ID, 1, [RegisterPatient(enc).to_msg()]))
    return out


def _run_blocks(app: Application, blocks: list[list[bytes]], name: str, keep: int = 0
                ) -> tuple[float, float, list[float]]:
    """Execute ``blocks``; with ``keep``, prune to the last ``keep`` versions every
    ``keep`` blocks (as ``--keep-versions``). Returns (seconds executing and committing,
    seconds pruning, seconds per block)."""
    pruning = 0.0
    per_block = []
    start = time.perf_counter()
    for height, txs in enumerate(blocks, start=1):
        began = time.perf_counter()
        app.finalize_block(BlockInfo(height, GENESIS_MS + 1000 * height), txs)
        app.commit()
        per_block.append(time.perf_counter() - began)
        if keep and height % keep == 0:
            began = time.perf_counter()
            app.store.prune(height - keep + 1)  # type: ignore[attr-defined]
            pruning += time.perf_counter() - began
        if height % 100 == 0:
            print(f"  {name}: block {height}/{len(blocks)}, {sum(per_block):.1f} s "
                  f"executing, {pruning:.1f} s pruning", file=sys.stderr, flush=True)
    return time.perf_counter() - start - pruning, pruning, per_block


def _mb(path: Path) -> float:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*")) / 1e6


def _source(blocks: list[list[bytes]], tmp: Path) -> dict[str, Any]:
    """The archive node: replays, then snapshots its last height."""
    source = new_application(SqliteStateStore(tmp / "source.db", orphans=False))
    start = time.perf_counter()
    source.init_chain(testing.genesis())
    init_s = time.perf_counter() - start
    replay_s, _, _ = _run_blocks(source, blocks, "source (archive)")
    replay_s += init_s
    height, app_hash = source.store.version(), source.store.root()
    start = time.perf_counter()
    snapshot = SnapshotStore(tmp / "snapshots").take(source.store, height)
    snapshot_s = time.perf_counter() - start
    source.store.close()  # type: ignore[attr-defined]
    return {"height": height, "app_hash": app_hash, "replay_archive_s": replay_s,
            "snapshot_s": snapshot_s, "snapshot": encode_snapshot(snapshot),
            "disk_archive_mb": _mb(tmp / "source.db")}


def _replica(blocks: list[list[bytes]], tmp: Path) -> dict[str, Any]:
    """The pruned node: replays, pruning as it goes."""
    replica = new_application(SqliteStateStore(tmp / "replay.db"))
    start = time.perf_counter()
    replica.init_chain(testing.genesis())
    init_s = time.perf_counter() - start
    replay_s, pruning_s, per_block = _run_blocks(replica, blocks, "replica (pruned)",
                                                 keep=KEEP_VERSIONS)
    tenth = max(1, len(blocks) // 10)
    txs_first = sum(len(b) for b in blocks[:tenth])
    txs_last = sum(len(b) for b in blocks[-tenth:])
    app_hash = replica.store.root()
    replica.store.close()  # type: ignore[attr-defined]
    return {"replay_s": init_s + replay_s, "pruning_s": pruning_s, "app_hash": app_hash,
            "replay_first_ms_per_tx": 1000 * sum(per_block[:tenth]) / txs_first,
            "replay_last_ms_per_tx": 1000 * sum(per_block[-tenth:]) / txs_last,
            "disk_pruned_mb": _mb(tmp / "replay.db")}


def _child(job: Any, blocks: list[list[bytes]], tmp: Path, conn: Any) -> None:
    try:
        conn.send(("ok", job(blocks, tmp)))
    except BaseException as exc:  # reported to the parent, which fails the run
        conn.send(("error", f"{type(exc).__name__}: {exc}"))
    finally:
        conn.close()


def _both(blocks: list[list[bytes]], tmp: Path, serial: bool) -> list[dict[str, Any]]:
    """Run the source and the replica in two forked processes (both inherit ``blocks``),
    concurrently or one after the other."""
    ctx = multiprocessing.get_context("fork")
    out = []
    procs = []
    for job in (_source, _replica):
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_child, args=(job, blocks, tmp, send))
        proc.start()
        send.close()
        procs.append((proc, receive))
        if serial:
            out.append(receive.recv())
            proc.join()
    if not serial:
        out = [receive.recv() for _, receive in procs]
        for proc, _ in procs:
            proc.join()
    for status, value in out:
        if status != "ok":
            raise RuntimeError(f"a replaying node failed: {value}")
    return [value for _, value in out]


def one(count: int, block: int, tmp: Path, serial: bool = False) -> dict[str, Any]:
    start = time.perf_counter()
    txs = _txs(count)
    sign_s = time.perf_counter() - start
    blocks = [txs[i:i + block] for i in range(0, count, block)]
    del txs
    source, replica = _both(blocks, tmp, serial)
    height, app_hash = source["height"], source["app_hash"]
    assert replica["app_hash"] == app_hash, "the replica's app hash is not the source's"

    offered = decode_snapshot(source["snapshot"])
    synced = SqliteStateStore(tmp / "synced.db")
    start = time.perf_counter()
    restore = Restore(offered.height, offered.format, offered.chunks, offered.hash,
                      offered.metadata, app_hash)
    for index in range(offered.chunks):
        assert restore.accept(index, SnapshotStore(tmp / "snapshots").chunk(height, 1, index))
    restore.apply(synced)
    statesync_s = time.perf_counter() - start
    assert synced.root() == app_hash
    synced.close()
    replay_s = replica["replay_s"]
    return {"txs": count, "height": height, "chunks": offered.chunks,
            "concurrent": not serial, "sign_s": round(sign_s, 2),
            "replay_s": round(replay_s, 2), "statesync_s": round(statesync_s, 2),
            "replay_ms_per_tx": round(1000 * replay_s / count, 3),
            "replay_first_ms_per_tx": round(replica["replay_first_ms_per_tx"], 3),
            "replay_last_ms_per_tx": round(replica["replay_last_ms_per_tx"], 3),
            "replay_archive_s": round(source["replay_archive_s"], 2),
            "snapshot_s": round(source["snapshot_s"], 2),
            "ratio": round(statesync_s / replay_s, 4),
            "pruning_s": round(replica["pruning_s"], 2),
            "disk_archive_mb": round(source["disk_archive_mb"], 2),
            "disk_pruned_mb": round(replica["disk_pruned_mb"], 2),
            "disk_one_version_mb": round(_mb(tmp / "synced.db"), 2)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--txs", default="100000,1000000",
                    help="history sizes, comma-separated (patient registrations)")
    ap.add_argument("--block", type=int, default=1000, help="txs per block")
    ap.add_argument("--serial", action="store_true",
                    help="run the two replaying nodes one after the other, not together")
    ap.add_argument("--quick", action="store_true", help="one history of 2000 txs")
    args = ap.parse_args(argv)
    sizes = [2000] if args.quick else [int(n) for n in args.txs.split(",")]
    block = 200 if args.quick else args.block
    runs = []
    for count in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            run = one(count, block, Path(tmp), args.serial)
        runs.append(run)
        print(f"{count:>9} txs, height {run['height']}: replay {run['replay_s']} s "
              f"(archive source {run['replay_archive_s']} s; pruning "
              f"{run['pruning_s']} s), state sync {run['statesync_s']} s "
              f"({run['chunks']} chunks; snapshot {run['snapshot_s']} s), ratio "
              f"{run['ratio']}; state db {run['disk_archive_mb']} MB every version, "
              f"{run['disk_pruned_mb']} MB pruned to {KEEP_VERSIONS}, "
              f"{run['disk_one_version_mb']} MB one; {json.dumps(run)}",
              file=sys.stderr, flush=True)
    last = runs[-1]
    print(json.dumps({"bench": "statesync", "statesync_s": last["statesync_s"],
                      "replay_s": last["replay_s"], "ratio": last["ratio"],
                      "replay_ms_per_tx": last["replay_ms_per_tx"],
                      "disk_pruned_mb": last["disk_pruned_mb"],
                      "disk_archive_mb": last["disk_archive_mb"], "runs": runs}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
