"""Helpers shared by the ``phrchain`` commands: passphrases, wallets, the node client."""

from __future__ import annotations

import argparse
import getpass
import json
import math
import os
import re
import sys
from collections.abc import Callable, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, Final

from phrchain.cli.i18n import say
from phrchain.core.errors import PhrError

DEFAULT_NODE: Final = "http://127.0.0.1:8645"
PASSPHRASE_ENV: Final = "PHRCHAIN_PASSPHRASE"  # noqa: S105 - a variable name, not a secret
NODE_ENV: Final = "PHRCHAIN_NODE"
UNVERIFIED_EXIT: Final = 3
# JSON files given to commands (FHIR resources and Bundles, genesis, rules, maps): none
# nests anywhere near this deep or needs a longer integer (an amount has at most 16).
MAX_JSON_DEPTH: Final = 64
MAX_JSON_INT_DIGITS: Final = 64
MAX_NUMBER_CHARS: Final = 64  # a FHIR decimal needs far fewer; Decimal("9"*10**6) costs
_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_COUNT: Final = re.compile("[0-9]{1,19}")
MAX_COUNT: Final = (1 << 63) - 1


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
            raise CliError(say("passphrase_unreadable", path=path, why=exc.strerror)
                           ) from None
        if not lines or not lines[0]:
            raise CliError(say("passphrase_empty", path=path))
        return lines[0]
    env = os.environ.get(PASSPHRASE_ENV)
    if env:
        return env
    if not sys.stdin.isatty():
        raise CliError(say("no_passphrase", what=what, env=PASSPHRASE_ENV))
    value = getpass.getpass(f"Passphrase for {what}: ")
    if confirm and getpass.getpass("Repeat passphrase: ") != value:
        raise CliError(say("passphrases_differ"))
    return value


def count(text: str) -> int:
    """An argparse ``type`` for whole-number options (days, heights, sizes, ports): ASCII
    digits only, at most 2^63-1. ``int`` would also read other scripts' digits, ``_``,
    signs and spaces (issue 13), so ``--days '\u0663\u0660'`` would mean 30."""
    if not _COUNT.fullmatch(text) or int(text) > MAX_COUNT:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number written with "
                                         "the digits 0-9")
    return int(text)


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, sort_keys=True))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _bounded_int(text: str) -> int:
    # Before int(): past Python's 4300-digit limit int() raises a ValueError whose
    # message tells the reader to change an interpreter setting.
    if len(text.lstrip("-")) > MAX_JSON_INT_DIGITS:
        raise ValueError(f"an integer has more than {MAX_JSON_INT_DIGITS} digits")
    return int(text)


def _exact_decimal(text: str) -> Decimal:
    if len(text) > MAX_NUMBER_CHARS:
        raise ValueError(f"a number is longer than {MAX_NUMBER_CHARS} characters")
    value = Decimal(text)
    if math.isinf(float(value)):  # beyond any FHIR consumer's double
        raise ValueError("a number is too large")
    return value


def _finite_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):  # 1e999 would become Infinity, which no JSON reader takes back
        raise ValueError("a number is too large for a float")
    return value


def _check_shape(value: Any) -> None:
    """Depth and strings, without recursion: what the parser accepted may still be too
    deep for the recursive code after it, or hold a lone surrogate (``"\\ud800"``) that
    UTF-8 cannot encode when the value is written or hashed."""
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, str):
            if _SURROGATE.search(item):
                raise ValueError("a string holds a lone UTF-16 surrogate (not Unicode text)")
        elif isinstance(item, (dict, list)):
            if depth > MAX_JSON_DEPTH:
                raise ValueError(f"nested deeper than {MAX_JSON_DEPTH} levels")
            children = [*item.keys(), *item.values()] if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)


def parse_json_object(data: bytes, source: str, what: str,
                      exact_decimals: bool = False) -> dict[str, Any]:
    """``data`` as a JSON object, or a :class:`CliError` of one line naming ``source``:
    never a traceback, whatever the bytes (not UTF-8, nested 100,000 deep, a 5000-digit
    integer, ``NaN``, a list at the top). Health data never reaches the message. With
    ``exact_decimals`` (FHIR input) a number with a fraction or exponent is read as a
    ``Decimal`` that keeps its text (``1.50`` stays ``1.50``)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CliError(f"{source} is not a JSON {what}: not UTF-8 text (byte {exc.start})"
                       ) from None
    try:
        value = json.loads(text, parse_int=_bounded_int,
                           parse_float=_exact_decimal if exact_decimals else _finite_float,
                           parse_constant=_refuse_constant)
        _check_shape(value)
    except RecursionError:
        raise CliError(f"{source} is not a JSON {what}: nested deeper than "
                       f"{MAX_JSON_DEPTH} levels") from None
    except json.JSONDecodeError as exc:  # its message has a position, never the text
        raise CliError(f"{source} is not a JSON {what}: {exc.msg} at line {exc.lineno} "
                       f"column {exc.colno}") from None
    except ValueError as exc:
        raise CliError(f"{source} is not a JSON {what}: {exc}") from None
    if not isinstance(value, dict):
        raise CliError(f"{source} is not a JSON {what}: it holds a {_json_type(value)}, "
                       "not an object")
    return value


def _json_type(value: Any) -> str:
    return {list: "list", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), "value")


def read_json_file(path: str, what: str, exact_decimals: bool = False) -> dict[str, Any]:
    """The JSON object in the file at ``path`` (every command's JSON input goes
    through here, so every one refuses bad bytes with ``error: …`` and exit code 2)."""
    return parse_json_object(Path(path).read_bytes(), path, what, exact_decimals)


def wallet_from_args(args: argparse.Namespace) -> Any:
    from phrchain.client.wallet import Wallet

    if not args.wallet:
        raise CliError(say("need_wallet"))
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
        print(say("committed", height=answer["height"], hash=answer["hash"]))
    else:
        print(say("submitted", status=answer["status"], hash=answer["hash"]))
    return answer


# -- parser -----------------------------------------------------------------------------------
def add_command(sub: Any, name: str, func: Callable[[argparse.Namespace], int], help_: str,
         parents: Sequence[argparse.ArgumentParser] = ()) -> argparse.ArgumentParser:
    parser: argparse.ArgumentParser = sub.add_parser(name, help=help_, description=help_,
                                                     parents=list(parents))
    parser.set_defaults(func=func)
    return parser
