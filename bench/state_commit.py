"""Block-commit cost of :class:`~phrchain.storage.sqlite_state.SqliteStateStore` as the
state grows.

Commits ``--blocks`` blocks of ``--writes`` random key writes (keys ~60 bytes, values
~300 bytes; by default 80 % new keys, 20 % overwrites of existing ones) to a fresh
SQLite state store in a temporary directory. Times ``stage`` + ``commit`` per block and
prints the mean per group of 10 blocks, then one JSON line
``{"bench": "state_commit", "first10_ms": ..., "last10_ms": ..., "keys_per_s": ...,
"growth": ..., "db_bytes_per_key": ..., "hot_path": ...}``.

If the per-block cost grows with the size of the state (write amplification), last10
is much larger than first10: ``growth`` = last10_ms / first10_ms (issue 20 asks for
<= 1.3 at 10^6 live keys: ``--blocks 625``). ``db_bytes_per_key`` = database + WAL
bytes per live key at the end (every version of every key and node is kept).
``hot_path`` says whether the compiled hot path ran (``PHRCHAIN_PURE=1`` forces the
pure-Python reference).

    python bench/state_commit.py [--blocks N] [--writes W] [--overwrite F] [--seed X]
                                 [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path

from phrchain.core import accel
from phrchain.storage.sqlite_state import SqliteStateStore


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--blocks", type=int, default=60)
    ap.add_argument("--writes", type=int, default=2000)
    ap.add_argument("--overwrite", type=float, default=0.2,
                    help="fraction of writes that overwrite an existing key")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--dir", type=Path, default=None,
                    help="directory for the database (default: a temporary one)")
    ap.add_argument("--quick", action="store_true", help="20 blocks of 200 writes")
    ap.add_argument("--profile", action="store_true",
                    help="cProfile of stage+commit to stderr (imported only then)")
    args = ap.parse_args(argv)
    if args.quick:
        args.blocks, args.writes = 20, 200
    rnd = random.Random(args.seed)
    profiler = None
    if args.profile:  # profilers are imported only under --profile
        import cProfile

        profiler = cProfile.Profile()

    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        db = Path(tmp) / "state.db"
        store = SqliteStateStore(db)
        keys: list[bytes] = []
        times: list[float] = []
        stage_times: list[float] = []
        for height in range(args.blocks):
            changes: dict[bytes, bytes | None] = {}
            while len(changes) < args.writes:
                if keys and rnd.random() < args.overwrite:
                    k = rnd.choice(keys)
                else:
                    k = b"bench/acct/" + rnd.randbytes(24).hex().encode()[:49]  # 60 bytes
                    keys.append(k)
                changes[k] = rnd.randbytes(rnd.randint(280, 320))
            if profiler:
                profiler.enable()
            t0 = time.perf_counter()
            store.stage(height, changes)
            t1 = time.perf_counter()
            store.commit()
            times.append(time.perf_counter() - t0)
            if profiler:
                profiler.disable()
            stage_times.append(t1 - t0)
            if (height + 1) % 10 == 0:
                group = times[-10:]
                staged = stage_times[-10:]
                print(f"blocks {height - 8:3d}-{height + 1:3d}: "
                      f"mean {1000 * sum(group) / len(group):7.1f} ms/block "
                      f"(stage {1000 * sum(staged) / len(staged):5.1f} + commit "
                      f"{1000 * (sum(group) - sum(staged)) / len(group):5.1f}), "
                      f"{len(keys)} keys, db+wal {_size_mb(db):.1f} MB", flush=True)
        store.close()
        size_mb = _size_mb(db)
    if profiler:
        import pstats

        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(20)

    first = times[:10]
    last = times[-10:]
    result = {
        "bench": "state_commit",
        "blocks": args.blocks,
        "writes_per_block": args.writes,
        "final_keys": len(keys),
        "first10_ms": round(1000 * sum(first) / len(first), 1),
        "last10_ms": round(1000 * sum(last) / len(last), 1),
        "first10_stage_ms": round(1000 * sum(stage_times[:10]) / len(first), 1),
        "last10_stage_ms": round(1000 * sum(stage_times[-10:]) / len(last), 1),
        "keys_per_s": round(args.blocks * args.writes / sum(times)),
        "db_mb": round(size_mb, 1),
        "growth": round(sum(last) / sum(first), 2),
        "db_bytes_per_key": round(size_mb * 1e6 / len(keys)),
        "hot_path": accel.STATUS,
        "python": sys.version.split()[0],
    }
    print(json.dumps(result, sort_keys=True))
    return 0


def _size_mb(db: Path) -> float:
    total = 0
    for suffix in ("", "-wal"):
        p = Path(str(db) + suffix)
        if p.exists():
            total += os.path.getsize(p)
    return total / 1e6


if __name__ == "__main__":
    sys.exit(main())
