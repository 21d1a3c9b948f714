"""``phrchain identity …``: identity transactions and verified queries."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from phrchain.cli.common import (
    UNVERIFIED_EXIT,
    CliError,
    add_command,
    count,
    make_join_request,
    node_client,
    parse_roles,
    print_json,
    read_json_file,
    read_passphrase,
    send_msgs,
    target_did,
    wallet_from_args,
)
from phrchain.cli.session import node_options


def cmd_admit_org(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    wallet, client = wallet_from_args(args), node_client(args)
    with client:
        req = make_join_request(args, client, wallet.did)
        msg = builder.admit_organization(req["did"], args.org_type, args.name,
                                         req["enc_key"], req["pop"])
        send_msgs(args, [msg], wallet=wallet, client=client)
    return 0


def cmd_admit_practitioner(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    wallet, client = wallet_from_args(args), node_client(args)
    with client:
        req = make_join_request(args, client, wallet.did)
        msg = builder.admit_practitioner(req["did"], parse_roles(args.roles), req["enc_key"],
                                         req["pop"])
        send_msgs(args, [msg], wallet=wallet, client=client)
    return 0


def cmd_register_patient(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    wallet = wallet_from_args(args)
    send_msgs(args, [builder.register_patient(wallet.enc_key)], wallet=wallet)
    return 0


def cmd_set_roles(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    send_msgs(args, [builder.set_roles(target_did(args), parse_roles(args.roles))])
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    from phrchain.client import builder

    send_msgs(args, [builder.revoke(target_did(args), args.reason)])
    return 0


def cmd_rotate_key(args: argparse.Namespace) -> int:
    """The new wallet is written *before* the tx is sent, so a committed rotation can
    never leave the identity with a key nobody holds."""
    from phrchain.client.http import ApiError
    from phrchain.client.wallet import Wallet, wallet_for_rotation

    if not args.wallet:
        raise CliError("rotate-key needs --wallet FILE")
    passphrase = read_passphrase(args, args.wallet)  # the new wallet keeps the old passphrase
    wallet = Wallet.load(args.wallet, passphrase)
    client = node_client(args)
    msg, rotated = wallet.rotate(client.chain_id(), rotate_encryption=args.new_enc_key)
    new_path = wallet_for_rotation(args.wallet)
    rotated.save(new_path, passphrase)
    try:
        answer = send_msgs(args, [msg], wallet=wallet, client=client)
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

    genesis = read_json_file(args.genesis, "genesis file") if args.genesis else None
    validator = args.validator or (genesis or {}).get("validator")
    chain_id = args.chain_id or (genesis or {}).get("chain_id")
    key = query_key(IDENTITY_DID_PATH, {"did": args.did})
    with node_client(args) as client:
        answer = client.identity(args.did)
        height = answer.get("height")
        if answer.get("path") != IDENTITY_DID_PATH:
            raise ProofError("the node answered another query than identity/did")
        if args.cometbft_rpc:
            value, how = _verify_on_cometbft(args, genesis, answer, key)
        elif type(height) is int and height >= 1:
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
            print_json({"identity": value, "proof": {
                "height": height, "app_hash": answer["app_hash"], "verified": False,
                "verified_against": None}})
            print("warning: UNVERIFIED: at height 0 no signed header exists and the app "
                  "hash is the node's own word; pass --genesis FILE to check it",
                  file=sys.stderr)
            return UNVERIFIED_EXIT
        else:
            value = verify_query(answer, genesis_app_hash(genesis), key)
            how = f"genesis app hash recomputed from {args.genesis}"
    print_json({"identity": value, "proof": {"height": answer["height"],
                                              "app_hash": answer["app_hash"],
                                              "verified": True, "verified_against": how}})
    return 0


def _verify_on_cometbft(args: argparse.Namespace, genesis: Any, answer: dict[str, Any],
                        key: bytes) -> tuple[Any, str]:
    """A CometBFT network: the answer at height H against the commit of H + 1, signed by
    more than 2/3 of that height's validator set, reached from the set of the network's
    genesis by following governance's validator changes."""
    from phrchain.client.anchors import CometAnchor
    from phrchain.client.cometbft_rpc import CometRpc
    from phrchain.client.verify import verify_query
    from phrchain.core.errors import ProofError

    if not isinstance(genesis, dict) or "validators" not in genesis:
        raise CliError("--cometbft-rpc needs --genesis with the network's CometBFT genesis "
                       "(its validator set)")
    height = answer.get("height")
    if type(height) is not int or height < 1:
        raise ProofError(f"height {height!r} cannot be proven")
    if args.min_height is not None and height < args.min_height:
        raise ProofError(f"the answer is for height {height}, older than {args.min_height}")
    witnesses = [CometRpc(url) for url in getattr(args, "witness", None) or ()]
    try:
        with CometRpc(args.cometbft_rpc) as rpc:
            anchor = CometAnchor.from_genesis(rpc, genesis, witnesses)
            value = verify_query(answer, anchor.header(height + 1).app_hash, key)
    finally:
        for witness in witnesses:
            witness.close()
    confirmed = f", cross-checked with {len(witnesses)} witness(es)" if witnesses else ""
    return value, (f"commit of height {height + 1} signed by more than 2/3 of its "
                   f"validator set, followed from the genesis set of {args.genesis}"
                   f"{confirmed}")


