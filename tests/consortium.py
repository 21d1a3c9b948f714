"""A running consortium for integration tests: one solo node with its REST API, and a
vault (HTTP, loopback) for each of hospital A, hospital B and the insurer.

Everyone is a :class:`~phrchain.client.wallet.Wallet` with fixed secrets, and gets a
:class:`~phrchain.client.phr.Phr` (its per-module clients) through
:meth:`Consortium.client`.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client import builder
from phrchain.client.http import NodeClient
from phrchain.client.phr import Phr
from phrchain.client.wallet import Wallet
from phrchain.core import keys
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.gateway.chain import ChainPort, LocalChain, RemoteChain
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.modules.trials.genesis import RECOMMENDED as TRIALS_GENESIS
from phrchain.research import terms as research_terms

CHAIN = "phr-records"
VALIDATOR = keys.SigningKey(bytes([9]) * 32)


def wallet(n: int, label: str) -> Wallet:
    return Wallet.from_secrets(bytes([n]) * 32, bytes([n + 100]) * 32, label)


AUTHORITY = wallet(1, "authority")
HOSPITAL_A, HOSPITAL_B, INSURER = wallet(11, "hospital A"), wallet(12, "hospital B"), \
    wallet(13, "insurer")
RESEARCH, REGULATOR = wallet(14, "research institute"), wallet(15, "regulator")
ORGS = {HOSPITAL_A: "hospital", HOSPITAL_B: "hospital", INSURER: "insurer",
        RESEARCH: "research_institute", REGULATOR: "regulator"}
A1, A2, AE = wallet(21, "A1"), wallet(22, "A2"), wallet(23, "AE emergency")
B1, IR, RR, GA = wallet(24, "B1"), wallet(25, "IR"), wallet(26, "RR"), wallet(27, "GA")
STAFF = [(HOSPITAL_A, A1, ("physician",)), (HOSPITAL_A, A2, ("physician",)),
         (HOSPITAL_A, AE, ("emergency", "physician")), (HOSPITAL_B, B1, ("physician",)),
         (INSURER, IR, ("claims_reviewer",)), (RESEARCH, RR, ("researcher",)),
         (REGULATOR, GA, ("auditor",))]
P, Q = wallet(31, "patient P"), wallet(32, "patient Q")
STRANGER = wallet(39, "unregistered")
VAULT_ORGS = (HOSPITAL_A, HOSPITAL_B, INSURER)


@dataclass
class Consortium:
    node: SoloNode | None  # None: the node runs in its own process (``node_pid``)
    api_url: str
    vaults: dict[str, Vault]
    directory: dict[str, str]
    home: Path
    clients: list[Phr] = field(default_factory=list)
    node_pid: int | None = None

    def client(self, who: Wallet) -> Phr:
        c = Phr(NodeClient(self.api_url, timeout=30), who, self.directory)
        self.clients.append(c)
        return c

    def flush(self) -> None:
        """Push every vault's audit outbox to the chain and wait for it."""
        for vault in self.vaults.values():
            vault.sender.flush()

    def sync(self) -> None:
        for vault in self.vaults.values():
            vault.sync_erasures()

    def query(self, path: str, **data: Any) -> Any:
        if self.node is None:
            with NodeClient(self.api_url, timeout=30) as node:
                return node.query(path, {k: str(v) for k, v in data.items()})["value"]
        return self.node.query(path, data)["value"]

    def held(self, org: Wallet, record: str) -> tuple[Any, list[bytes], bytes,
                                                      dict[str, Any]]:
        """What ``org``'s vault holds of a registered record, as a custody upload of it
        again would carry it: ``(meta, chunks, sealed descriptor, register message)``."""
        from phrchain.modules.records.messages import Register

        store, rid = self.vaults[org.did].store, bytes.fromhex(record)
        held = store.get_descriptor(rid)
        assert held is not None
        d = self.query("records/get", record=record)
        msg = Register(record, d["patient"], d["hash"], d["size"], d["commitment"],
                       d["descriptor"]).to_msg()
        return store.get_meta(rid), list(store.iter_chunks(rid)), held[0], msg


def genesis() -> dict[str, Any]:
    return {"chain_id": CHAIN, "genesis_time_ms": 0, "validator": VALIDATOR.did,
            "app_state": {"version": 2, "identity": {
                "authorities": [{"did": AUTHORITY.did, "enc_key": AUTHORITY.enc_key.hex(),
                                 "name": "Consortium"}],
                "organizations": [{"did": org.did, "org_type": kind, "name": org.label,
                                   "enc_key": org.enc_key.hex()}
                                  for org, kind in ORGS.items()]},
                          "trials": TRIALS_GENESIS,
                          "research": research_terms.genesis_section()}}


@contextlib.contextmanager
def running(tmp: Path, block_interval_ms: int = 20, node_process: bool = False
            ) -> Iterator[Consortium]:
    """The consortium; ``node_process``: the node runs as an institution deploys it,
    ``phrchain start`` in its own OS process, and the vaults reach it over loopback HTTP
    (:class:`~phrchain.gateway.chain.RemoteChain`, as ``phrchain vault serve`` does);
    else the node, its API and the vaults share this process."""
    home = tmp / "node"
    init_home(home, genesis(), VALIDATOR.seed, NodeConfig(block_interval_ms=block_interval_ms))
    stack = contextlib.ExitStack()
    node: SoloNode | None = None
    try:
        if node_process:
            api_url, pid = stack.enter_context(_node_process(home))
        else:
            node = SoloNode(home)
            node.start()
            stack.callback(node.close)
            api_url = stack.enter_context(BackgroundServer(create_app(node, commit_timeout=20)))
            pid = None
        vaults, directory = {}, {}
        for org in VAULT_ORGS:
            chain: ChainPort = LocalChain(node) if node is not None else \
                RemoteChain(stack.enter_context(NodeClient(api_url, timeout=30)))
            vault = Vault(VaultConfig(tmp / f"vault-{org.label}", flush_interval_s=0.05,
                                      sync_interval_s=3600),
                          chain, org.signing_key, org.encryption_key)
            vault.start()
            stack.callback(vault.close)
            vaults[org.did] = vault
            directory[org.did] = stack.enter_context(BackgroundServer(create_vault_app(vault)))
        c = Consortium(node, api_url, vaults, directory, home, node_pid=pid)
        with NodeClient(api_url, timeout=30) as admin:
            for org, who, roles in STAFF:
                req = builder.join_request(who, CHAIN, org.did)
                admin.send(org, [builder.admit_practitioner(req["did"], list(roles),
                                                            req["enc_key"], req["pop"])])
            for patient in (P, Q):
                admin.send(patient, [builder.register_patient(patient.enc_key)])
        yield c
        for client in c.clients:
            client.node.close()
            client.close()
    finally:
        stack.close()


@contextlib.contextmanager
def _node_process(home: Path, start_timeout_s: float = 60) -> Iterator[tuple[str, int]]:
    """``phrchain start --home`` on a free loopback port until the block ends (SIGTERM,
    a graceful close; killed if it does not stop within 30 s): ``(api url, pid)``."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = subprocess.Popen([sys.executable, "-m", "phrchain", "start", "--home", str(home),
                             "--port", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + start_timeout_s
        with NodeClient(url, timeout=2) as probe:
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"the node process exited ({proc.returncode})")
                try:
                    probe.status()
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        raise RuntimeError("the node process did not answer in time") from None
                    time.sleep(0.1)
        yield url, proc.pid
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
