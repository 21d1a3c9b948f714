"""The crash campaign (tests/integration/test_crash_campaign.py, a few kill points in CI;
bench/crash_campaign.py, twenty or more): ``kill -9`` at random moments under load of

- ``node``: the node process (with its helpers: the whole process group);
- ``writer``: only the node's state-writer child (storage/writer_child.py), whose death
  stops block production; the node is then stopped and restarted;
- ``vault``: a vault process while records are uploaded and read.

Afterwards: every tx the API reported committed is in a block and its effect in state,
every record whose upload and registration were acknowledged is readable, every read the
vault answered has its audit entry on chain exactly once once the outbox has drained, and
``phrchain verify`` passes. Every round is bounded in time; child processes are killed on
the way out."""

from __future__ import annotations

import random
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx

from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from tests.helpers import CHAIN_ID, VALIDATOR, enc_key, genesis, signing_key
from tests.processes import ENV, ROOT, group_member, kill_group, start_node, stop_node, verify_home

CLIENTS = 4


class _Load:
    """Client threads that run until the ``with`` block ends (then get ``join_s`` to
    notice ``stop``)."""

    threads: list[threading.Thread]
    stop: threading.Event
    join_s: float = 15

    def __enter__(self: LoadT) -> LoadT:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=self.join_s)


LoadT = TypeVar("LoadT", bound=_Load)


class TxLoad(_Load):
    """Client threads submitting fresh patient registrations, waiting for commit; keeps
    the hash of every tx the API reported committed with code 0."""

    def __init__(self, url: str, pool: list[tuple[bytes, str]]) -> None:
        self.url, self.pool = url, pool
        self.reported: list[tuple[str, str]] = []  # (tx hash, the registered DID)
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, daemon=True) for _ in range(CLIENTS)]

    def _next(self) -> tuple[bytes, str] | None:
        with self._lock:
            return self.pool.pop() if self.pool else None

    def _run(self) -> None:
        with httpx.Client(base_url=self.url, timeout=10) as client:
            while not self.stop.is_set():
                item = self._next()
                if item is None:
                    return
                try:
                    answer = client.post("/v1/txs", json={"tx": item[0].hex(), "wait": "commit"})
                except httpx.HTTPError:
                    return  # the node died under us
                body = answer.json()
                if answer.status_code == 200 and body["status"] == "committed" \
                        and body["result"]["code"] == 0:
                    with self._lock:
                        self.reported.append((body["hash"], item[1]))



def tx_pool(count: int, first_seed: int = 50_000) -> list[tuple[bytes, str]]:
    """Signed registrations of ``count`` fresh patients, with their DIDs."""
    pool = []
    for i in range(count):
        key = signing_key(first_seed + i)
        pool.append((build_tx(key, CHAIN_ID, 1, [{"type": "identity/register_patient",
                                                  "enc_key": enc_key(i)}]), key.did))
    return pool


@dataclass
class Outcome:
    target: str
    kill_points: int = 0
    checked: int = 0  # committed txs, or acknowledged records + answered reads
    lost: int = 0
    verify_ok: bool = False
    detail: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        return {"target": self.target, "kill_points": self.kill_points,
                "checked": self.checked, "lost": self.lost, "verify_ok": self.verify_ok,
                **self.detail}


def node_campaign(tmp: Path, points: int, target: str, rng: random.Random,
                  window: tuple[float, float] = (0.3, 1.5)) -> Outcome:
    """``target`` "node": SIGKILL the node's process group; "writer": SIGKILL only its
    state-writer child, then stop the (now halted) node and start it again."""
    assert target in ("node", "writer")
    home = tmp / f"{target}-node"
    init_home(home, genesis(), VALIDATOR.seed,
              NodeConfig(block_interval_ms=20, max_block_txs=100))
    pool = tx_pool(400 * points + 400, first_seed=50_000 if target == "node" else 150_000)
    log, outcome = tmp / f"{target}.log", Outcome(target)
    reported: list[tuple[str, str]] = []
    for _ in range(points):
        proc, url = start_node(home, log)
        try:
            with TxLoad(url, pool) as load:
                time.sleep(rng.uniform(*window))
                if target == "node":
                    kill_group(proc)
                else:
                    writer = group_member(proc, "writer_child")
                    assert writer is not None, "no state writer child in the node's group"
                    subprocess.run(["kill", "-9", str(writer)], check=True)
                    time.sleep(0.2)  # the next commit finds it dead
            if target == "writer":
                stop_node(proc)
        finally:
            if proc.poll() is None:
                kill_group(proc)
        reported += load.reported
        outcome.kill_points += 1
    outcome.checked, outcome.lost, missing_effects = _check_reported(home, log, reported)
    outcome.detail["effects_missing"] = missing_effects
    outcome.lost += missing_effects
    outcome.verify_ok = verify_home(home).returncode == 0
    return outcome


def _check_reported(home: Path, log: Path, reported: list[tuple[str, str]]
                    ) -> tuple[int, int, int]:
    proc, url = start_node(home, log)
    lost = missing = 0
    try:
        with httpx.Client(base_url=url, timeout=10) as client:
            for tx_hash, did in reported:
                status = client.get(f"/v1/txs/{tx_hash}").json()
                if status.get("status") != "committed" or status["result"]["code"] != 0:
                    lost += 1
                identity = client.post("/v1/query", json={
                    "path": "identity/did", "data": {"did": did}}).json()["value"]
                if identity is None or identity.get("kind") != "patient":
                    missing += 1
    finally:
        stop_node(proc)
    return len(reported), lost, missing


