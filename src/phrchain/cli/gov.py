"""``phrchain gov …``: the consortium council's proposals and votes (governance module).

::

    phrchain gov propose add-validator --pub-key KEY --power 10 --organization DID
    phrchain gov propose remove-validator | set-validator-power | replace-validator ...
    phrchain gov propose admit-authority --wallet-for NEW_MEMBER_WALLET --name NAME
    phrchain gov propose remove-authority --did DID --reason privilege_withdrawn
    phrchain gov propose set-parameter --module M --name N --value JSON
    phrchain gov propose schedule-upgrade --version 2 --height H --name NAME
    phrchain gov propose freeze | unfreeze --organization DID
    phrchain gov vote ID yes|no
    phrchain gov list [--status open]  |  show ID  |  validators  |  rules [--height H]

A consensus key (``--pub-key``) is the Ed25519 public key in hex, or in base64 as
CometBFT writes it (``cometbft show-validator``, ``priv_validator_key.json``).
"""

from __future__ import annotations

import argparse
import base64
import binascii
import json
from collections.abc import Callable
from typing import Any

from phrchain.cli.common import (
    CliError,
    add_command,
    node_client,
    print_json,
    read_passphrase,
    send_msgs,
)
from phrchain.cli.session import node_options


def consensus_key(text: str) -> bytes:
    """Hex (64 characters) or CometBFT's base64 of an Ed25519 public key."""
    try:
        raw = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        raise argparse.ArgumentTypeError("a consensus key: 64 hex or 44 base64 "
                                         "characters") from None
    if len(raw) != 32:
        raise argparse.ArgumentTypeError("a consensus key has 32 bytes")
    return raw


def _action(args: argparse.Namespace) -> Any:
    from phrchain.modules.governance import actions as a

    kind = args.kind
    if kind == "admit-authority":
        return _admission(args)
    if kind == "set-parameter":
        try:
            value = json.loads(args.value)
        except json.JSONDecodeError as exc:
            raise CliError(f"--value must be JSON: {exc}") from None
        return a.SetParameter(args.module, args.name, value)
    built: dict[str, Callable[[], Any]] = {
        "add-validator": lambda: a.AddValidator(args.pub_key, args.power, args.organization),
        "remove-validator": lambda: a.RemoveValidator(args.pub_key),
        "set-validator-power": lambda: a.SetValidatorPower(args.pub_key, args.power),
        "replace-validator": lambda: a.ReplaceValidator(args.pub_key, args.new_pub_key),
        "remove-authority": lambda: a.RemoveAuthority(args.did, args.reason),
        "schedule-upgrade": lambda: a.ScheduleUpgrade(args.version, args.height, args.name),
        "freeze": lambda: a.FreezeOrganization(args.organization),
        "unfreeze": lambda: a.UnfreezeOrganization(args.organization),
    }
    return built[kind]()


def _admission(args: argparse.Namespace) -> Any:
    from phrchain.client.governance import council_admission
    from phrchain.client.wallet import Wallet

    joining = Wallet.load(args.wallet_for, read_passphrase(
        args, args.wallet_for, file_option="for_passphrase_file"))
    with node_client(args) as client:
        chain_id = client.chain_id()
    return council_admission(joining, chain_id, args.name)


def cmd_propose(args: argparse.Namespace) -> int:
    from phrchain.modules.governance.actions import parse_action
    from phrchain.modules.governance.messages import GOVERNANCE_PROPOSED, Propose

    action = parse_action(_action(args).to_json())  # the chain's own checks, before sending
    answer = send_msgs(args, [Propose(action).to_msg()])
    for event in (answer.get("result") or {}).get("events", []):
        if event["type"] == GOVERNANCE_PROPOSED:
            print_json(dict(event["attributes"]))
    return 0


def cmd_vote(args: argparse.Namespace) -> int:
    from phrchain.modules.governance.messages import Vote

    send_msgs(args, [Vote(args.proposal, args.option).to_msg()])
    return 0


def _value(args: argparse.Namespace, path: str, **data: Any) -> Any:
    with node_client(args) as client:
        return client.query(path, {k: str(v) for k, v in data.items()})["value"]


