"""FHIR R4 validation throughput (phrchain.fhir.validate) on synthetic patients.

Generates ``--patients`` Synthea-style bundles of ``--resources`` entries each, then
measures, single-threaded: the one-off compile of the per-type validators (cold), the
steady-state validation rate, JSON parse + validation (what ingest pays per resource)
and ``split_bundle`` (validation + reference rewriting + compartment assignment).
Prints a human summary and, last, one JSON line ``{"bench": "fhir_validate", ...}``.

    python bench/fhir_validate.py [--patients N] [--resources R] [--rounds K] [--seed S]
"""

from __future__ import annotations

import argparse
import json
import sys
import time

from phrchain.fhir import validate
from phrchain.fhir.bundle import split_bundle
from phrchain.fhir.synthetic import generate_patients


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--patients", type=int, default=200)
    ap.add_argument("--resources", type=int, default=30)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="10 patients, one round")
    args = ap.parse_args(argv)
    if args.quick:
        args.patients, args.rounds = 10, 1

    bundles = generate_patients(args.patients, args.seed, args.resources)
    resources = [e["resource"] for b in bundles for e in b["entry"]]
    encoded = [json.dumps(r, separators=(",", ":")).encode() for r in resources]
    types = sorted({r["resourceType"] for r in resources})

    t0 = time.perf_counter()
    for resource_type in types:  # first use compiles that type's validator
        validate(next(r for r in resources if r["resourceType"] == resource_type))
    compile_s = time.perf_counter() - t0

    best = 0.0
    for _ in range(args.rounds):
        t0 = time.perf_counter()
        for resource in resources:
            validate(resource)
        best = max(best, len(resources) / (time.perf_counter() - t0))

    t0 = time.perf_counter()
    for raw in encoded:
        validate(json.loads(raw))
    parse_rate = len(encoded) / (time.perf_counter() - t0)

    t0 = time.perf_counter()
    for bundle in bundles:
        split_bundle(bundle)
    split_rate = len(resources) / (time.perf_counter() - t0)

    mean_bytes = sum(map(len, encoded)) / len(encoded)
    print(f"{len(resources)} resources ({len(types)} types, mean {mean_bytes:.0f} B JSON) "
          f"from {args.patients} patients")
    print(f"compile validators (cold, {len(types)} types): {compile_s * 1000:.0f} ms")
    print(f"validate:              {best:12,.0f} resources/s  ({1e6 / best:.2f} us each)")
    print(f"json.loads + validate: {parse_rate:12,.0f} resources/s")
    print(f"split_bundle:          {split_rate:12,.0f} resources/s")
    print(json.dumps({"bench": "fhir_validate", "resources_per_s": round(best),
                      "us_per_resource": round(1e6 / best, 3),
                      "parse_and_validate_per_s": round(parse_rate),
                      "split_resources_per_s": round(split_rate),
                      "compile_ms": round(compile_s * 1000, 1),
                      "resources": len(resources), "types": len(types)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