def cmd_list(args: argparse.Namespace) -> int:
    by = {k: v for k in ("organization", "role", "kind")
          if (v := getattr(args, k)) is not None}
    with node_client(args) as client:
        print_json(client.identities(limit=args.limit, after=args.after, **by)["value"])
    return 0


def identity_parser(sub: Any) -> None:
    from phrchain.modules.identity.messages import ORG_TYPES, REVOCATION_REASONS, ROLES

    node = node_options()  # --node and the TLS client options
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

    p = add_command(sub, "admit-org", cmd_admit_org, "authority: admit an organization",
             [signer, joining])
    p.add_argument("--org-type", required=True, choices=sorted(ORG_TYPES))
    p.add_argument("--name", required=True)
    p = add_command(sub, "admit-practitioner", cmd_admit_practitioner,
             "organization: admit a practitioner", [signer, joining])
    roles_help = f"comma-separated, from: {','.join(sorted(ROLES))}"
    p.add_argument("--roles", required=True, help=roles_help)
    add_command(sub, "register-patient", cmd_register_patient,
         "patient: register the wallet's own identity", [signer])
    p = add_command(sub, "set-roles", cmd_set_roles, "organization: replace a practitioner's roles",
             [signer, target])
    p.add_argument("--roles", required=True, help=roles_help)
    p = add_command(sub, "rotate-key", cmd_rotate_key,
             "any identity: replace the wallet's signing key", [signer])
    p.add_argument("--new-enc-key", action="store_true",
                   help="also replace the encryption key (the old one is kept in the wallet)")
    p = add_command(sub, "revoke", cmd_revoke, "revoke an identity", [signer, target])
    p.add_argument("--reason", required=True, choices=sorted(REVOCATION_REASONS))
    p = add_command(sub, "show", cmd_show, "show one identity, verifying its state proof", [node])
    p.add_argument("did")
    p.add_argument("--validator", help="validator did:key to trust (default: --genesis's)")
    p.add_argument("--genesis", metavar="FILE",
                   help="genesis file to trust: pins the validator and chain id, and checks "
                        "height-0 answers against the genesis app hash recomputed from it")
    p.add_argument("--chain-id", help="chain id the signed header must carry "
                                      "(default: --genesis's)")
    p.add_argument("--min-height", type=count, metavar="H",
                   help="refuse an answer older than height H (a node hiding newer state)")
    p.add_argument("--cometbft-rpc", metavar="URL",
                   help="a CometBFT network: verify against the commit of this RPC, signed "
                        "by the validator set of --genesis (the network's genesis.json)")
    p.add_argument("--witness", metavar="URL", action="append",
                   help="with --cometbft-rpc: another node's RPC that must give the same "
                        "headers (a conflicting verified one is a fork: lightclient/1); "
                        "repeat for more")
    p = add_command(sub, "list", cmd_list, "list identities (one page; continue with --after)",
             [node])
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--organization")
    which.add_argument("--role")
    which.add_argument("--kind")
    p.add_argument("--limit", type=count, help="page size (default 100, at most 1000)")
    p.add_argument("--after", metavar="DID",
                   help="start after this DID (the previous page's 'next')")