def cmd_list(args: argparse.Namespace) -> int:
    data = {"status": args.status} if args.status else {}
    print_json(_value(args, "governance/proposals", limit=1000, **data))
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    found = _value(args, "governance/proposal", id=args.proposal)
    if found is None:
        raise CliError(f"no proposal {args.proposal}")
    print_json(found)
    return 0


def cmd_validators(args: argparse.Namespace) -> int:
    print_json(_value(args, "governance/validators"))
    return 0


def cmd_rules(args: argparse.Namespace) -> int:
    data = {} if args.height is None else {"height": args.height}
    print_json(_value(args, "governance/rules", **data))
    return 0


def _propose_parser(sub: Any, signer: argparse.ArgumentParser) -> None:
    from phrchain.modules.identity.messages import REVOCATION_REASONS

    propose = sub.add_parser("propose", help="an authority proposes an action (and votes "
                             "yes on it)")
    kinds = propose.add_subparsers(dest="kind", required=True, metavar="ACTION")

    def kind(name: str, help_: str) -> argparse.ArgumentParser:
        return add_command(kinds, name, cmd_propose, help_, [signer])

    p = kind("add-validator", "a new validator of an admitted organization")
    p.add_argument("--pub-key", type=consensus_key, required=True)
    p.add_argument("--power", type=int, required=True)
    p.add_argument("--organization", required=True, metavar="DID")
    p = kind("remove-validator", "take a validator out of the set")
    p.add_argument("--pub-key", type=consensus_key, required=True)
    p = kind("set-validator-power", "re-weight a validator")
    p.add_argument("--pub-key", type=consensus_key, required=True)
    p.add_argument("--power", type=int, required=True)
    p = kind("replace-validator", "rotate a validator's consensus key")
    p.add_argument("--pub-key", type=consensus_key, required=True)
    p.add_argument("--new-pub-key", type=consensus_key, required=True)
    p = kind("admit-authority", "a new council member (its wallet signs its admission)")
    p.add_argument("--wallet-for", required=True, metavar="WALLET_FILE",
                   help="the new member's wallet")
    p.add_argument("--for-passphrase-file", help="its passphrase (first line)")
    p.add_argument("--name", required=True)
    p = kind("remove-authority", "remove a council member (decided by the others)")
    p.add_argument("--did", required=True)
    p.add_argument("--reason", choices=sorted(REVOCATION_REASONS), default="unspecified")
    p = kind("set-parameter", "set a module parameter (JSON value; null deletes it)")
    p.add_argument("--module", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--value", required=True, help="JSON, e.g. 64 or '{\"max\": 3}'")
    p = kind("schedule-upgrade", "run rule version VERSION from block HEIGHT on")
    p.add_argument("--version", type=int, required=True)
    p.add_argument("--height", type=int, required=True)
    p.add_argument("--name", required=True)
    for name, help_ in (("freeze", "emergency freeze of an organization and its staff"),
                        ("unfreeze", "lift an organization's freeze")):
        p = kind(name, help_)
        p.add_argument("--organization", required=True, metavar="DID")


def gov_parser(sub: Any) -> None:
    signer = argparse.ArgumentParser(add_help=False, parents=[node_options()])
    signer.add_argument("--wallet", help="wallet file of an authority")
    signer.add_argument("--passphrase-file", help="file whose first line is the passphrase")
    signer.add_argument("--wait", choices=["commit", "check"], default="commit")
    _propose_parser(sub, signer)
    p = add_command(sub, "vote", cmd_vote, "an authority votes on a proposal", [signer])
    p.add_argument("proposal", type=int)
    p.add_argument("option", choices=["yes", "no"])
    reader = node_options()
    p = add_command(sub, "list", cmd_list, "proposals in id order", [reader])
    p.add_argument("--status", choices=["open", "executed", "failed", "rejected", "expired"])
    p = add_command(sub, "show", cmd_show, "one proposal with its votes", [reader])
    p.add_argument("proposal", type=int)
    add_command(sub, "validators", cmd_validators, "the governed validator set", [reader])
    p = add_command(sub, "rules", cmd_rules, "the rule version and the upgrade schedule",
                    [reader])
    p.add_argument("--height", type=int)
