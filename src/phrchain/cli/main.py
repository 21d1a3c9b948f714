"""``phrchain``: the command line for operators and for every role on the chain.

::

    phrchain init --home DIR [--chain-id phr-local] [--passphrase-file F] [--keep-versions K]
    phrchain start --home DIR [--host 127.0.0.1] [--port 8645] [--tls-cert F --tls-key F]
    phrchain tls init --out DIR --name NAME... [--host H...]   (a CA and certificates)
    phrchain verify --home DIR
    phrchain wallet new --out FILE [--label L] | wallet show FILE
    phrchain wallet join-request --wallet FILE --admitter DID [--chain-id ID | --node URL]
                                 --out REQ.json
    phrchain wallet export --wallet FILE --out FILE.phr   (the portable record, cli/portable.py)
    phrchain wallet verify FILE.phr --validator DID | import FILE.phr --vault-org DID ...
    phrchain identity admit-org | admit-practitioner | register-patient | set-roles |
                      rotate-key | revoke | show DID | list ...   (--node URL --wallet FILE)
    phrchain net init | up | status | down | api   (a CometBFT network, see cli/net.py)
    phrchain vault serve --home DIR --wallet ORG_WALLET [--node URL] [--host H] [--port P]
                   | verify --home DIR [--node URL]   (offline check of a vault's directory)
                   | smart-app --home DIR --client-id ID --name N --redirect-uri URI
                   | smart-consent-ui --home DIR --url WEB_UI   (SMART on FHIR, /fhir)
    phrchain records add | import | list | show | read [--view | --break-glass --reason T] |
                     range | erase | export ...          (--node URL --wallet FILE --vaults FILE)
    phrchain consent grant | share | revoke | list | show [--fhir] ...
    phrchain exchange request | inbox | show | approve | deny | pull | push ...
    phrchain audit log [--fhir] | verify   --patient DID [--validator DID | --genesis FILE]
    phrchain gov propose ACTION ... | vote ID yes|no | list | show ID | validators | rules
    phrchain genome encrypt IN OUT --recipient-pk F… | decrypt IN OUT --sk F | keygen |
                    seal | grant | revoke | get --region chr1:100-200 | reads | export
    phrchain node backup --home DIR --out B [--vault V] | restore --backup B --home NEW

The records commands find each institution's vault in a directory file, JSON
``{organization DID: vault URL}``, named by ``--vaults`` or ``PHRCHAIN_VAULTS``; every
command and option is described in docs/cli.md.

Admissions need the admitted party's consent: it runs ``wallet join-request`` with its
own wallet and hands the (public) request file to its admitter, who passes it to
``admit-org`` / ``admit-practitioner --request``. An operator who holds both wallets may
instead give ``--wallet-for WALLET`` (the request is then made on the spot; that
wallet's passphrase comes from ``--for-passphrase-file``, else from the same source as
the signer's).

Passphrases come from ``--passphrase-file`` (its first line), else the environment
variable ``PHRCHAIN_PASSPHRASE``, else an interactive prompt; never from an argument,
which other users could read in the process list.

Exit codes: 0 success, 1 ``verify`` found a bad block, 2 a user error, a refusal by a node
or vault, or a proof that does not verify (printed as one ``error: …`` line, never a
traceback), 3 ``identity show`` printed an answer it could NOT verify (height 0 without
``--genesis``), 130 interrupted. Heavy imports (the API server, the node, the vault and
records SDK) happen inside the commands that need them, so every command starts fast.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import secrets
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from phrchain import __version__
from phrchain.cli.audit import audit_parser
from phrchain.cli.claims import claims_parser, money_parser
from phrchain.cli.common import (
    DEFAULT_NODE,
    NODE_ENV,
    CliError,
    add_command,
    count,
    node_client,
    read_passphrase,
)
from phrchain.cli.consent import consent_parser
from phrchain.cli.demo import demo_command
from phrchain.cli.exchange import exchange_parser
from phrchain.cli.genome import genome_parser
from phrchain.cli.gov import gov_parser
from phrchain.cli.i18n import LANGS, set_lang
from phrchain.cli.identity import identity_parser
from phrchain.cli.net import net_parser
from phrchain.cli.node import node_parser
from phrchain.cli.portable import portable_parser
from phrchain.cli.records import records_parser
from phrchain.cli.research import research_parser
from phrchain.cli.session import tls_client_options
from phrchain.cli.supply import supply_parser
from phrchain.cli.tls import tls_parser
from phrchain.cli.trials import trials_parser
from phrchain.cli.vault import server_tls, tls_server_options, vault_parser
from phrchain.core.errors import PhrError
from phrchain.modules.trials.genesis import RECOMMENDED as TRIALS_GENESIS


# -- node commands ----------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from phrchain.client.wallet import Wallet
    from phrchain.core import keys
    from phrchain.core.tx import CHAIN_ID_RE
    from phrchain.engine.solo.home import HomeError, NodeConfig, config_dir, init_home

    home = Path(args.home)
    if CHAIN_ID_RE.fullmatch(args.chain_id) is None:
        raise CliError(f"chain id {args.chain_id!r}: lowercase letters, digits and '-' only")
    if args.keep_versions < 0:
        raise CliError("--keep-versions: 0 (archive) or the number of versions to keep")
    if (config_dir(home) / "genesis.json").exists():
        raise HomeError(f"{home} already holds a chain; pick another --home")
    wallet_path = home / "wallets" / "authority.json"
    if wallet_path.exists():
        raise CliError(f"{wallet_path} already exists")
    passphrase = read_passphrase(args, str(wallet_path), confirm=True)
    validator = keys.SigningKey(secrets.token_bytes(32))
    authority = Wallet.create("Genesis authority")
    genesis = {
        "chain_id": args.chain_id, "genesis_time_ms": time.time_ns() // 1_000_000,
        "validator": validator.did,
        "app_state": {"version": 2, "identity": {"authorities": [
            {"did": authority.did, "enc_key": authority.enc_key.hex(),
             "name": "Genesis authority"}]}, "trials": TRIALS_GENESIS},
    }
    wallet_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    authority.save(wallet_path, passphrase)  # first: a failure here leaves nothing behind
    try:
        init_home(home, genesis, validator.seed, NodeConfig(keep_versions=args.keep_versions))
    except BaseException:
        wallet_path.unlink(missing_ok=True)  # an authority of no chain would only confuse
        raise
    print(f"initialised chain {args.chain_id!r} in {home}")
    print(f"  validator:          {validator.did}")
    print(f"  validator key:      {config_dir(home) / 'validator_key.json'} (mode 0600)")
    print(f"  genesis authority:  {authority.did}")
    print(f"  authority wallet:   {wallet_path} (encrypted with your passphrase)")
    print(f"start it with: phrchain start --home {home}")
    return 0


def cmd_start(args: argparse.Namespace) -> int:
    import logging

    from phrchain.api.server import serve
    from phrchain.engine.solo.home import load_config
    from phrchain.engine.solo.node import SoloNode

    config = load_config(Path(args.home))
    args.host = args.host or config.api_host
    tls = server_tls(args)  # before the node opens its stores or anything binds
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    node = SoloNode(Path(args.home))
    host = args.host
    port = args.port or node.config.api_port
    status = node.status()
    print(f"chain {status['chain_id']!r} at height {status['height']}; API on "
          f"{'https' if tls else 'http'}://{host}:{port} (docs at /docs)", file=sys.stderr)
    serve(node, host, port, tls=tls)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from phrchain.engine.solo.verify import verify_chain

    def progress(done: int, total: int) -> None:
        print(f"\rverified {done}/{total} blocks", end="", file=sys.stderr, flush=True)

    report = verify_chain(Path(args.home), progress)
    if report.checked:
        print(file=sys.stderr)
    if not report.ok:
        print(f"chain is NOT valid: first bad block at height {report.first_bad_height}: "
              f"{report.reason}", file=sys.stderr)
        return 1
    print(f"chain ok: {report.checked} block(s) verified from genesis")
    return 0


# -- wallets --------------------------------------------------------------------------------
def cmd_wallet_new(args: argparse.Namespace) -> int:
    from phrchain.client.wallet import Wallet

    out = Path(args.out)
    if out.exists():
        raise CliError(f"{out} already exists; refusing to overwrite a wallet")
    wallet = Wallet.create(args.label)
    wallet.save(out, read_passphrase(args, str(out), confirm=True))
    print(f"wallet written to {out}")
    print(f"  did:     {wallet.did}")
    print(f"  enc key: {wallet.enc_key.hex()}")
    return 0


def cmd_wallet_join_request(args: argparse.Namespace) -> int:
    """The admitted party's side of an admission: sign consent to be admitted by
    ``--admitter`` on this chain, and write it where the admitter can read it."""
    from phrchain.client import builder
    from phrchain.client.wallet import Wallet
    from phrchain.core.tx import CHAIN_ID_RE
    from phrchain.modules.identity.messages import did_field

    out = Path(args.out)
    if out.exists():
        raise CliError(f"{out} already exists")
    did_field({"did": args.admitter})  # identity/4 for anything but a did:key
    if args.chain_id is not None and CHAIN_ID_RE.fullmatch(args.chain_id) is None:
        raise CliError(f"chain id {args.chain_id!r}: lowercase letters, digits and '-' only")
    if not args.wallet:
        raise CliError("join-request signs with your key: give --wallet FILE")
    wallet = Wallet.load(args.wallet, read_passphrase(args, args.wallet))
    if args.chain_id is None:
        with node_client(args) as client:
            chain_id = client.chain_id()
    else:
        chain_id = args.chain_id
    request = builder.join_request(wallet, chain_id, args.admitter)
    with out.open("x", encoding="utf-8") as fh:  # "x": never overwrite
        fh.write(json.dumps(request, indent=2, sort_keys=True) + "\n")
    print(f"join request written to {out} (public: no secret in it)")
    print(f"  did:         {request['did']}")
    print(f"  admitted by: {args.admitter} on chain {chain_id!r}")
    return 0


def cmd_wallet_show(args: argparse.Namespace) -> int:
    from phrchain.client.wallet import read_public

    info = read_public(args.file)
    print(f"did:         {info.did}")
    print(f"signing key: {info.signing_key.hex()}")
    print(f"enc key:     {info.enc_key.hex()}")
    print(f"label:       {info.label}")
    return 0


def cmd_wallet_card(args: argparse.Namespace) -> int:
    """The patient's emergency card (docs/privacy.md): for each institution that keeps
    records, the pseudonym they are kept under; ``--pseudonyms`` lists the whole map."""
    from phrchain.client.wallet import Wallet

    wallet = Wallet.load(args.wallet, read_passphrase(args, args.wallet))
    if args.pseudonyms:
        rows = [{"did": p.did, **p.to_json()} for p in wallet.pseudonyms()]
    else:
        rows = wallet.emergency_card()
    if args.json:
        print(json.dumps(rows, indent=2, sort_keys=True))
    else:
        for row in rows:
            print("  ".join(f"{k}={v}" for k, v in sorted(row.items())))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phrchain", description="patient-controlled "
                                     "health records on a permissioned blockchain")
    parser.add_argument("--version", action="version", version=f"phrchain {__version__}")
    parser.add_argument("--lang", choices=LANGS,
                        help="language of the human-readable lines (default: from "
                             "LC_ALL, LC_MESSAGES or LANG; ko* is Korean)")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = add_command(sub, "init", cmd_init, "create a new single-node chain")
    p.add_argument("--home", required=True)
    p.add_argument("--chain-id", default="phr-local")
    p.add_argument("--passphrase-file", help="passphrase for the authority wallet")
    p.add_argument("--keep-versions", type=int, default=0, metavar="K",
                   help="prune: keep the last K state versions (queries below them are "
                        "refused); 0, the default, is an archive node keeping every version")
    p = add_command(sub, "start", cmd_start, "run the node and its REST API")
    p.add_argument("--home", required=True)
    p.add_argument("--host", help="default: the node config's (127.0.0.1)")
    p.add_argument("--port", type=count, help="default: the node config's (8645)")
    tls_server_options(p)
    p = add_command(sub, "verify", cmd_verify, "re-check a chain from genesis")
    p.add_argument("--home", required=True)

    wallet = sub.add_parser("wallet", help="create or inspect wallet files")
    wsub = wallet.add_subparsers(dest="wallet_command", required=True, metavar="COMMAND")
    p = add_command(wsub, "new", cmd_wallet_new, "create a new identity's wallet")
    p.add_argument("--out", required=True)
    p.add_argument("--label", default="")
    p.add_argument("--passphrase-file")
    p = add_command(wsub, "show", cmd_wallet_show, "public part of a wallet (no passphrase)")
    p.add_argument("file")
    p = add_command(wsub, "card", cmd_wallet_card, "patient: your emergency card (the "
                    "pseudonym each institution keeps your records under)")
    p.add_argument("--wallet", required=True)
    p.add_argument("--passphrase-file")
    p.add_argument("--pseudonyms", action="store_true",
                   help="list every pseudonym of the wallet (insurers, studies too)")
    p.add_argument("--json", action="store_true")
    p = add_command(wsub, "join-request", cmd_wallet_join_request,
             "ask to be admitted: sign consent to an admission by --admitter")
    p.add_argument("--wallet", required=True, help="your wallet (the identity to admit)")
    p.add_argument("--admitter", required=True,
                   help="DID of the authority or organization that will admit you")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--chain-id", help="the chain's id (else asked of --node)")
    where.add_argument("--node", default=os.environ.get(NODE_ENV, DEFAULT_NODE),
                       help=f"node API URL to ask the chain id (default ${NODE_ENV} or "
                            f"{DEFAULT_NODE})")
    tls_client_options(p)
    p.add_argument("--out", required=True, help="where to write the request (JSON)")
    p.add_argument("--passphrase-file")
    portable_parser(wsub)

    demo_command(sub)

    net = sub.add_parser("net", help="a local multi-validator network on CometBFT")
    net_parser(net.add_subparsers(dest="net_command", required=True, metavar="COMMAND"))

    identity = sub.add_parser("identity", help="identity transactions and queries")
    identity_parser(identity.add_subparsers(dest="identity_command", required=True,
                                             metavar="COMMAND"))
    for name, help_, make in (
            ("records", "add, import, read, erase and export patient records", records_parser),
            ("consent", "patient consents: grant, revoke, list, show", consent_parser),
            ("exchange", "Pull and Push between providers", exchange_parser),
            ("audit", "a patient's access log and its proofs", audit_parser),
            ("claims", "insurance products, claims, review and appeal", claims_parser),
            ("money", "balances, bills and payments (settlement)", money_parser),
            ("supply", "serialized drug packs, dispensing and monitoring alerts",
             supply_parser),
            ("trials", "clinical trials: registration, consent, case-report data, results "
                       "and the outcome-switch classifier", trials_parser),
            ("research", "research data donation: de-identify, donate, studies, proofs",
             research_parser),
            ("gov", "the consortium council: proposals, votes, validators", gov_parser),
            ("node", "back up and restore a solo node (and its vault)", node_parser),
            ("vault", "run or inspect an institution's vault", vault_parser),
            ("tls", "certificates for HTTPS and mutual TLS (docs/tls.md)", tls_parser),
            ("genome", "genomic objects: crypt4gh, regions, DRS/htsget (docs/genomics.md)",
             genome_parser)):
        group = sub.add_parser(name, help=help_)
        make(group.add_subparsers(dest=f"{name}_command", required=True, metavar="COMMAND"))
    return parser


@contextlib.contextmanager
def client_tls(args: argparse.Namespace) -> Iterator[None]:
    """``--ca``/``--client-cert``/``--client-key`` as the environment's settings, which
    every node and vault client the command makes reads (phrchain.tls.ClientTLS), for the
    command's duration (``main`` also runs in-process, in tests and the demo)."""
    from phrchain.tls import CA_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV

    given = {variable: getattr(args, option) for option, variable in (
        ("ca", CA_ENV), ("client_cert", CLIENT_CERT_ENV), ("client_key", CLIENT_KEY_ENV))
        if getattr(args, option, None)}
    saved = {variable: os.environ.get(variable) for variable in given}
    os.environ.update(given)
    try:
        yield
    finally:
        for variable, value in saved.items():
            if value is None:
                os.environ.pop(variable, None)
            else:
                os.environ[variable] = value


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    set_lang(args.lang)
    try:
        with client_tls(args):
            return int(args.func(args))
    except PhrError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # unreadable or unwritable paths the user gave
        print(f"error: {exc.strerror or exc}"
              + (f": {exc.filename}" if exc.filename else ""), file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
