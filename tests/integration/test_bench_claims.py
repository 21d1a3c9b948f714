"""Smoke test of ``bench/claims.py``: the benchmark runs end to end on a small chain and
its last line is the JSON it promises. It asserts no speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_claims_bench_runs() -> None:
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "claims.py"), "--claims", "30"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=180,
                          check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bench"] == "claims"
    assert result["claims"] == 30
    assert result["records_per_claim"] == 3
    for figure in ("claims_per_s", "transfer_per_s", "ratio", "exec_ms_per_claim",
                   "commit_ms_per_block", "handler_ms_per_claim", "setup_s",
                   "cpu_us_per_claim", "cpu_us_per_transfer", "cpu_ratio"):
        assert result[figure] > 0, figure
