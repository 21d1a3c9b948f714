"""Crash safety: SIGKILL a real node process under load, again and again.

Every tx the API reported committed must still be committed after restart, and
`phrchain verify` must pass on what is left on disk."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from tests.helpers import CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key

ROUNDS = 10
CLIENTS = 4


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start(home: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "phrchain", "start", "--home", str(home), "--port", str(port)],
            stdout=out, stderr=out, start_new_session=True)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise AssertionError(f"node did not start; log:\n{log.read_text()[-3000:]}")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGKILL)  # the node and any worker process it started
    proc.wait(timeout=10)


class Load:
    """Client threads submitting fresh patient registrations, waiting for commit."""

    def __init__(self, port: int, txs: list[bytes]) -> None:
        self.port, self.txs = port, txs
        self.reported: list[str] = []
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _next(self) -> bytes | None:
        with self._lock:
            return self.txs.pop() if self.txs else None

    def _run(self) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{self.port}", timeout=10) as client:
            while not self.stop.is_set():
                raw = self._next()
                if raw is None:
                    return
                try:
                    answer = client.post("/v1/txs", json={"tx": raw.hex(), "wait": "commit"})
                except httpx.HTTPError:
                    return  # the node died under us
                body = answer.json()
                if answer.status_code == 200 and body["status"] == "committed" \
                        and body["result"]["code"] == 0:
                    with self._lock:
                        self.reported.append(body["hash"])

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)


def test_sigkill_under_load_loses_no_reported_tx(tmp_path: Path) -> None:
    home = tmp_path / "node"
    init_home(home, genesis(), VALIDATOR.seed,
              NodeConfig(block_interval_ms=20, max_block_txs=100))
    rng = random.Random(20261130)
    pool = [build_tx(signing_key(50_000 + i), CHAIN_ID, 1,
                     [{"type": "identity/register_patient", "enc_key": enc_key(i)}])
            for i in range(4000)]
    reported: list[str] = []
    log = tmp_path / "node.log"
    heights = []
    for _ in range(ROUNDS):
        port = _free_port()
        proc = _start(home, port, log)
        with Load(port, pool) as load:
            time.sleep(rng.uniform(0.3, 1.5))
            heights.append(httpx.get(f"http://127.0.0.1:{port}/v1/status").json()["height"])
            _kill(proc)
        reported += load.reported
    assert len(reported) >= 100, "the load was too light to mean anything"
    assert heights == sorted(heights)

    port = _free_port()
    proc = _start(home, port, log)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            for tx_hash in reported:
                status = client.get(f"/v1/txs/{tx_hash}").json()
                assert status["status"] == "committed" and status["result"]["code"] == 0, \
                    (tx_hash, status)
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    verify = subprocess.run([sys.executable, "-m", "phrchain", "verify", "--home", str(home)],
                            capture_output=True, text=True, timeout=300, check=False)
    assert verify.returncode == 0, verify.stdout + verify.stderr
