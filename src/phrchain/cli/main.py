"""``phrchain``: the command line for operators and for every role on the chain.

::

    phrchain init --home DIR [--chain-id phr-local] [--passphrase-file F]
    phrchain start --home DIR [--host 127.0.0.1] [--port 8645]
    phrchain verify --home DIR
    phrchain wallet new --out FILE [--label L] | wallet show FILE
    phrchain wallet join-request --wallet FILE --admitter DID [--chain-id ID | --node URL]
                                 --out REQ.json
    phrchain identity admit-org | admit-practitioner | register-patient | set-roles |
                      rotate-key | revoke | show DID | list ...   (--node URL --wallet FILE)

Admissions need the admitted party's consent: it runs ``wallet join-request`` with its
own wallet and hands the (public) request file to its admitter, who passes it to
``admit-org`` / ``admit-practitioner --request``. An operator who holds both wallets may
instead give ``--wallet-for WALLET`` (the request is then made on the spot; that
wallet's passphrase comes from ``--for-passphrase-file``, else from the same source as
the signer's).

Passphrases come from ``--passphrase-file`` (its first line), else the environment
variable ``PHRCHAIN_PASSPHRASE``, else an interactive prompt; never from an argument,
which other users could read in the process list.

Exit codes: 0 success, 1 ``verify`` found a bad block, 2 a user error or a refused proof
(printed as one ``error: …`` line, never a traceback), 3 ``identity show`` printed an
answer it could NOT verify (height 0 without ``--genesis``), 130 interrupted. Heavy
imports (the API server, the node) happen inside the commands that need them, so wallet
and identity commands start fast.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import secrets
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from phrchain import __version__
from phrchain.core.errors import PhrError

DEFAULT_NODE: Final = "http://127.0.0.1:8645"
PASSPHRASE_ENV: Final = "PHRCHAIN_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
NODE_ENV: Final = "PHRCHAIN_NODE"
UNVERIFIED_EXIT: Final = 3


class CliError(PhrError):
    """A command was used wrongly (missing option, unreadable file, …)."""


# -- small helpers --------------------------------------------------------------------------
def _passphrase(args: argparse.Namespace, what: str, confirm: bool = False,
                file_option: str = "passphrase_file") -> str:
    path = getattr(args, file_option, None) or getattr(args, "passphrase_file", None)
    if path:
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise CliError(f"cannot read passphrase file {path}: {exc.strerror}") from None
        if not lines or not lines[0]:
            raise CliError(f"passphrase file {path} is empty")
        return lines[0]
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        raise CliError(f"no passphrase for {what}: use --passphrase-file, "
                       f"{PASSPHRASE_ENV} or run in a terminal")
    value = getpass.getpass(f"Passphrase for {what}: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != value:
        raise CliError("the passphrases differ")
    return value


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _read_json(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not a JSON {what}: {exc}") from None


def _load_wallet(args: argparse.Namespace) -> Any:
    from phrchain.client.wallet import Wallet

    if not args.wallet:
        raise CliError("this command signs a transaction: give --wallet FILE")
    return Wallet.load(args.wallet, _passphrase(args, args.wallet))


def _client(args: argparse.Namespace) -> Any:
    from phrchain.client.http import NodeClient

    return NodeClient(args.node)


def _target(args: argparse.Namespace) -> str:
    """The DID an action is about: from --did or --wallet-for (public part only)."""
    if args.wallet_for:
        from phrchain.client.wallet import read_public

        return read_public(args.wallet_for).did
    if not args.did:
        raise CliError("give --did, or --wallet-for WALLET_FILE")
    return str(args.did)


def _join_request(args: argparse.Namespace, client: Any, admitter: str) -> dict[str, Any]:
    """The admitted party's signed consent: from --request, or made from --wallet-for."""
    from phrchain.client import builder

    if args.request and args.wallet_for:
        raise CliError("give either --request or --wallet-for, not both")
    if args.request:
        return builder.check_join_request(_read_json(args.request, "join request"),
                                          admitter, client.chain_id())
    if args.wallet_for:
        from phrchain.client.wallet import Wallet

        joining = Wallet.load(args.wallet_for, _passphrase(
            args, args.wallet_for, file_option="for_passphrase_file"))
        return builder.join_request(joining, client.chain_id(), admitter)
    raise CliError("give --request REQ.json (made by the admitted party with `phrchain "
                   "wallet join-request`), or --wallet-for WALLET_FILE")


def _roles(text: str) -> list[str]:
    return [r for r in (part.strip() for part in text.split(",")) if r]


