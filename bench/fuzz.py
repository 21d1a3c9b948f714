"""Coverage-guided fuzzing (atheris + libFuzzer) of every decoder that takes outside bytes.

    .venv/bin/python bench/fuzz.py                       # the full campaign (10**6 each)
    .venv/bin/python bench/fuzz.py --inputs 20000 --targets tx,abci --seconds 60
    .venv/bin/python bench/fuzz.py --seed                # (re)write the seed inputs
    .venv/bin/python bench/fuzz.py --save                # merge new coverage into the corpus

The targets and their contracts are ``tests/fuzz/targets.py``; each runs in its own
process for ``--inputs`` inputs (or until ``--seconds``), starting from its saved corpus
``tests/fuzz/corpus/<target>/`` (which ``tests/unit/test_fuzz_corpus.py`` replays in CI).
A crash (an exception outside the contract, an assertion, a timeout) stops that target;
libFuzzer writes the input to ``--workdir``: make it a regression test, fix, re-run.

Prints per target: inputs run, libFuzzer's coverage counters (``cov``: edges hit,
``ft``: features), corpus size and crashes; the last line is one JSON object with
``targets``, ``inputs``, ``crashes`` and ``min_inputs_per_target``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CORPUS = ROOT / "tests" / "fuzz" / "corpus"
MAX_LEN = 8192  # bytes per input: every decoder's interesting structure fits
_STATUS = re.compile(r"#(\d+)\s+\w+\s+cov: (\d+) ft: (\d+) corp: (\d+)")


def worker(target: str, inputs: int, seconds: int, workdir: Path, merge: bool) -> None:
    """Inside the child: instrument phrchain and the targets, then hand over to libFuzzer."""
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # refusals log by design; a log line per input is noise
    with atheris.instrument_imports(include=["phrchain", "tests.fuzz"]):
        from tests.fuzz.targets import TARGETS
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    if merge:  # keep only inputs that add coverage to the saved corpus
        args = ["-merge=1", str(CORPUS / target), str(corpus)]
    else:
        args = [f"-runs={inputs}", f"-max_total_time={seconds}", f"-max_len={MAX_LEN}",
                "-timeout=30", "-rss_limit_mb=3072", "-print_final_stats=1",
                f"-artifact_prefix={workdir}/", str(corpus), str(CORPUS / target)]
    atheris.Setup([sys.argv[0], *args], TARGETS[target])
    atheris.Fuzz()


def run_target(target: str, inputs: int, seconds: int, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    proc = subprocess.run(
        [sys.executable, __file__, "--worker", target, "--inputs", str(inputs), "--seconds",
         str(seconds), "--workdir", str(workdir)],
        capture_output=True, text=True, cwd=ROOT, timeout=seconds + 300,
        env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})
    log = proc.stderr
    (workdir / "libfuzzer.log").write_text(log)
    done = re.search(r"stat::number_of_executed_units: (\d+)", log)
    statuses = _STATUS.findall(log)
    last = statuses[-1] if statuses else ("0", "0", "0", "0")
    crashes = sorted(p.name for p in workdir.iterdir()
                     if p.name.startswith(("crash-", "timeout-", "oom-", "leak-")))
    if proc.returncode != 0 and not crashes:
        crashes = [f"exit {proc.returncode}"]
    return {"target": target, "inputs": int(done.group(1)) if done else int(last[0]),
            "cov": int(last[1]), "ft": int(last[2]), "corpus": int(last[3]),
            "crashes": len(crashes), "artifacts": crashes,
            "seconds": round(time.monotonic() - started, 1),
            "error": "" if proc.returncode == 0 else _first_error(log)}


def _first_error(log: str) -> str:
    lines = log.splitlines()
    for i, line in enumerate(lines):
        if "Uncaught Python exception" in line or "ERROR: libFuzzer" in line:
            return " | ".join(x.strip() for x in lines[i:i + 40]
                              if x.strip() and not x.startswith("  File"))[-400:]
    return lines[-1] if lines else ""


def save(target: str, workdir: Path) -> None:
    """Merge what a run found into the saved corpus (only inputs that add coverage)."""
    subprocess.run([sys.executable, __file__, "--worker", target, "--merge", "--workdir",
                    str(workdir)], capture_output=True, cwd=ROOT, check=True,
                   env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target")
    p.add_argument("--seconds", type=int, default=3600, help="time bound per target")
    p.add_argument("--targets", default="", help="comma-separated (default: all)")
    p.add_argument("--workdir", type=Path, help="crash artifacts and logs (default: temp)")
    p.add_argument("--save", action="store_true", help="merge new coverage into the corpus")
    p.add_argument("--seed", action="store_true", help="write the seed inputs and exit")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--merge", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.worker:
        worker(args.worker, args.inputs, args.seconds, args.workdir, args.merge)
        return 0
    from tests.fuzz.targets import TARGETS  # not before the worker's instrumented import

    if args.seed:
        from tests.fuzz.seeds import write_seeds

        print(f"wrote {write_seeds(CORPUS)} seed inputs under {CORPUS}")
        return 0
    names = [t for t in args.targets.split(",") if t] or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        p.error(f"unknown targets {unknown}; known: {sorted(TARGETS)}")
    base = args.workdir or Path(tempfile.mkdtemp(prefix="phrchain-fuzz-"))
    results = []
    print(f"{'target':<16}{'inputs':>10}{'cov':>7}{'ft':>7}{'corpus':>8}{'crashes':>9}"
          f"{'seconds':>9}", flush=True)
    for name in names:
        workdir = base / name
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        r = run_target(name, args.inputs, args.seconds, workdir)
        if args.save:
            save(name, workdir)
        results.append(r)
        print(f"{name:<16}{r['inputs']:>10}{r['cov']:>7}{r['ft']:>7}{r['corpus']:>8}"
              f"{r['crashes']:>9}{r['seconds']:>9}", flush=True)
        for artifact in r["artifacts"]:
            print(f"  finding: {workdir / artifact}", flush=True)
        if r["error"]:
            print(f"  {r['error']}", flush=True)
    print(f"logs and artifacts: {base}")
    print(json.dumps({"targets": len(results), "inputs": sum(r["inputs"] for r in results),
                      "crashes": sum(r["crashes"] for r in results),
                      "min_inputs_per_target": min((r["inputs"] for r in results), default=0),
                      "per_target": {r["target"]: {k: r[k] for k in ("inputs", "cov", "ft",
                                                                     "crashes")}
                                     for r in results}}))
    return 1 if any(r["crashes"] for r in results) else 0


if __name__ == "__main__":
    sys.exit(main())
