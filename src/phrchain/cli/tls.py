"""``phrchain tls …``: a small certificate authority for a consortium's HTTPS and mutual
TLS (docs/tls.md). One CA; one certificate per institution, usable by its servers (node
API, vault) and as its client certificate toward other institutions' vaults."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from phrchain.cli.common import add_command

DEFAULT_HOSTS = ("localhost", "127.0.0.1")


def cmd_init(args: argparse.Namespace) -> int:
    from phrchain.tls import issue_network

    out = Path(args.out)
    hosts = args.host or list(DEFAULT_HOSTS)
    written = issue_network(out, args.name, hosts)
    if "ca" in written:
        print(f"CA:  {written.pop('ca')} (its key {out / 'ca-key.pem'}, mode 0600: keep it "
              "offline)")
    for name, path in written.items():
        print(f"{name}: {path} and {out / (name + '-key.pem')} (mode 0600), valid for "
              f"{', '.join(hosts)}")
    return 0


def tls_parser(sub: Any) -> None:
    p = add_command(sub, "init", cmd_init, "make a CA in --out (if absent) and a certificate "
                    "and key for each --name, valid for each --host")
    p.add_argument("--out", required=True, help="directory of the CA and certificates")
    p.add_argument("--name", action="append", default=[], metavar="NAME",
                   help="an institution (repeat); files NAME.pem and NAME-key.pem")
    p.add_argument("--host", action="append", metavar="HOST",
                   help="a DNS name or IP address the certificates are valid for (repeat; "
                        f"default {' and '.join(DEFAULT_HOSTS)})")
