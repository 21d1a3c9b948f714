"""Every bench in ``bench/`` runs once in its ``--quick`` mode, as a user would start it
(``python bench/<name>.py --quick`` from the installed package), so that none rots: it
exits 0 and its last stdout line is a JSON object with the figures it documents. These
tests assert no speed (benchmarks print figures; they never time a test)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from phrchain.engine.abci.net import default_binary

ROOT = Path(__file__).resolve().parents[2]

# bench -> the figures of its last line that must be positive numbers (dotted = nested).
FIGURES: dict[str, tuple[str, ...]] = {
    "solo_throughput": ("verify_per_s", "tx_per_s", "ratio"),
    "claims": ("claims_per_s", "transfer_per_s", "ratio", "exec_ms_per_claim"),
    "trials": ("entries_per_s", "transfers_per_s", "ratio", "sites"),
    "cometbft_throughput": ("tx_per_s", "p50_s", "p95_s", "kvstore_tx_per_s", "ratio"),
    "vault_access": ("p50_ms", "p99_ms", "c1.p99_ms", "c1.req_per_s", "c4.req_per_s",
                     "c4.p99_ms"),
    "vault_throughput": ("large_ratio", "large_bytes"),
    "ingest": ("resources_per_s", "onchain_bytes_per_record", "entries_per_s", "records"),
    "fhir_validate": ("resources_per_s", "us_per_resource", "parse_and_validate_per_s"),
    "smt_update": ("updates_per_s", "ms_per_batch", "nodes_per_batch", "final_keys"),
    "hot_path": ("signature_job_us", "admission_us", "execution_us", "stage_us",
                 "commit_us", "node_us"),
    "state_commit": ("first10_ms", "last10_ms", "keys_per_s", "db_mb", "final_keys",
                     "growth", "db_bytes_per_key"),
    "api_fuzz": ("operations", "cases"),
    "fuzz": ("targets", "inputs", "min_inputs_per_target"),
    "limits": (),
    "crash_campaign": ("points_per_target",),
    "vault_hostile": ("rss_peak_mb", "refusal_ms_p50", "records", "idle_s"),
    "linkage": ("records", "documents", "enrollees", "named"),
    "supply": ("events_per_s", "transfers_per_s", "ratio", "us_per_dispense"),
    "statesync": ("statesync_s", "replay_s", "ratio", "disk_pruned_mb", "disk_archive_mb"),
    "genome": ("seal_MBps", "raw_MBps", "seal_ratio", "region_read_ms",
               "raw_2thread_MBps", "seal_2thread_MBps", "seal_buffered_MBps"),
    "fhir_rest": ("reads_per_s", "searches_per_s", "baseline_per_s", "ratio",
                  "c1.reads.p99_ms", "c4.searches.p50_ms"),
    "research_export": ("resources_per_s", "reads_per_s", "ratio", "released"),
}
# bench -> figures whose value is the verdict (a campaign that found a fault exits 1 too).
VERDICTS: dict[str, dict[str, Any]] = {
    "api_fuzz": {"failures": 0, "server_errors": 0},
    "fuzz": {"crashes": 0},
    "limits": {"all_ok": True},
    "crash_campaign": {"lost": 0, "all_verified": True},
}
NEEDS_COMETBFT = pytest.mark.skipif(
    not default_binary().exists(),
    reason="no CometBFT binary: run scripts/cometbft.sh (Go >= 1.22)")


def figure(line: dict[str, Any], dotted: str) -> Any:
    value: Any = line
    for part in dotted.split("."):
        assert isinstance(value, dict) and part in value, f"no {dotted!r} in {line}"
        value = value[part]
    return value


def test_every_bench_script_has_a_quick_case() -> None:
    scripts = {p.stem for p in (ROOT / "bench").glob("*.py") if not p.stem.startswith("_")}
    assert scripts == set(FIGURES)


@pytest.mark.slow
@pytest.mark.parametrize("bench", [
    pytest.param(name, marks=NEEDS_COMETBFT) if name == "cometbft_throughput" else name
    for name in FIGURES])
def test_quick_run_prints_its_figures(bench: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}  # the installed package
    argv = [sys.executable, str(ROOT / "bench" / f"{bench}.py"), "--quick"]
    if bench == "fuzz":  # its logs and corpora stay in pytest's directory, not in /tmp
        argv += ["--workdir", str(tmp_path / "fuzz")]
    # a hang guard, not a speed claim: quick runs take 5-90 s on a loaded 2-core machine
    done = subprocess.run(argv, cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:] + done.stdout[-2000:]
    line = json.loads(done.stdout.strip().splitlines()[-1])
    assert isinstance(line, dict)
    assert line.get("bench", bench) == bench  # fuzz.py's line names no bench
    for dotted in FIGURES[bench]:
        value = figure(line, dotted)
        assert isinstance(value, int | float) and value > 0, f"{dotted} = {value!r}"
    for name, verdict in VERDICTS.get(bench, {}).items():
        assert figure(line, name) == verdict, f"{name} = {figure(line, name)!r}"
