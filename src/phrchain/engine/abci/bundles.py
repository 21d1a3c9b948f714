"""One bundle per institution: what it copies to its own machine to run its node of a
network that ``phrchain net init`` created on one machine::

    BUNDLES/<node>/bundle.json          chain id, the institution, its ports, node id,
                                        address, and its peers by address
    BUNDLES/<node>/genesis.json         the network's genesis (the same for everyone)
    BUNDLES/<node>/cometbft/            its CometBFT home: config.toml (peers by address,
                                        P2P on every interface, RPC and ABCI on loopback),
                                        genesis, its node and validator keys (mode 0600)
    BUNDLES/<node>/app/                 its app home (empty: the node replays from genesis)
    BUNDLES/<node>/wallets/<type>.json  its organization's wallet (encrypted), nobody else's
                                        (none for a node added later: its own institution
                                        holds that wallet)
    BUNDLES/<node>/START.md             the two commands that start it

A bundle holds the node's validator key: exactly one copy may run. Make bundles before the
local network first starts, or stop the local node for good before its bundle runs
elsewhere (its ``priv_validator_state.json`` is copied as it is, so a moved validator
never signs a height twice).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Mapping
from pathlib import Path
from typing import Final

from phrchain.engine.abci.errors import NetError
from phrchain.engine.abci.net import COMETBFT_VERSION, INSTITUTIONS, Network, set_toml

LOOPBACK: Final = "127.0.0.1"
_PRIVATE: Final = ("node_key.json", "priv_validator_key.json")


def _wallet_name(institution: str) -> str | None:
    """The wallet file net init wrote for ``institution`` (None for a node added later,
    whose institution keeps its wallet itself)."""
    for org_type, label in INSTITUTIONS:
        if label == institution:
            return f"{org_type}.json"
    return None


def write_bundles(net: Network, out: Path, hosts: Mapping[str, str] | None = None
                  ) -> list[Path]:
    """Write one bundle per node under ``out`` (replacing older bundles there); ``hosts``
    maps a node name (``node0``) to the address other institutions reach it at
    (default 127.0.0.1). Returns the bundle directories."""
    hosts = dict(hosts or {})
    unknown = set(hosts) - {n.name for n in net.nodes}
    if unknown:
        raise NetError(f"no node named {', '.join(sorted(unknown))} in {net.home}")
    address = {n.name: hosts.get(n.name, LOOPBACK) for n in net.nodes}
    written = []
    for node in net.nodes:
        bundle = out / node.name
        if bundle.exists():
            shutil.rmtree(bundle)
        source = net.node_dir(net.nodes.index(node)) / "cometbft"
        chome = bundle / "cometbft"
        (chome / "config").mkdir(parents=True)
        (chome / "data").mkdir()
        (bundle / "app").mkdir()
        for name in ("genesis.json", *_PRIVATE):
            shutil.copy2(source / "config" / name, chome / "config" / name)
        for name in _PRIVATE:
            os.chmod(chome / "config" / name, 0o600)
        state = source / "data" / "priv_validator_state.json"
        if state.exists():
            shutil.copy2(state, chome / "data" / state.name)
            os.chmod(chome / "data" / state.name, 0o600)
        peers = [f"{p.node_id}@{address[p.name]}:{p.p2p_port}" for p in net.nodes
                 if p is not node]
        config = (source / "config" / "config.toml").read_text()
        remote = any(host != LOOPBACK for host in address.values())
        # On its own machine the node's P2P port must be reachable by the others.
        listen = "0.0.0.0" if remote else LOOPBACK  # noqa: S104
        config = set_toml(config, "p2p", {
            "laddr": f"tcp://{listen}:{node.p2p_port}",
            "external_address": f"{address[node.name]}:{node.p2p_port}",
            "persistent_peers": ",".join(peers),
            # Several local nodes share one address; distinct machines do not.
            "addr_book_strict": remote, "allow_duplicate_ip": not remote})
        (chome / "config" / "config.toml").write_text(config)
        shutil.copy2(net.home / "genesis.json", bundle / "genesis.json")
        wallets = bundle / "wallets"
        wallets.mkdir(mode=0o700)
        wallet = _wallet_name(node.institution)
        if wallet is not None and (net.home / "wallets" / wallet).exists():
            shutil.copy2(net.home / "wallets" / wallet, wallets / wallet)
        (bundle / "bundle.json").write_text(json.dumps({
            "chain_id": net.layout.chain_id, "node": node.name,
            "institution": node.institution, "node_id": node.node_id,
            "address": address[node.name], "p2p_port": node.p2p_port,
            "rpc_port": node.rpc_port, "abci_port": node.abci_port, "peers": peers,
            "cometbft_version": COMETBFT_VERSION}, indent=2))
        (bundle / "START.md").write_text(_START.format(
            institution=node.institution, abci=node.abci_port, version=COMETBFT_VERSION,
            p2p=node.p2p_port, wallet=wallet or "(kept by the institution itself)"))
        written.append(bundle)
    return written


_START: Final = """# {institution}: starting this node

Needs phrchain (this release) and CometBFT {version} (`scripts/cometbft.sh`).
Open TCP port {p2p} to the other institutions (P2P); RPC and ABCI stay on loopback.

    python -m phrchain.engine.abci --home app --port {abci} &
    cometbft start --home cometbft

The node replays the chain from genesis, then votes with its validator key
(cometbft/config/priv_validator_key.json: keep exactly one copy running).
Your organization's wallet: wallets/{wallet} (encrypted with the network's passphrase;
change it with `phrchain wallet` commands on your own machine).
"""
