"""API property testing, full run (issue 13's campaign): the node API's and the vaults'
OpenAPI operations, many more cases than CI's quick version
(``tests/integration/test_api_properties.py``), same checks (``tests/api_campaign.py``):
no 5xx, every status and content type documented, every body valid against its schema;
for the vaults, unsigned and garbage-signed requests answered with a documented answer or
a 4xx with the vault's error body.

A consortium (``tests/consortium.py``: a solo node, its API and three vaults on loopback
HTTP, in this process) holding one record and one consent. Prints one line per target,
every distinct failure, and last a JSON line: ``{"bench": "api_fuzz", "operations",
"cases", "failures", "server_errors", "framework_bodies", "seconds"}``. Exit code 1 if
anything failed.

    python bench/api_fuzz.py [--examples 500] [--vault-examples 200] [--quick]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from _harness import running  # puts the repository root on sys.path, for tests.*
from tests.api_campaign import Report, node_target, run_campaign, seed_world, vault_target
from tests.consortium import VAULT_ORGS


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=500, help="cases per node operation")
    parser.add_argument("--vault-examples", type=int, default=200,
                        help="cases per vault operation (each of the three vaults)")
    parser.add_argument("--quick", action="store_true", help="40 and 25 cases: CI's size")
    args = parser.parse_args()
    if args.quick:
        args.examples, args.vault_examples = 40, 25
    t0 = time.perf_counter()
    totals = Report()
    with tempfile.TemporaryDirectory() as tmp, running(Path(tmp)) as c:
        record, consent = seed_world(c)
        targets = [("node API", node_target(c, record, consent), args.examples)]
        targets += [(f"vault of {org.label}", vault_target(c, org.did, record),
                     args.vault_examples) for org in VAULT_ORGS]
        for name, target, examples in targets:
            started = time.perf_counter()
            report = run_campaign(target, examples)
            s = report.summary()
            print(f"{name:<24} operations {s['operations']:>3}  cases {s['cases']:>6}  "
                  f"failures {s['failures']:>3}  framework bodies {s['framework_bodies']:>4}  "
                  f"{time.perf_counter() - started:6.1f} s  statuses {s['statuses']}")
            for failure in s["distinct_failures"]:
                print(f"    FAIL {failure} (x{report.failures[failure]})")
            totals.operations += report.operations
            totals.cases += report.cases
            totals.statuses.update(report.statuses)
            totals.failures.update(report.failures)
            totals.framework_bodies.update(report.framework_bodies)
    s = totals.summary()
    print(json.dumps({"bench": "api_fuzz", "operations": s["operations"], "cases": s["cases"],
                      "failures": s["failures"],
                      "server_errors": sum(n for code, n in s["statuses"].items()
                                           if code >= 500),
                      "framework_bodies": s["framework_bodies"],
                      "seconds": round(time.perf_counter() - t0, 1)}))
    return 1 if s["failures"] else 0


if __name__ == "__main__":
    sys.exit(main())
