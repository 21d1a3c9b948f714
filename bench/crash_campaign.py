"""The crash campaign, full version (issue 13): ``kill -9`` at ``--points`` random moments
under load of each target (tests/crash_harness.py):

- ``node``: the node's whole process group while 4 clients submit txs and wait for commit;
- ``writer``: only the node's state-writer child (storage/writer_child.py); the halted
  node is then stopped and restarted;
- ``vault``: hospital A's vault process (its outbox sender running) while the hospital
  adds records and the patient reads them.

Then, per target: every tx the API reported committed must be committed with its effect
in state (the registered identity), every acknowledged record must read back, every
answered read must have its audit entry on chain exactly once after the outbox drained,
and ``phrchain verify`` must pass. Prints per target the kill points, what was checked and
what was lost (goal 0). Exit code 1 if anything was lost or verify failed.
Last line: ``{"bench": "crash_campaign", "targets": [...], "lost": 0, ...}``.

    PYTHONPATH=src python bench/crash_campaign.py [--points 20] [--targets node,writer,vault]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.crash_harness import node_campaign, vault_campaign


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--points", type=int, default=20, help="kill points per target")
    parser.add_argument("--targets", default="node,writer,vault")
    parser.add_argument("--seed", default="crash-campaign")
    parser.add_argument("--quick", action="store_true", help="1 kill point per target")
    args = parser.parse_args()
    if args.quick:
        args.points = 1
    rows = []
    for target in args.targets.split(","):
        rng = random.Random(f"{args.seed}-{target}")
        started = time.monotonic()
        with tempfile.TemporaryDirectory(prefix=f"phr-crash-{target}-") as tmp:
            if target == "vault":
                outcome = vault_campaign(Path(tmp), args.points, rng)
            else:
                outcome = node_campaign(Path(tmp), args.points, target, rng)
        row = {**outcome.row(), "seconds": round(time.monotonic() - started, 1)}
        rows.append(row)
        print(f"{target:<7} kill points {row['kill_points']:>3}  checked {row['checked']:>6}  "
              f"lost {row['lost']}  verify {'ok' if row['verify_ok'] else 'FAILED'}  "
              f"({row['seconds']} s)", flush=True)
        extra = {k: v for k, v in row.items() if k not in
                 ("target", "kill_points", "checked", "lost", "verify_ok", "seconds")}
        if extra:
            print("        " + ", ".join(f"{k} {v}" for k, v in extra.items()), flush=True)
    lost = sum(r["lost"] for r in rows)
    ok = lost == 0 and all(r["verify_ok"] for r in rows)
    print(json.dumps({"bench": "crash_campaign", "points_per_target": args.points,
                      "targets": rows, "lost": lost, "all_verified": ok}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