def _send(args: argparse.Namespace, msgs: list[dict[str, Any]], wallet: Any = None,
          client: Any = None) -> dict[str, Any]:
    wallet = _load_wallet(args) if wallet is None else wallet
    client = _client(args) if client is None else client
    with client:
        answer: dict[str, Any] = client.send(wallet, msgs, wait=args.wait)
    if answer["status"] == "committed":
        print(f"committed in block {answer['height']}: tx {answer['hash']}")
    else:
        print(f"submitted, {answer['status']}: tx {answer['hash']} "
              f"(follow it with GET /v1/txs/{answer['hash']})")
    return answer


# -- node commands ----------------------------------------------------------------------------
def cmd_init(args: argparse.Namespace) -> int:
    from phrchain.client.wallet import Wallet
    from phrchain.core import keys
    from phrchain.core.tx import CHAIN_ID_RE
    from phrchain.engine.solo.home import HomeError, config_dir, init_home

    home = Path(args.home)
    if CHAIN_ID_RE.fullmatch(args.chain_id) is None:
        raise CliError(f"chain id {args.chain_id!r}: lowercase letters, digits and '-' only")
    if (config_dir(home) / "genesis.json").exists():
        raise HomeError(f"{home} already holds a chain; pick another --home")
    wallet_path = home / "wallets" / "authority.json"
    if wallet_path.exists():
        raise CliError(f"{wallet_path} already exists")
    passphrase = _passphrase(args, str(wallet_path), confirm=True)
    validator = keys.SigningKey(secrets.token_bytes(32))
    authority = Wallet.create("Genesis authority")
    genesis = {
        "chain_id": args.chain_id, "genesis_time_ms": time.time_ns() // 1_000_000,
        "validator": validator.did,
        "app_state": {"identity": {"authorities": [
            {"did": authority.did, "enc_key": authority.enc_key.hex(),
             "name": "Genesis authority"}]}},
    }
    wallet_path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    authority.save(wallet_path, passphrase)  # first: a failure here leaves nothing behind
    try:
        init_home(home, genesis, validator.seed)
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
    from phrchain.engine.solo.node import SoloNode

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: "
                        "%(message)s")
    node = SoloNode(Path(args.home))
    host = args.host or node.config.api_host
    port = args.port or node.config.api_port
    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"warning: serving on {host}, not loopback: put TLS and access control in "
              "front of it", file=sys.stderr)
    status = node.status()
    print(f"chain {status['chain_id']!r} at height {status['height']}; API on "
          f"http://{host}:{port} (docs at /docs)", file=sys.stderr)
    serve(node, host, port)
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
    wallet.save(out, _passphrase(args, str(out), confirm=True))
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
    wallet = Wallet.load(args.wallet, _passphrase(args, args.wallet))
    if args.chain_id is None:
        with _client(args) as client:
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


