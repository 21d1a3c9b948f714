"""Coverage-guided fuzzing (atheris + libFuzzer) of every decoder that takes outside bytes.

    .venv/bin/python bench/fuzz.py                       # the full campaign (10**6 each)
    .venv/bin/python bench/fuzz.py --inputs 20000 --targets tx,abci --seconds 60
    .venv/bin/python bench/fuzz.py --seed                # (re)write the seed inputs
    .venv/bin/python bench/fuzz.py --save                # merge new coverage into the corpus
    .venv/bin/python bench/fuzz.py --merge-only --workdir DIR   # ... from an earlier run

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


WORKER = Path(__file__).resolve().parent / "_fuzz_worker.py"


def _libfuzzer(target: str, args: list[str], timeout: float) -> subprocess.CompletedProcess[str]:
    """Run the worker on ``target`` with libFuzzer's ``args``."""
    return subprocess.run(
        [sys.executable, str(WORKER), *args], capture_output=True, text=True, cwd=ROOT,
        timeout=timeout, env={**os.environ, "PHRCHAIN_FUZZ_TARGET": target,
                              "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})


def run_target(target: str, inputs: int, seconds: int, workdir: Path) -> dict[str, Any]:
    started = time.monotonic()
    corpus = workdir / "corpus"
    corpus.mkdir(parents=True, exist_ok=True)
    proc = _libfuzzer(target, [f"-runs={inputs}", f"-max_total_time={seconds}",
                               f"-max_len={MAX_LEN}", "-timeout=30", "-rss_limit_mb=3072",
                               "-print_final_stats=1", f"-artifact_prefix={workdir}/",
                               str(corpus), str(CORPUS / target)], seconds + 300)
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


def save(target: str, workdir: Path) -> int:
    """Merge what a run found into the saved corpus: libFuzzer's ``-merge=1`` adds only
    the inputs that bring new coverage (the smallest that do). Returns the files added."""
    before = len(list((CORPUS / target).iterdir()))
    proc = _libfuzzer(target, ["-merge=1", f"-max_len={MAX_LEN}", str(CORPUS / target),
                               str(workdir / "corpus")], 3600)
    if proc.returncode != 0:
        raise SystemExit(f"merge of {target} failed: {_first_error(proc.stderr)}")
    return len(list((CORPUS / target).iterdir())) - before


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--inputs", type=int, default=1_000_000, help="inputs per target")
    p.add_argument("--seconds", type=int, default=3600, help="time bound per target")
    p.add_argument("--targets", default="", help="comma-separated (default: all)")
    p.add_argument("--workdir", type=Path, help="crash artifacts and logs (default: temp)")
    p.add_argument("--save", action="store_true", help="merge new coverage into the corpus")
    p.add_argument("--seed", action="store_true", help="write the seed inputs and exit")
    p.add_argument("--merge-only", action="store_true",
                   help="only merge the corpora of an earlier --workdir into the saved one")
    p.add_argument("--quick", action="store_true", help="200 inputs per target, 10 s bound")
    args = p.parse_args()
    if args.quick:
        args.inputs, args.seconds = 200, 10
    from tests.fuzz.targets import TARGETS

    if args.seed:
        from tests.fuzz.seeds import write_seeds

        print(f"wrote {write_seeds(CORPUS)} seed inputs under {CORPUS}")
        return 0
    names = [t for t in args.targets.split(",") if t] or list(TARGETS)
    unknown = sorted(set(names) - set(TARGETS))
    if unknown:
        p.error(f"unknown targets {unknown}; known: {sorted(TARGETS)}")
    base = args.workdir or Path(tempfile.mkdtemp(prefix="phrchain-fuzz-"))
    if args.merge_only:
        for name in names:
            print(f"{name}: {save(name, base / name)} input(s) added to {CORPUS / name}")
        return 0
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
