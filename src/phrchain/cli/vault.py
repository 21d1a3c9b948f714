"""``phrchain vault …``: run one institution's vault, ask a vault who it is, or check a
vault's directory offline (``verify``)."""

from __future__ import annotations

import argparse
import logging
import signal
import socket
import sys
import threading
from pathlib import Path
from typing import Any

from phrchain.cli.common import CliError, add_command, print_json, wallet_from_args
from phrchain.cli.session import node_options, tls_client_options

log = logging.getLogger("phrchain.cli.vault")
DEFAULT_VAULT_PORT = 8646


class _Stopped(Exception):
    """Raised by the SIGTERM handler when uvicorn re-delivers the signal it handled."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stopped


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named explicitly: asyncio sets TCP_NODELAY only on sockets whose proto
    # says TCP; with proto 0, Nagle plus delayed ACKs cost ~40 ms per keep-alive request.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(2048)  # connections queue from the moment the URL is printed
    except OSError as exc:
        sock.close()
        raise CliError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    return sock


def cmd_serve(args: argparse.Namespace) -> int:
    from phrchain.client.http import NodeClient
    from phrchain.gateway.chain import RemoteChain
    from phrchain.gateway.http import create_vault_app
    from phrchain.gateway.service import Vault, VaultConfig

    tls = server_tls(args)  # first: refused options never open a wallet or a socket
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per node query
    wallet = wallet_from_args(args)
    node = NodeClient(args.node)
    with node:
        identity = node.query("identity/did", {"did": wallet.did})["value"]
        if identity is None or identity.get("kind") != "organization":
            raise CliError(f"{wallet.did} is not an organization on the chain at {args.node}: "
                           "a vault serves one admitted institution")
        if identity.get("status") != "active":
            raise CliError(f"organization {wallet.did} is {identity.get('status')}")
        if identity.get("enc_key") != wallet.enc_key.hex():
            raise CliError("the wallet's encryption key is not the one registered on chain")
        home = Path(args.home)
        home.mkdir(parents=True, exist_ok=True, mode=0o700)
        sock = _bind(args.host, args.port)
        port = sock.getsockname()[1]
        vault = Vault(VaultConfig(home), RemoteChain(node), wallet.signing_key,
                      wallet.encryption_key, org_did=wallet.did)
        vault.start()
        host = f"[{args.host}]" if ":" in args.host else args.host
        scheme = "https" if tls else "http"
        print(f"vault of {identity.get('name', '')!r} on {scheme}://{host}:{port}"
              + (" (client certificates required)" if tls and tls.client_ca else ""),
              flush=True)
        print(f"  did:   {wallet.did}", flush=True)
        print(f"  store: {home}", flush=True)
        try:
            _run(create_vault_app(vault), sock, tls)
        finally:
            _shutdown(vault)
    return 0


def server_tls(args: argparse.Namespace) -> Any:
    """The ``--tls-*`` options as a :class:`~phrchain.tls.ServerTLS` (None: plain HTTP,
    which only loopback gets without ``--insecure-plain-http``)."""
    from phrchain.tls import ServerTLS, check_plain_http

    tls = ServerTLS.from_options(args.tls_cert, args.tls_key, args.tls_client_ca)
    check_plain_http(args.host, tls, args.insecure_plain_http)
    return tls


def tls_server_options(parser: argparse.ArgumentParser) -> None:
    """``--tls-cert``/``--tls-key`` (and ``--tls-client-ca``) and ``--insecure-plain-http``:
    shared by ``phrchain start`` and ``phrchain vault serve``."""
    parser.add_argument("--tls-cert", help="serve HTTPS with this certificate (PEM chain)")
    parser.add_argument("--tls-key", help="the certificate's private key (PEM)")
    parser.add_argument("--tls-client-ca", help="mutual TLS: require a client "
                        "certificate issued by this CA (PEM)")
    parser.add_argument("--insecure-plain-http", action="store_true",
                        help="allow plain HTTP on an address other than loopback")


def _run(app: Any, sock: socket.socket, tls: Any = None) -> None:
    """uvicorn until SIGINT/SIGTERM (as ``phrchain start``: both end as a normal return)."""
    import uvicorn

    from phrchain.api.server import uvicorn_config

    config = uvicorn_config(app, tls, timeout_graceful_shutdown=5, lifespan="off")
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if in_main else None
    try:
        uvicorn.Server(config).run(sockets=[sock])
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        sock.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


def _shutdown(vault: Any) -> None:
    """Send the audit outbox before closing; what cannot be sent stays in the durable
    outbox and goes out at the next start."""
    try:
        vault.sender.flush()
    except Exception as exc:  # the node may be gone: nothing is lost
        log.warning("could not flush the audit outbox: %s", type(exc).__name__)
    left = vault.journal.backlog()
    vault.close()
    print(f"vault stopped; {left} outbox message(s) left for the next start", file=sys.stderr)


def cmd_info(args: argparse.Namespace) -> int:
    import httpx

    from phrchain.client.http import client_verify

    try:
        answer = httpx.get(args.url.rstrip("/") + "/v1/vault/info", timeout=10,
                           verify=client_verify(None))
        answer.raise_for_status()
        print_json(answer.json())
    except (httpx.HTTPError, ValueError) as exc:
        raise CliError(f"no vault answers at {args.url}: {exc}") from None
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Offline check of a vault directory; exit 0 clean, 1 with every bad record listed."""
    from phrchain.client.http import NodeClient
    from phrchain.gateway.verify import NodeChainView, verify_vault
    from phrchain.vault.errors import VaultError

    home = Path(args.home)
    node = NodeClient(args.node) if args.node else None
    try:
        report = verify_vault(home, NodeChainView(node) if node is not None else None)
    except VaultError as exc:
        raise CliError(f"{home} is not a vault directory: {exc.detail}") from None
    finally:
        if node is not None:
            node.close()
    if args.json:
        print_json({"ok": report.ok, "records": report.records, "chunks": report.chunks,
                    "wrapped_keys": report.wrapped_keys, "notes": report.notes,
                    "findings": [{"subject": f.subject, "codespace": f.error.codespace,
                                  "code": f.error.code, "name": f.error.name,
                                  "detail": f.detail} for f in report.findings]})
        return 0 if report.ok else 1
    against = f" and against the chain at {args.node}" if args.node else ""
    print(f"checked {report.records} record(s), {report.chunks} chunk(s), "
          f"{report.wrapped_keys} wrapped key(s) in {home}{against}")
    for note in report.notes:
        print(f"note: {note}")
    for finding in report.findings:
        print(finding)
    print(f"{len(report.findings)} problem(s) found" if report.findings else "clean")
    return 0 if report.ok else 1