# -- identity ---------------------------------------------------------------------------------
def cmd_admit_org(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    wallet, client = _load_wallet(args), _client(args)
    with client:
        req = _join_request(args, client, wallet.did)
        msg = builder.admit_organization(req["did"], args.org_type, args.name,
                                         req["enc_key"], req["pop"])
        _send(args, [msg], wallet=wallet, client=client)
    return 0


def cmd_admit_practitioner(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    wallet, client = _load_wallet(args), _client(args)
    with client:
        req = _join_request(args, client, wallet.did)
        msg = builder.admit_practitioner(req["did"], _roles(args.roles), req["enc_key"],
                                         req["pop"])
        _send(args, [msg], wallet=wallet, client=client)
    return 0


def cmd_register_patient(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    wallet = _load_wallet(args)
    _send(args, [builder.register_patient(wallet.enc_key)], wallet=wallet)
    return 0


def cmd_set_roles(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    _send(args, [builder.set_roles(_target(args), _roles(args.roles))])
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    _send(args, [builder.revoke(_target(args), args.reason)])
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """The new wallet is written *before* the tx is sent, so a committed rotation can
    never leave the identity with a key nobody holds."""
    from phrchain.client.http import ApiError
    from phrchain.client.wallet import Wallet, wallet_for_rotation

    if not args.wallet:
        raise CliError("rotate-key needs --wallet FILE")
    passphrase = _passphrase(args, args.wallet)  # the new wallet keeps the old passphrase
    wallet = Wallet.load(args.wallet, passphrase)
    client = _client(args)
    msg, rotated = wallet.rotate(client.chain_id(), rotate_encryption=args.new_enc_key)
    new_path = wallet_for_rotation(args.wallet)
    rotated.save(new_path, passphrase)
    try:
        answer = _send(args, [msg], wallet=wallet, client=client)
    except ApiError as exc:
        if exc.status == 0:  # unknown outcome: the node may have taken it
            print(f"the outcome is unknown; if the rotation commits, use {new_path}",
                  file=sys.stderr)
        else:
            new_path.unlink(missing_ok=True)
        raise
    if answer["status"] == "committed":
        print(f"rotated: {wallet.did} now signs with the key in {new_path} "
              f"(same passphrase); {args.wallet} no longer works")
    else:
        print(f"once the rotation commits, use {new_path} (same passphrase)")
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    """Show an identity only as far as its proof goes. A height-0 answer has no signed
    header: without ``--genesis`` it can only be self-consistent, so it is printed marked
    UNVERIFIED with exit code 3."""
    from phrchain.client.verify import (
        IDENTITY_DID_PATH,
        genesis_app_hash,
        query_key,
        verify_query,
        verify_query_against_header,
    )
    from phrchain.core.errors import ProofError

    genesis = _read_json(args.genesis, "genesis file") if args.genesis else None
    if genesis is not None and not isinstance(genesis, dict):
        raise CliError(f"{args.genesis} is not a genesis file")
    validator = args.validator or (genesis or {}).get("validator")
    chain_id = args.chain_id or (genesis or {}).get("chain_id")
    key = query_key(IDENTITY_DID_PATH, {"did": args.did})
    with _client(args) as client:
        answer = client.identity(args.did)
        height = answer.get("height")
        if answer.get("path") != IDENTITY_DID_PATH:
            raise ProofError("the node answered another query than identity/did")
        if type(height) is int and height >= 1:
            trusted = validator or client.status()["validator"]
            value = verify_query_against_header(
                answer, client.header(height), trusted, expected_key=key, chain_id=chain_id,
                min_height=args.min_height)
            how = f"header {height} signed by {trusted}"
            if validator is None:
                how += " (validator DID as reported by the node; pin it with --validator " \
                       "or --genesis)"
        elif args.min_height:
            raise ProofError(f"the node answered at height {height!r}, older than "
                             f"--min-height {args.min_height}")
        elif genesis is None:
            value = verify_query(answer, expected_key=key)  # self-consistent, nothing more
            _print_json({"identity": value, "proof": {
                "height": height, "app_hash": answer["app_hash"], "verified": False,
                "verified_against": None}})
            print("warning: UNVERIFIED: at height 0 no signed header exists and the app "
                  "hash is the node's own word; pass --genesis FILE to check it",
                  file=sys.stderr)
            return UNVERIFIED_EXIT
        else:
            value = verify_query(answer, genesis_app_hash(genesis), key)
            how = f"genesis app hash recomputed from {args.genesis}"
    _print_json({"identity": value, "proof": {"height": answer["height"],
                                              "app_hash": answer["app_hash"],
                                              "verified": True, "verified_against": how}})
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    by = {k: v for k in ("organization", "role", "kind")
          if (v := getattr(args, k)) is not None}
    with _client(args) as client:
        _print_json(client.identities(limit=args.limit, after=args.after, **by)["value"])
    return 0


# -- parser -----------------------------------------------------------------------------------
def _add(sub: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str,
         parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_,
                                                     parents=list(parents))
    parser.set_defaults(func=func)
    return parser


def _identity_parser(sub: Any) -> None:
    from phrchain.modules.identity.messages import ORG_TYPES, REVOCATION_REASONS, ROLES

    node = argparse.ArgumentParser(add_help=False)
    node.add_argument("--node", default=os.environ.get(NODE_ENV, DEFAULT_NODE),
                      help=f"node API URL (default ${NODE_ENV} or {DEFAULT_NODE})")
    signer = argparse.ArgumentParser(add_help=False, parents=[node])
    signer.add_argument("--wallet", help="wallet file of the signer")
    signer.add_argument("--passphrase-file", help="file whose first line is the passphrase")
    signer.add_argument("--wait", choices=["commit", "check"], default="commit")
    target = argparse.ArgumentParser(add_help=False)
    target.add_argument("--did", help="the identity's did:key")
    target.add_argument("--wallet-for", metavar="WALLET_FILE",
                        help="read the DID from this wallet (no passphrase)")
    joining = argparse.ArgumentParser(add_help=False)
    joining.add_argument("--request", metavar="REQ_JSON",
                         help="join request of the admitted party (phrchain wallet "
                              "join-request)")
    joining.add_argument("--wallet-for", metavar="WALLET_FILE",
                         help="make the join request from this wallet (needs its passphrase)")
    joining.add_argument("--for-passphrase-file", metavar="FILE",
                         help="passphrase of the --wallet-for wallet (default: the signer's "
                              "passphrase source)")

    p = _add(sub, "admit-org", cmd_admit_org, "authority: admit an organization",
             [signer, joining])
    p.add_argument("--org-type", required=True, choices=sorted(ORG_TYPES))
    p.add_argument("--name", required=True)
    p = _add(sub, "admit-practitioner", cmd_admit_practitioner,
             "organization: admit a practitioner", [signer, joining])
    roles_help = f"comma-separated, from: {','.join(sorted(ROLES))}"
    p.add_argument("--roles", required=True, help=roles_help)
    _add(sub, "register-patient", cmd_register_patient,
         "patient: register the wallet's own identity", [signer])
    p = _add(sub, "set-roles", cmd_set_roles, "organization: replace a practitioner's roles",
             [signer, target])
    p.add_argument("--roles", required=True, help=roles_help)
    p = _add(sub, "rotate-key", cmd_rotate_key,
             "any identity: replace the wallet's signing key", [signer])
    p.add_argument("--new-enc-key", action="store_true",
                   help="also replace the encryption key (the old one is kept in the wallet)")
    p = _add(sub, "revoke", cmd_revoke, "revoke an identity", [signer, target])
    p.add_argument("--reason", required=True, choices=sorted(REVOCATION_REASONS))
    p = _add(sub, "show", cmd_show, "show one identity, verifying its state proof", [node])
    p.add_argument("did")
    p.add_argument("--validator", help="validator did:key to trust (default: --genesis's)")
    p.add_argument("--genesis", metavar="FILE",
                   help="genesis file to trust: pins the validator and chain id, and checks "
                        "height-0 answers against the genesis app hash recomputed from it")
    p.add_argument("--chain-id", help="chain id the signed header must carry "
                                      "(default: --genesis's)")
    p.add_argument("--min-height", type=int, metavar="H",
                   help="refuse an answer older than height H (a node hiding newer state)")
    p = _add(sub, "list", cmd_list, "list identities (one page; continue with --after)",
             [node])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--organization")
    which.add_argument("--role")
    which.add_argument("--kind")
    p.add_argument("--limit", type=int, help="page size (default 100, at most 1000)")
    p.add_argument("--after", metavar="DID",
                   help="start after this DID (the previous page's 'next')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="phrchain", description="patient-controlled "
                                     "health records on a permissioned blockchain")
    parser.add_argument("--version", action="version", version=f"phrchain {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    p = _add(sub, "init", cmd_init, "create a new single-node chain")
    p.add_argument("--home", required=True)
    p.add_argument("--chain-id", default="phr-local")
    p.add_argument("--passphrase-file", help="passphrase for the authority wallet")
    p = _add(sub, "start", cmd_start, "run the node and its REST API")
    p.add_argument("--home", required=True)
    p.add_argument("--host", help="default: the node config's (127.0.0.1)")
    p.add_argument("--port", type=int, help="default: the node config's (8645)")
    p = _add(sub, "verify", cmd_verify, "re-check a chain from genesis")
    p.add_argument("--home", required=True)

    wallet = sub.add_parser("wallet", help="create or inspect wallet files")
    wsub = wallet.add_subparsers(dest="wallet_command", required=True, metavar="COMMAND")
    p = _add(wsub, "new", cmd_wallet_new, "create a new identity's wallet")
    p.add_argument("--out", required=True)
    p.add_argument("--label", default="")
    p.add_argument("--passphrase-file")
    p = _add(wsub, "show", cmd_wallet_show, "public part of a wallet (no passphrase)")
    p.add_argument("file")
    p = _add(wsub, "join-request", cmd_wallet_join_request,
             "ask to be admitted: sign consent to an admission by --admitter")
    p.add_argument("--wallet", required=True, help="your wallet (the identity to admit)")
    p.add_argument("--admitter", required=True,
                   help="DID of the authority or organization that will admit you")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--chain-id", help="the chain's id (else asked of --node)")
    where.add_argument("--node", default=os.environ.get(NODE_ENV, DEFAULT_NODE),
                       help=f"node API URL to ask the chain id (default ${NODE_ENV} or "
                            f"{DEFAULT_NODE})")
    p.add_argument("--out", required=True, help="where to write the request (JSON)")
    p.add_argument("--passphrase-file")

    identity = sub.add_parser("identity", help="identity transactions and queries")
    _identity_parser(identity.add_subparsers(dest="identity_command", required=True,
                                             metavar="COMMAND"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
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
