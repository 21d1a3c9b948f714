"""A local N-validator CometBFT network: one CometBFT home and one app home per
validator, all on loopback, under one directory::

    DIR/net.json                     chain id, binary, per node: ports and node id
    DIR/genesis.json                 the shared genesis (validators + our app genesis)
    DIR/wallets/authority.json       the consortium's genesis authorities (encrypted): the
    DIR/wallets/authority-<n>.json   council, n = 2, 3 (governance needs two votes)
    DIR/wallets/<institution>.json   each institution's organization wallet (encrypted)
    DIR/node<i>/cometbft/            CometBFT home: config.toml, genesis, validator and
                                     node keys (CometBFT's own files, mode 0600)
    DIR/node<i>/app/                 the app's state.db
    DIR/node<i>/logs/                cometbft.log, app.log
    DIR/node<i>/pids.json            process ids while the node runs
    DIR/bundles/node<i>/             what institution i copies to its own machine
                                     (``bundles.py``; ``phrchain net bundle`` sets addresses)

Each institution runs one validator (voting power 10) and is a genesis organization of
the identity module, so it can admit its practitioners from block 1. The genesis binds
each validator key to its institution (``app_state.governance.validators``), so the
council can add, re-weight, rotate and remove validators by governance proposals.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

from phrchain.client.cometbft_rpc import CometRpc, RpcError
from phrchain.engine.abci.errors import NetError
from phrchain.engine.abci.processes import _alive, _cmdline, _signal, _spawn, _wait_port
from phrchain.modules.trials.genesis import RECOMMENDED as TRIALS_GENESIS
from phrchain.research import terms as research_terms

COMETBFT_VERSION: Final = "v0.38.25"
BINARY_ENV: Final = "PHRCHAIN_COMETBFT"
VOTING_POWER: Final = 10
COUNCIL_SIZE: Final = 3
# Blocks a governance vote stays open (a block every second or so on loopback).
VOTING_PERIOD: Final = 60
INSTITUTIONS: Final = (("hospital", "General Hospital"), ("insurer", "Mutual Insurance"),
                       ("regulator", "Health Regulator"), ("clinic", "City Clinic"),
                       ("pharmacy", "Central Pharmacy"), ("research_institute",
                                                          "Research Institute"))


@dataclass(frozen=True)
class ConsensusTuning:
    """The CometBFT settings phrchain changes from the defaults (docs/cometbft.md)."""

    timeout_propose: str = "2s"
    timeout_prevote: str = "500ms"
    timeout_precommit: str = "500ms"
    timeout_commit: str = "500ms"
    peer_gossip_sleep_duration: str = "20ms"
    flush_throttle_timeout: str = "10ms"
    mempool_size: int = 50_000
    mempool_cache_size: int = 100_000
    mempool_max_txs_bytes: int = 256 * 1024 * 1024
    send_rate: int = 52_428_800
    recv_rate: int = 52_428_800
    max_packet_msg_payload_size: int = 10_240
    block_max_bytes: int = 4 * 1024 * 1024
    log_level: str = "info"


@dataclass
class NodeInfo:
    name: str
    p2p_port: int
    rpc_port: int
    abci_port: int
    node_id: str
    institution: str

    @property
    def rpc_url(self) -> str:
        return f"http://127.0.0.1:{self.rpc_port}"


@dataclass
class NetLayout:
    chain_id: str
    binary: str
    nodes: list[NodeInfo] = field(default_factory=list)
    # Every app offers a state-sync snapshot every this many blocks (0: none), and keeps
    # its last keep_versions state versions (0: all, an archive node).
    snapshot_interval: int = 0
    keep_versions: int = 0


def default_binary() -> Path:
    """``$PHRCHAIN_COMETBFT``, else where ``scripts/cometbft.sh`` installs it."""
    env = os.environ.get(BINARY_ENV)
    if env:
        return Path(env)
    return Path.home() / ".cache" / "phrchain" / f"cometbft-{COMETBFT_VERSION}" / "cometbft"


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports that are free right now."""
    socks = []
    try:
        for _ in range(count):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def rfc3339(ms: int) -> str:
    t = dt.datetime.fromtimestamp(ms // 1000, dt.UTC)
    return t.strftime("%Y-%m-%dT%H:%M:%S") + f".{ms % 1000:03d}000000Z"


def set_toml(text: str, section: str, values: Mapping[str, Any]) -> str:
    """Set ``key = value`` lines of one ``[section]`` ("" = top level) of a TOML file
    that CometBFT wrote (every key is present, one per line)."""
    out, current, missing = [], "", dict(values)
    for line in text.splitlines():
        header = re.fullmatch(r"\[([\w.-]+)\]\s*", line)
        if header:
            current = header.group(1)
        key = re.match(r"([\w-]+)\s*=", line)
        if key and current == section and key.group(1) in missing:
            line = f"{key.group(1)} = {_toml_value(missing.pop(key.group(1)))}"
        out.append(line)
    if missing:
        raise NetError(f"config.toml has no {sorted(missing)} in [{section}]")
    return "\n".join(out) + "\n"


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    return json.dumps(str(value))


class Network:
    """Create, start, inspect and stop the network under ``home``."""

    def __init__(self, home: Path) -> None:
        self.home = Path(home)
        path = self.home / "net.json"
        if not path.exists():
            raise NetError(f"no network in {home}: run `phrchain net init --home {home}`")
        data = json.loads(path.read_text())
        self.layout = NetLayout(data["chain_id"], data["binary"],
                                [NodeInfo(**n) for n in data["nodes"]],
                                int(data.get("snapshot_interval", 0)),
                                int(data.get("keep_versions", 0)))

    # -- layout -----------------------------------------------------------------------------
    @property
    def nodes(self) -> list[NodeInfo]:
        return self.layout.nodes

    def node_dir(self, index: int) -> Path:
        return self.home / self.nodes[index].name

    def rpc(self, index: int, timeout: float = 10.0) -> CometRpc:
        return CometRpc(self.nodes[index].rpc_url, timeout)

    def genesis(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.home / "genesis.json").read_text())
        return data

    # -- processes --------------------------------------------------------------------------
    def _pids(self, index: int) -> dict[str, int]:
        path = self.node_dir(index) / "pids.json"
        if not path.exists():
            return {}
        pids: dict[str, int] = json.loads(path.read_text())
        # A pid file can outlive its processes (a reboot): only pids still running what we
        # started count, so a recycled pid is never signalled.
        marks = {"app": "phrchain.engine.abci", "cometbft": "cometbft"}
        return {name: pid for name, pid in pids.items()
                if _alive(pid) and marks.get(name, "\0") in _cmdline(pid)}

    def is_running(self, index: int) -> bool:
        return bool(self._pids(index))

    def start_node(self, index: int, with_app: bool = True,
                   builtin_app: str | None = None) -> None:
        """Start the node's app (ABCI server) and then its CometBFT, detached, with their
        output in ``logs/``. ``with_app=False`` starts CometBFT only, for an app served
        some other way on the node's ABCI port (tests); ``builtin_app="kvstore"`` runs
        CometBFT's own example app instead of ours (the benchmark's baseline)."""
        running = self._pids(index)
        if running and (builtin_app is not None or not with_app or len(running) == 2):
            return
        if running:  # half a validator (its app or its CometBFT died): restart both
            self.stop_node(index)
        node, ndir = self.nodes[index], self.node_dir(index)
        logs = ndir / "logs"
        logs.mkdir(exist_ok=True)
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in [str(Path(__file__).parents[3]),
                                                       env.get("PYTHONPATH", "")] if p)
        pids = {}
        if builtin_app is not None:
            pids["cometbft"] = _spawn([self.layout.binary, "start", "--home",
                                       str(ndir / "cometbft"), f"--proxy_app={builtin_app}"],
                                      logs / "cometbft.log", env)
            (ndir / "pids.json").write_text(json.dumps(pids))
            return
        if with_app:
            pids["app"] = _spawn([sys.executable, "-m", "phrchain.engine.abci", "--home",
                                  str(ndir / "app"), "--port", str(node.abci_port),
                                  "--snapshot-interval", str(self.layout.snapshot_interval),
                                  "--keep-versions", str(self.layout.keep_versions)],
                                 logs / "app.log", env)
            (ndir / "pids.json").write_text(json.dumps(pids))
        _wait_port(node.abci_port, 30.0, ndir / "logs" / "app.log")
        pids["cometbft"] = _spawn([self.layout.binary, "start", "--home",
                                   str(ndir / "cometbft")], logs / "cometbft.log", env)
        (ndir / "pids.json").write_text(json.dumps(pids))

    def stop_node(self, index: int, sig: int = signal.SIGTERM, timeout: float = 15.0) -> None:
        """Stop CometBFT first (it stops calling the app), then the app."""
        pids = self._pids(index)
        for name in ("cometbft", "app"):
            pid = pids.get(name)
            if pid is None:
                continue
            _signal(pid, sig)
            deadline = time.monotonic() + timeout
            while _alive(pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if _alive(pid):
                _signal(pid, signal.SIGKILL)
                while _alive(pid):
                    time.sleep(0.05)
        (self.node_dir(index) / "pids.json").unlink(missing_ok=True)

    def kill_node(self, index: int) -> None:
        """SIGKILL both processes of a validator at once (a crash)."""
        pids = self._pids(index)
        for pid in pids.values():
            _signal(pid, signal.SIGKILL)
        for pid in pids.values():
            while _alive(pid):
                time.sleep(0.02)
        (self.node_dir(index) / "pids.json").unlink(missing_ok=True)

    def add_node(self, institution: str, tuning: ConsensusTuning | None = None,
                 state_sync: bool = False) -> int:
        """A new full node (a new institution's): its own CometBFT home and keys, the
        network's genesis, every existing node as a persistent peer. Once started it
        replays the chain from genesis, or with ``state_sync`` restores the newest
        snapshot the others offer (trusting a header of node 0's, verified by CometBFT's
        light client against two nodes' RPC) and replays only the blocks after it. It
        votes only after the council adds its consensus key (``validator_key``) by a
        governance proposal. Returns its index."""
        index = len(self.nodes)
        name = f"node{index}"
        chome = self.home / name / "cometbft"
        if chome.exists():
            raise NetError(f"{chome} exists already")
        (self.home / name / "app").mkdir(parents=True)
        subprocess.run([self.layout.binary, "init", "--home", str(chome)], check=True,
                       capture_output=True, timeout=60)
        node_key = base64.b64decode(json.loads(
            (chome / "config" / "node_key.json").read_text())["priv_key"]["value"])
        p2p, rpc_port, abci = free_ports(3)
        node = NodeInfo(name, p2p, rpc_port, abci, hashlib.sha256(node_key[32:]).digest()[:20]
                        .hex(), institution)
        (chome / "config" / "genesis.json").write_text(
            (self.home / "genesis.json").read_text())
        peers = ",".join(f"{p.node_id}@127.0.0.1:{p.p2p_port}" for p in self.nodes)
        _configure(chome / "config" / "config.toml", node, peers, tuning or ConsensusTuning())
        if state_sync:
            self._configure_state_sync(chome / "config" / "config.toml")
        self.layout.nodes.append(node)
        self._save_layout()
        return index

    def _configure_state_sync(self, path: Path) -> None:
        with self.rpc(0) as rpc:
            height = max(1, rpc.height() - 2)
            trusted = rpc.block(height)["block_id"]["hash"]
        path.write_text(set_toml(path.read_text(), "statesync", {
            "enable": True, "trust_height": height, "trust_hash": trusted,
            "rpc_servers": ",".join(n.rpc_url for n in self.nodes[:2]),
            "trust_period": "168h0m0s", "discovery_time": "5s"}))

    def _save_layout(self) -> None:
        (self.home / "net.json").write_text(json.dumps(
            {"chain_id": self.layout.chain_id, "binary": self.layout.binary,
             "snapshot_interval": self.layout.snapshot_interval,
             "keep_versions": self.layout.keep_versions,
             "nodes": [asdict(n) for n in self.nodes]}, indent=2))

    def validator_key(self, index: int) -> bytes:
        """Node ``index``'s CometBFT consensus key (Ed25519 public key)."""
        pv = json.loads((self.node_dir(index) / "cometbft" / "config" /
                         "priv_validator_key.json").read_text())
        return base64.b64decode(pv["pub_key"]["value"])

    def up(self, timeout: float = 60.0, builtin_app: str | None = None) -> None:
        for index in range(len(self.nodes)):
            self.start_node(index, builtin_app=builtin_app)
        self.wait_height(1, timeout)

    def down(self) -> None:
        for index in range(len(self.nodes)):
            self.stop_node(index)

    # -- inspection -------------------------------------------------------------------------
    def node_status(self, index: int) -> dict[str, Any]:
        node = self.nodes[index]
        entry: dict[str, Any] = {"node": node.name, "institution": node.institution,
                                 "rpc": node.rpc_url, "running": self.is_running(index)}
        try:
            with self.rpc(index, timeout=2.0) as rpc:
                sync = rpc.status()["sync_info"]
                peers = rpc.net_info()
        except RpcError as exc:
            entry["error"] = str(exc)
            return entry
        entry.update(height=int(sync["latest_block_height"]),
                     app_hash=sync["latest_app_hash"].lower(),
                     catching_up=sync["catching_up"], peers=int(peers["n_peers"]),
                     peer_names=sorted(p["node_info"]["moniker"] for p in peers["peers"]))
        return entry

    def status(self) -> list[dict[str, Any]]:
        return [self.node_status(i) for i in range(len(self.nodes))]

    def wait_height(self, height: int, timeout: float, nodes: list[int] | None = None) -> None:
        """Until every node in ``nodes`` (default: all) has committed ``height``."""
        deadline = time.monotonic() + timeout
        pending = list(range(len(self.nodes)) if nodes is None else nodes)
        while pending:
            index = pending[0]
            try:
                with self.rpc(index, timeout=2.0) as rpc:
                    if rpc.height() >= height:
                        pending.pop(0)
                        continue
            except RpcError:
                pass
            if time.monotonic() > deadline:
                raise NetError(f"{self.nodes[index].name} did not reach height {height} in "
                               f"{timeout:.0f} s (see {self.node_dir(index) / 'logs'})")
            time.sleep(0.1)


# -- creating a network -------------------------------------------------------------------------
def init_network(home: Path, validators: int, passphrase: str, chain_id: str = "phr-net",
                 binary: Path | None = None, tuning: ConsensusTuning | None = None,
                 genesis_time_ms: int | None = None, kdf: Any = None,
                 snapshot_interval: int = 0, keep_versions: int = 0) -> Network:
    """Create the homes, keys and shared genesis of a ``validators``-node network."""
    from phrchain.client.wallet import DEFAULT_KDF, Wallet

    home = Path(home)
    binary = Path(binary or default_binary())
    tuning = tuning or ConsensusTuning()
    if not 1 <= validators <= len(INSTITUTIONS):
        raise NetError(f"--validators must be 1..{len(INSTITUTIONS)}")
    if (home / "net.json").exists():
        raise NetError(f"{home} already holds a network; pick another --home")
    if not binary.exists():
        raise NetError(f"no CometBFT binary at {binary}: run scripts/cometbft.sh "
                       f"(needs Go >= 1.22) or set ${BINARY_ENV}")
    home.mkdir(parents=True, exist_ok=True)
    wallets = home / "wallets"
    wallets.mkdir(exist_ok=True, mode=0o700)
    kdf = kdf or DEFAULT_KDF
    council = [Wallet.create("Consortium authority" + ("" if n == 1 else f" {n}"))
               for n in range(1, COUNCIL_SIZE + 1)]
    for n, member in enumerate(council, start=1):
        member.save(wallets / ("authority.json" if n == 1 else f"authority-{n}.json"),
                    passphrase, kdf)
    ports = free_ports(3 * validators)
    nodes, genesis_validators, organizations, governed = [], [], [], []
    for index in range(validators):
        name = f"node{index}"
        org_type, label = INSTITUTIONS[index]
        org = Wallet.create(label)
        org.save(wallets / f"{org_type}.json", passphrase, kdf)
        organizations.append({"did": org.did, "org_type": org_type, "name": label,
                              "enc_key": org.enc_key.hex()})
        chome = home / name / "cometbft"
        (home / name / "app").mkdir(parents=True, exist_ok=True)
        subprocess.run([str(binary), "init", "--home", str(chome)], check=True,
                       capture_output=True, timeout=60)
        node_key = base64.b64decode(json.loads(
            (chome / "config" / "node_key.json").read_text())["priv_key"]["value"])
        node_id = hashlib.sha256(node_key[32:]).digest()[:20].hex()
        pv = json.loads((chome / "config" / "priv_validator_key.json").read_text())
        genesis_validators.append({"address": pv["address"], "pub_key": pv["pub_key"],
                                   "power": str(VOTING_POWER), "name": label})
        governed.append({"pub_key": base64.b64decode(pv["pub_key"]["value"]).hex(),
                         "power": VOTING_POWER, "organization": org.did})
        nodes.append(NodeInfo(name, ports[3 * index], ports[3 * index + 1],
                              ports[3 * index + 2], node_id, label))
    ms = genesis_time_ms if genesis_time_ms is not None else time.time_ns() // 1_000_000
    genesis: dict[str, Any] = {
        "genesis_time": rfc3339(ms), "chain_id": chain_id, "initial_height": "1",
        "consensus_params": {
            "block": {"max_bytes": str(tuning.block_max_bytes), "max_gas": "-1"},
            "evidence": {"max_age_num_blocks": "100000", "max_age_duration": "172800000000000",
                         "max_bytes": "1048576"},
            "validator": {"pub_key_types": ["ed25519"]}, "version": {"app": "1"},
            "abci": {"vote_extensions_enable_height": "0"}},
        "validators": genesis_validators, "app_hash": "",
        "app_state": {"version": 2, "identity": {
            "authorities": [{"did": member.did, "enc_key": member.enc_key.hex(),
                             "name": member.label} for member in council],
            "organizations": organizations}, "trials": TRIALS_GENESIS,
            "research": research_terms.genesis_section()},
    }
    genesis["app_state"]["governance"] = {
        "threshold": {"numerator": 2, "denominator": 3}, "voting_period": VOTING_PERIOD,
        "min_validators": min(validators, 4), "validators": governed}
    text = json.dumps(genesis, indent=2)
    (home / "genesis.json").write_text(text)
    for node in nodes:
        chome = home / node.name / "cometbft"
        (chome / "config" / "genesis.json").write_text(text)
        peers = ",".join(f"{p.node_id}@127.0.0.1:{p.p2p_port}" for p in nodes if p is not node)
        _configure(chome / "config" / "config.toml", node, peers, tuning)
    layout = NetLayout(chain_id, str(binary), nodes, snapshot_interval, keep_versions)
    (home / "net.json").write_text(json.dumps(
        {"chain_id": layout.chain_id, "binary": layout.binary,
         "snapshot_interval": snapshot_interval, "keep_versions": keep_versions,
         "nodes": [asdict(n) for n in nodes]}, indent=2))
    from phrchain.engine.abci.bundles import write_bundles

    network = Network(home)
    write_bundles(network, home / "bundles")  # loopback addresses: `net bundle` sets real ones
    return network


def _configure(path: Path, node: NodeInfo, peers: str, tuning: ConsensusTuning) -> None:
    text = path.read_text()
    text = set_toml(text, "", {"proxy_app": f"tcp://127.0.0.1:{node.abci_port}",
                               "moniker": node.name, "log_level": tuning.log_level})
    text = set_toml(text, "rpc", {"laddr": f"tcp://127.0.0.1:{node.rpc_port}",
                                  "max_open_connections": 900,
                                  "max_subscription_clients": 100,
                                  "timeout_broadcast_tx_commit": "30s",
                                  "max_request_batch_size": 500})
    text = set_toml(text, "p2p", {
        "laddr": f"tcp://127.0.0.1:{node.p2p_port}", "persistent_peers": peers,
        "addr_book_strict": False, "allow_duplicate_ip": True, "pex": False,
        "flush_throttle_timeout": tuning.flush_throttle_timeout,
        "max_packet_msg_payload_size": tuning.max_packet_msg_payload_size,
        "send_rate": tuning.send_rate, "recv_rate": tuning.recv_rate})
    text = set_toml(text, "mempool", {"size": tuning.mempool_size,
                                      "cache_size": tuning.mempool_cache_size,
                                      "max_txs_bytes": tuning.mempool_max_txs_bytes})
    text = set_toml(text, "consensus", {
        "timeout_propose": tuning.timeout_propose, "timeout_prevote": tuning.timeout_prevote,
        "timeout_precommit": tuning.timeout_precommit,
        "timeout_commit": tuning.timeout_commit,
        "peer_gossip_sleep_duration": tuning.peer_gossip_sleep_duration})
    text = set_toml(text, "tx_index", {"indexer": "kv"})
    path.write_text(text)
