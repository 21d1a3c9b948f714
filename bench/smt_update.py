"""Micro-benchmark of ``phrchain.core.smt.update`` on the block-commit hot path.

Builds a 100k-key tree, then applies 50 batches of 3000 random changes (about 70 %
overwrites, 20 % inserts, 10 % deletes) into an in-memory node store. Prints a human
summary and, last, one JSON line ``{"bench": "smt_update", ...}``.

    python bench/smt_update.py [--keys N] [--batches B] [--batch-size S] [--seed X]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time

from phrchain.core.smt import EMPTY_REF, MemoryNodeStore, key_path, update, value_hash


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--keys", type=int, default=100_000)
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--batch-size", type=int, default=3000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="5,000 keys, 5 batches of 500")
    args = ap.parse_args(argv)
    if args.quick:
        args.keys, args.batches, args.batch_size = 5000, 5, 500
    rnd = random.Random(args.seed)

    # Hashing keys and values is the caller's job (state layer), so it is done up front.
    live = [key_path(b"key-%d" % i) for i in range(args.keys)]
    next_key = args.keys
    store = MemoryNodeStore()
    t0 = time.perf_counter()
    root, new = update(store, EMPTY_REF, {p: value_hash(p) for p in live}, 0)
    build_s = time.perf_counter() - t0
    store.put_many(new)

    batches = []
    for b in range(args.batches):
        changes: dict[bytes, bytes | None] = {}
        while len(changes) < args.batch_size:
            r = rnd.random()
            if r < 0.7:
                changes[rnd.choice(live)] = value_hash(b"v%d-%d" % (b, rnd.getrandbits(32)))
            elif r < 0.9:
                p = key_path(b"key-%d" % next_key)
                next_key += 1
                live.append(p)
                changes[p] = value_hash(p)
            else:
                i = rnd.randrange(len(live))
                live[i], live[-1] = live[-1], live[i]
                changes[live.pop()] = None
        batches.append(changes)

    update_s = 0.0
    put_s = 0.0
    nodes_created = 0
    for version, changes in enumerate(batches, start=1):
        t0 = time.perf_counter()
        root, new = update(store, root, changes, version)
        t1 = time.perf_counter()
        store.put_many(new)
        put_s += time.perf_counter() - t1
        update_s += t1 - t0
        nodes_created += len(new)

    n_updates = args.batches * args.batch_size
    result = {
        "bench": "smt_update",
        "keys": args.keys,
        "batches": args.batches,
        "batch_size": args.batch_size,
        "build_s": round(build_s, 3),
        "build_keys_per_s": round(args.keys / build_s),
        "update_s": round(update_s, 3),
        "updates_per_s": round(n_updates / update_s),
        "ms_per_batch": round(1000 * update_s / args.batches, 2),
        "nodes_per_batch": round(nodes_created / args.batches),
        "put_s": round(put_s, 3),
        "final_keys": len(live),
        "root": root[1].hex(),
        "python": sys.version.split()[0],
    }
    print(f"built {args.keys} keys in {build_s:.2f}s ({result['build_keys_per_s']} keys/s)")
    print(f"{n_updates} updates in {args.batches} batches: {update_s:.2f}s, "
          f"{result['updates_per_s']} updates/s, {result['ms_per_batch']} ms/batch, "
          f"{result['nodes_per_batch']} new nodes/batch")
    print(json.dumps(result, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main())
