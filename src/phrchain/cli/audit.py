"""``phrchain audit log | verify``: a patient's access log, checked against
validator-signed headers by :class:`phrchain.client.audit.AuditReader` (whose docstring
says what is trusted and what is proven). A failure names the first failing item and
exits 2.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from phrchain.cli.common import (
    CliError,
    add_command,
    count,
    node_client,
    print_json,
    read_json_file,
)
from phrchain.cli.session import patient_of, reader_options
from phrchain.client.audit import AuditReader


# -- commands ----------------------------------------------------------------------------------
def trust_anchor(args: argparse.Namespace, node: Any) -> tuple[Any, str]:
    """What the log is checked against, and how to say so: a solo validator DID (pinned,
    from a phrchain genesis, or as the node reports it, with a warning), or, with
    ``--cometbft-rpc``, the validator set of a CometBFT genesis."""
    from phrchain.client.anchors import CometAnchor, SoloAnchor

    genesis = read_json_file(args.genesis, "genesis file") if args.genesis else None
    if args.cometbft_rpc:
        from phrchain.client.cometbft_rpc import CometRpc

        if genesis is None or "validators" not in genesis:
            raise CliError("--cometbft-rpc needs --genesis with the network's CometBFT "
                           "genesis (its validator set)")
        anchor = CometAnchor.from_genesis(CometRpc(args.cometbft_rpc), genesis)
        return anchor, (f"more than 2/3 of the {len(anchor.validators)}-validator set of "
                        f"{args.genesis} (CometBFT commits)")
    chain_id = args.chain_id or (genesis or {}).get("chain_id")
    if args.validator or genesis:
        validator = args.validator or genesis["validator"]  # type: ignore[index]
        return SoloAnchor(node, validator, chain_id), f"validator {validator} (pinned)"
    validator = str(node.status()["validator"])
    print("warning: trusting the validator DID the node reports; pin it with --validator "
          "or --genesis", file=sys.stderr)
    return (SoloAnchor(node, validator, chain_id),
            f"validator {validator} (as reported by the node)")


def cmd_log(args: argparse.Namespace) -> int:
    patient = patient_of(args)
    with node_client(args) as node:
        anchor, _ = trust_anchor(args, node)
        reader = AuditReader(node, patient, anchor, args.min_height)
        entries = reader.log()
        latest = reader.head(None)
        if args.fhir:
            from phrchain.fhir.bundle import export_bundle
            from phrchain.fhir.mapping import audit_to_fhir

            events = [audit_to_fhir(e, time_ms=anchor.time_ms(e["height"]))
                      for e in entries]
            print_json(export_bundle(events))
        else:
            print_json(entries)
    print(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, each included in the "
          f"log head at height {latest.height}, proven against its signed header",
          file=sys.stderr)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    patient = patient_of(args)
    with node_client(args) as node:
        anchor, how = trust_anchor(args, node)
        reader = AuditReader(node, patient, anchor, args.min_height)
        latest, heads, blocks = reader.verify_all()
    n = latest.size
    print(f"audit log of {patient}: {n} entr{'y' if n == 1 else 'ies'} verified")
    print(f"  each entry: inclusion proof against the log head of the block that added it "
          f"({len(blocks)} block(s))")
    print(f"  {len(heads)} head(s) at heights {heads[0].height}..{heads[-1].height}, each "
          f"proven against the app hash signed by {how}")
    print(f"  {len(heads) - 1} consistency proof(s) between successive heads, up to the "
          f"latest (height {latest.height}, size {n}, root {latest.root.hex()})")
    return 0


def cmd_justify(args: argparse.Namespace) -> int:
    """A break-glass reason checked against its receipt and the patient's audit log."""
    from pathlib import Path

    from phrchain.client.breakglass import Receipt, check

    receipt = Receipt.from_json(read_json_file(args.receipt, "break-glass receipt"))
    if (args.reason is None) == (args.reason_file is None):
        raise CliError("give --reason TEXT or --reason-file FILE (the reason your "
                       "institution recorded)")
    reason = args.reason if args.reason is not None else \
        Path(args.reason_file).read_text(encoding="utf-8")
    with node_client(args) as node:
        caller = node.query("identity/did", {"did": receipt.caller})["value"]
        key = None if caller is None else bytes.fromhex(caller["signing_key"])
        check(receipt, reason, key)  # raises, naming what does not hold
        descriptor = node.query("records/get", {"record": receipt.record})["value"]
        patient = args.patient or (descriptor or {}).get("patient")
        if not patient:
            raise CliError(f"record {receipt.record} is unknown: give --patient")
        anchor, how = trust_anchor(args, node)
        entries = [e for e in AuditReader(node, patient, anchor, args.min_height).log()
                   if e["request"] == receipt.request]
    if not entries:
        raise CliError(f"request {receipt.request} is not (yet) in the patient's audit "
                       "log: the vault may not have sent it; try again shortly")
    entry = entries[0]
    if entry["action"] != "break_glass" or entry["record"] != receipt.record \
            or entry["accessor"] != receipt.caller:
        raise CliError("the audit entry of that request is not this break-glass access")
    print(f"justified: the reason matches the commitment {receipt.justification}")
    print(f"  signed by {receipt.caller} into request {receipt.request}"
          + ("" if key is not None else " (caller no longer registered: signature unchecked)"))
    print(f"  which is entry {entry['index']} of {patient}'s audit log (break_glass, "
          f"{entry['decision']}), included at height {entry['height']} and proven against "
          f"{how}")
    return 0


def audit_parser(sub: Any) -> None:
    reader = reader_options()
    trust = argparse.ArgumentParser(add_help=False)
    pin = trust.add_mutually_exclusive_group()
    pin.add_argument("--validator", metavar="DID", help="the validator did:key you trust")
    pin.add_argument("--genesis", metavar="FILE",
                     help="genesis file to trust (pins the validator and chain id)")
    trust.add_argument("--cometbft-rpc", metavar="URL",
                       help="a CometBFT network: check against commits from this RPC, "
                            "signed by the validator set of --genesis (its CometBFT genesis)")
    trust.add_argument("--chain-id", help="chain id the headers must carry "
                                          "(default: --genesis's)")
    trust.add_argument("--min-height", type=count, metavar="H",
                       help="refuse a latest head older than height H (a node hiding "
                            "newer entries)")
    p = add_command(sub, "log", cmd_log, "a patient's access log, each entry proven against "
                    "a signed header (--fhir: as FHIR AuditEvents)", [reader, trust])
    p.add_argument("--patient", help="patient DID (default: the --wallet's)")
    p.add_argument("--fhir", action="store_true",
                   help="print a FHIR R4 Bundle of AuditEvent resources")
    p = add_command(sub, "justify", cmd_justify, "check a break-glass reason against its "
                    "receipt and the patient's audit log", [reader, trust])
    p.add_argument("--receipt", required=True, help="the receipt the access produced")
    p.add_argument("--reason", help="the reason as your institution recorded it")
    p.add_argument("--reason-file", help="… or a file holding it")
    p.add_argument("--patient", help="patient DID (default: the record's)")
    p = add_command(sub, "verify", cmd_verify, "check a patient's whole access log offline: "
                    "inclusion, consistency and signed-header proofs", [reader, trust])
    p.add_argument("--patient", help="patient DID (default: the --wallet's)")