def vault_parser(sub: Any) -> None:
    p = add_command(sub, "serve", cmd_serve, "run your institution's vault (encrypted blobs, "
                    "access decisions, audit) against its node", [node_options()])
    p.add_argument("--home", required=True, help="the vault's directory (blobs, journal)")
    p.add_argument("--wallet", required=True, help="the organization's wallet")
    p.add_argument("--passphrase-file", help="file whose first line is the passphrase")
    p.add_argument("--host", default="127.0.0.1", help="default 127.0.0.1 (loopback)")
    p.add_argument("--port", type=int, default=DEFAULT_VAULT_PORT,
                   help=f"default {DEFAULT_VAULT_PORT}; 0 picks a free port")
    tls_server_options(p)
    p = add_command(sub, "verify", cmd_verify, "check a vault's directory offline: every "
                    "blob against its chunk root (and the chain's descriptor with --node), "
                    "every wrapped key, the journal; exit 1 naming each bad record")
    p.add_argument("--home", required=True, help="the vault's directory (as vault serve)")
    p.add_argument("--node", help="node API URL: also compare with the on-chain "
                   "descriptors and readers (default: offline checks only)")
    p.add_argument("--json", action="store_true", help="one JSON object instead of lines")
    p = add_command(sub, "info", cmd_info, "ask a vault its organization DID, chain and "
                    "outbox backlog (unsigned)")
    p.add_argument("url")
    tls_client_options(p)
    from phrchain.cli.smart import smart_parser  # SMART on FHIR settings (fhirapi)

    smart_parser(sub)