# -- the vault ------------------------------------------------------------------------------
_VAULT = textwrap.dedent("""
    import sys, time
    from pathlib import Path
    from phrchain.api.server import BackgroundServer
    from phrchain.client.http import NodeClient
    from phrchain.gateway.chain import RemoteChain
    from phrchain.gateway.http import create_vault_app
    from phrchain.gateway.service import Vault, VaultConfig
    from tests.consortium import HOSPITAL_A
    vault = Vault(VaultConfig(Path(sys.argv[1]), flush_interval_s=0.05, sync_interval_s=3600),
                  RemoteChain(NodeClient(sys.argv[2])), HOSPITAL_A.signing_key,
                  HOSPITAL_A.encryption_key)
    vault.start()
    with BackgroundServer(create_vault_app(vault)) as url:
        print(url, flush=True)
        time.sleep(float(sys.argv[3]))
""")


def _start_vault(directory: Path, api_url: str, lifetime_s: float = 600
                 ) -> tuple[subprocess.Popen[str], str]:
    child = subprocess.Popen([sys.executable, "-c", _VAULT, str(directory), api_url,
                              str(lifetime_s)], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                             env=ENV, start_new_session=True)
    assert child.stdout is not None
    url = child.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        kill_group(child)
        raise AssertionError("the vault did not start")
    return child, url


class RecordLoad(_Load):
    """Hospital A adds records to its vault (each acknowledged once uploaded *and*
    registered); patient P reads acknowledged ones (each answered read is an audit entry
    the vault journaled before releasing)."""

    join_s = 30

    def __init__(self, api_url: str, directory: dict[str, str], acked: dict[str, bytes],
                 rng: random.Random) -> None:
        self.api_url, self.directory, self.acked, self.rng = api_url, directory, acked, rng
        self.reads: list[str] = []  # request hashes of answered reads
        self.stop = threading.Event()
        self._lock = threading.Lock()
        self.threads = [threading.Thread(target=self._upload, daemon=True),
                        threading.Thread(target=self._read, daemon=True)]

    def _upload(self) -> None:
        from phrchain.client.http import NodeClient
        from phrchain.client.phr import Phr
        from tests.consortium import HOSPITAL_A, P

        with NodeClient(self.api_url, timeout=15) as node, \
                Phr(node, HOSPITAL_A, self.directory) as hospital:
            n = 0
            while not self.stop.is_set():
                n += 1
                body = b'{"resourceType":"Basic","id":"%d-%d"}' % (id(self), n)
                try:
                    record = hospital.records.add(body, P.did, resource="Basic",
                                                  category="other")
                except Exception:  # the vault died under us: not acknowledged
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.acked[record] = body

    def _read(self) -> None:
        from phrchain.client.http import NodeClient
        from phrchain.client.phr import Phr
        from tests.consortium import HOSPITAL_A, P

        with NodeClient(self.api_url, timeout=15) as node, \
                Phr(node, P, self.directory) as patient:
            while not self.stop.is_set():
                with self._lock:
                    records = list(self.acked)
                if not records:
                    time.sleep(0.02)
                    continue
                try:
                    patient.records.open(self.rng.choice(records))
                except Exception:
                    time.sleep(0.05)
                    continue
                with self._lock:
                    self.reads.append(patient.session.vault(HOSPITAL_A.did).last_request)



def vault_campaign(tmp: Path, points: int, rng: random.Random,
                   window: tuple[float, float] = (0.5, 2.0)) -> Outcome:
    """SIGKILL hospital A's vault (a child process, its outbox sender running) while
    records are uploaded and read; then every acknowledged record must read back and every
    answered read must have its audit entry on chain, exactly once."""
    import os

    from phrchain.client.http import NodeClient
    from phrchain.client.phr import Phr
    from tests.consortium import HOSPITAL_A, P, running

    outcome = Outcome("vault")
    acked: dict[str, bytes] = {}
    reads: list[str] = []
    with running(tmp) as c:
        live = c.vaults[HOSPITAL_A.did]
        live.sender.stop()
        live.close()
        directory = tmp / "crashing-vault"
        os.rename(live.config.directory, directory)
        for _ in range(points):
            child, url = _start_vault(directory, c.api_url)
            try:
                with RecordLoad(c.api_url, {**c.directory, HOSPITAL_A.did: url}, acked,
                                rng) as load:
                    time.sleep(rng.uniform(*window))
                    kill_group(child)
            finally:
                if child.poll() is None:
                    kill_group(child)
                if child.stdout is not None:
                    child.stdout.close()
            reads += load.reads
            outcome.kill_points += 1
        child, url = _start_vault(directory, c.api_url)
        try:
            backlog = _drain(url)
            with NodeClient(c.api_url, timeout=30) as node, \
                    Phr(node, P, {**c.directory, HOSPITAL_A.did: url}) as patient:
                unreadable = sum(patient.records.open(r).plaintext != body
                                 for r, body in acked.items())
                logged = [e["request"] for e in patient.audit.log(P.did)]
        finally:
            kill_group(child)
            if child.stdout is not None:
                child.stdout.close()
        home = c.home
    missing = sum(logged.count(request) != 1 for request in reads)
    outcome.checked, outcome.lost = len(acked) + len(reads), unreadable + missing
    outcome.detail.update({"records_acked": len(acked), "records_lost": unreadable,
                           "reads_answered": len(reads), "audit_missing_or_twice": missing,
                           "outbox_left": backlog})
    outcome.verify_ok = verify_home(home).returncode == 0
    return outcome


def _drain(url: str, limit_s: float = 60) -> int:
    """Wait for the restarted vault's outbox to reach the chain; what is left."""
    deadline = time.monotonic() + limit_s
    while True:
        backlog = int(httpx.get(url + "/v1/vault/info", timeout=10).json()["backlog"])
        if backlog == 0 or time.monotonic() > deadline:
            return backlog
        time.sleep(0.1)
