"""``phrchain net``: a local multi-institution network on CometBFT v0.38.

::

    phrchain net init --validators N --home DIR [--chain-id phr-net] [--passphrase-file F]
                      [--timeout-commit 500ms] [--snapshot-interval N] [--keep-versions K]
    phrchain net up --home DIR [--timeout 60]
    phrchain net status --home DIR [--json]
    phrchain net down --home DIR
    phrchain net api --home DIR [--node 0] [--port 8645]   # the REST API over a validator
    phrchain net bundle --home DIR [--address node0=HOST ...] [--out DIR/bundles]

Needs the CometBFT binary: ``scripts/cometbft.sh`` builds it (Go >= 1.22), or point
``$PHRCHAIN_COMETBFT`` at one. Every listener is on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from phrchain.cli.common import add_command, count, print_json, read_passphrase


def cmd_net_init(args: argparse.Namespace) -> int:
    from phrchain.core.tx import CHAIN_ID_RE
    from phrchain.engine.abci.errors import NetError
    from phrchain.engine.abci.net import ConsensusTuning, init_network

    if CHAIN_ID_RE.fullmatch(args.chain_id) is None:
        raise NetError(f"chain id {args.chain_id!r}: lowercase letters, digits and '-' only")
    home = Path(args.home)
    passphrase = read_passphrase(args, f"the wallets in {home / 'wallets'}", confirm=True)
    tuning = ConsensusTuning(timeout_commit=args.timeout_commit)
    net = init_network(home, args.validators, passphrase, args.chain_id,
                       binary=Path(args.binary) if args.binary else None, tuning=tuning,
                       snapshot_interval=args.snapshot_interval,
                       keep_versions=args.keep_versions)
    print(f"initialised {len(net.nodes)}-validator network {args.chain_id!r} in {home}")
    for node in net.nodes:
        print(f"  {node.name}: {node.institution:<20} rpc {node.rpc_url}  p2p "
              f"{node.p2p_port}  abci {node.abci_port}")
    print(f"  wallets (encrypted): {home / 'wallets'}")
    print(f"start it with: phrchain net up --home {home}")
    return 0


def cmd_net_up(args: argparse.Namespace) -> int:
    from phrchain.engine.abci.net import Network

    net = Network(Path(args.home))
    net.up(timeout=args.timeout)
    print(f"{len(net.nodes)} validators committing; logs under {args.home}/node*/logs")
    return 0


def cmd_net_status(args: argparse.Namespace) -> int:
    from phrchain.engine.abci.net import Network

    rows = Network(Path(args.home)).status()
    if args.json:
        print_json(rows)
        return 0
    for row in rows:
        if "error" in row:
            state = "running, RPC not answering" if row["running"] else "stopped"
            print(f"{row['node']:<6} {row['institution']:<20} {state}")
        else:
            print(f"{row['node']:<6} {row['institution']:<20} height {row['height']:<7} "
                  f"app hash {row['app_hash'][:16]}…  peers {row['peers']} "
                  f"({', '.join(row['peer_names'])})"
                  + ("  catching up" if row["catching_up"] else ""))
    return 0 if all("error" not in r for r in rows) else 1


def cmd_net_down(args: argparse.Namespace) -> int:
    from phrchain.engine.abci.net import Network

    Network(Path(args.home)).down()
    print("stopped")
    return 0


def cmd_net_api(args: argparse.Namespace) -> int:
    import logging

    from phrchain.api.server import serve
    from phrchain.engine.abci.net import Network
    from phrchain.engine.abci.remote import CometNode

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    net = Network(Path(args.home))
    node = CometNode(net.nodes[args.node].rpc_url)
    print(f"API for {net.nodes[args.node].name} ({net.nodes[args.node].rpc_url}) on "
          f"http://127.0.0.1:{args.port}", file=sys.stderr)
    serve(node, "127.0.0.1", args.port)
    return 0


def cmd_net_bundle(args: argparse.Namespace) -> int:
    from phrchain.engine.abci.bundles import write_bundles
    from phrchain.engine.abci.errors import NetError
    from phrchain.engine.abci.net import Network

    hosts = {}
    for item in args.address:
        name, sep, host = item.partition("=")
        if not sep or not name or not host:
            raise NetError(f"--address {item!r}: NODE=HOST, e.g. node0=10.0.0.5")
        hosts[name] = host
    net = Network(Path(args.home))
    out = Path(args.out) if args.out else net.home / "bundles"
    for bundle in write_bundles(net, out, hosts):
        print(f"  {bundle}")
    print("copy each directory to its institution's machine (it holds that node's keys)")
    return 0


def net_parser(sub: Any) -> None:
    p = add_command(sub, "init", cmd_net_init, "create an N-validator network's homes")
    p.add_argument("--validators", type=count, required=True)
    p.add_argument("--home", required=True)
    p.add_argument("--chain-id", default="phr-net")
    p.add_argument("--timeout-commit", default="500ms",
                   help="CometBFT consensus.timeout_commit (default 500ms)")
    p.add_argument("--binary", help="the cometbft binary (default: scripts/cometbft.sh's)")
    p.add_argument("--passphrase-file", help="passphrase for the generated wallets")
    p.add_argument("--snapshot-interval", type=int, default=0, metavar="N",
                   help="every app offers a state-sync snapshot every N blocks (0: none)")
    p.add_argument("--keep-versions", type=int, default=0, metavar="K",
                   help="every app keeps its last K state versions (0: all, archive)")
    p = add_command(sub, "up", cmd_net_up, "start every validator (detached)")
    p.add_argument("--home", required=True)
    p.add_argument("--timeout", type=float, default=60.0)
    p = add_command(sub, "status", cmd_net_status, "height, app hash and peers per node")
    p.add_argument("--home", required=True)
    p.add_argument("--json", action="store_true")
    p = add_command(sub, "down", cmd_net_down, "stop every validator")
    p.add_argument("--home", required=True)
    p = add_command(sub, "bundle", cmd_net_bundle, "one directory per institution to run its "
                    "node on its own machine, peers by address")
    p.add_argument("--home", required=True)
    p.add_argument("--address", action="append", default=[], metavar="NODE=HOST",
                   help="where the others reach a node (default 127.0.0.1); repeatable")
    p.add_argument("--out", help="where to write them (default HOME/bundles)")
    p = add_command(sub, "api", cmd_net_api, "serve the REST API over one validator's RPC")
    p.add_argument("--home", required=True)
    p.add_argument("--node", type=count, default=0, help="validator index (default 0)")
    p.add_argument("--port", type=count, default=8645)
