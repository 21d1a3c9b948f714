"""Helpers shared by the ``phrchain`` commands: passphrases, wallets, the node client."""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Final

from phrchain.core.errors import PhrError

DEFAULT_NODE: Final = "http://127.0.0.1:8645"
PASSPHRASE_ENV: Final = "PHRCHAIN_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
NODE_ENV: Final = "PHRCHAIN_NODE"
UNVERIFIED_EXIT: Final = 3


class CliError(PhrError):
    """A command was used wrongly (missing option, unreadable file, …)."""


# -- small helpers --------------------------------------------------------------------------
def read_passphrase(args: argparse.Namespace, what: str, confirm: bool = False,
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


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def read_json_file(path: str, what: str) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise CliError(f"{path} is not a JSON {what}: {exc}") from None


def wallet_from_args(args: argparse.Namespace) -> Any:
    from phrchain.client.wallet import Wallet

    if not args.wallet:
        raise CliError("this command signs a transaction: give --wallet FILE")
    return Wallet.load(args.wallet, read_passphrase(args, args.wallet))


def node_client(args: argparse.Namespace) -> Any:
    from phrchain.client.http import NodeClient

    return NodeClient(args.node)


def target_did(args: argparse.Namespace) -> str:
    """The DID an action is about: from --did or --wallet-for (public part only)."""
    if args.wallet_for:
        from phrchain.client.wallet import read_public

        return read_public(args.wallet_for).did
    if not args.did:
        raise CliError("give --did, or --wallet-for WALLET_FILE")
    return str(args.did)


def make_join_request(args: argparse.Namespace, client: Any, admitter: str) -> dict[str, Any]:
    """The admitted party's signed consent: from --request, or made from --wallet-for."""
    from phrchain.client import builder

    if args.request and args.wallet_for:
        raise CliError("give either --request or --wallet-for, not both")
    if args.request:
        return builder.check_join_request(read_json_file(args.request, "join request"),
                                          admitter, client.chain_id())
    if args.wallet_for:
        from phrchain.client.wallet import Wallet

        joining = Wallet.load(args.wallet_for, read_passphrase(
            args, args.wallet_for, file_option="for_passphrase_file"))
        return builder.join_request(joining, client.chain_id(), admitter)
    raise CliError("give --request REQ.json (made by the admitted party with `phrchain "
                   "wallet join-request`), or --wallet-for WALLET_FILE")


def parse_roles(text: str) -> list[str]:
    return [r for r in (part.strip() for part in text.split(",")) if r]


def send_msgs(args: argparse.Namespace, msgs: list[dict[str, Any]], wallet: Any = None,
          client: Any = None) -> dict[str, Any]:
    wallet = wallet_from_args(args) if wallet is None else wallet
    client = node_client(args) if client is None else client
    with client:
        answer: dict[str, Any] = client.send(wallet, msgs, wait=args.wait)
    if answer["status"] == "committed":
        print(f"committed in block {answer['height']}: tx {answer['hash']}")
    else:
        print(f"submitted, {answer['status']}: tx {answer['hash']} "
              f"(follow it with GET /v1/txs/{answer['hash']})")
    return answer


# -- parser -----------------------------------------------------------------------------------
def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str,
         parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_,
                                                     parents=list(parents))
    parser.set_defaults(func=func)
    return parser
