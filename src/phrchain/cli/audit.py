"""``phrchain audit log | verify | justify | key``: a patient's access log, checked
against validator-signed headers by :class:`phrchain.client.audit.AuditReader` (whose
docstring says what is trusted and what is proven). A failure names the first failing
item and exits 2.

Entries are sealed on chain. ``--open`` unlocks ``--wallet`` (its passphrase) to open
the entries wrapped to it (the patient; an institution for its custodian view), and
``--audit-key FILE`` adds an organization's audit key file (a regulator's auditors,
``audit key`` writes one); entries no key opens are printed sealed.
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
from phrchain.cli.i18n import say
from phrchain.cli.session import patient_of, reader_options
from phrchain.client.audit import AuditKey, AuditReader, Openers, opening_keys


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
            raise CliError(say("audit.comet_genesis"))
        witnesses = [CometRpc(url) for url in getattr(args, "witness", None) or ()]
        anchor = CometAnchor.from_genesis(CometRpc(args.cometbft_rpc), genesis, witnesses)
        return anchor, say("audit.anchor_comet", n=len(anchor.validators), path=args.genesis)
    chain_id = args.chain_id or (genesis or {}).get("chain_id")
    if args.validator or genesis:
        validator = args.validator or genesis["validator"]  # type: ignore[index]
        return SoloAnchor(node, validator, chain_id), say("audit.anchor_pinned",
                                                          validator=validator)
    validator = str(node.status()["validator"])
    print(say("audit.trusting_node"), file=sys.stderr)
    return (SoloAnchor(node, validator, chain_id),
            say("audit.anchor_reported", validator=validator))


def openers(args: argparse.Namespace) -> Openers:
    """The keys ``--open`` and ``--audit-key`` give."""
    from phrchain.cli.common import wallet_from_args
    from phrchain.client.session import RecordsError

    out: dict[str, Any] = {}
    if getattr(args, "open", False):
        out.update(opening_keys(wallet_from_args(args)))
    for path in getattr(args, "audit_key", None) or ():
        try:
            out.update(AuditKey.load(path).openers())
        except RecordsError as exc:
            raise CliError(str(exc)) from None
    return out


def _entries(n: int) -> str:
    return say("entry" if n == 1 else "entries")


def cmd_log(args: argparse.Namespace) -> int:
    patient = patient_of(args)
    keys = openers(args)
    with node_client(args) as node:
        anchor, _ = trust_anchor(args, node)
        reader = AuditReader(node, patient, anchor, args.min_height, openers=keys)
        entries = reader.log()
        latest = reader.head(None)
        if args.fhir:
            from phrchain.fhir.bundle import export_bundle
            from phrchain.fhir.mapping import audit_to_fhir

            events = [audit_to_fhir(e, time_ms=anchor.time_ms(e["height"]))
                      for e in entries if not e["sealed"]]
            print_json(export_bundle(events))
        else:
            print_json(entries)
    print(say("audit.log", n=len(entries), entries=_entries(len(entries)),
              height=latest.height), file=sys.stderr)
    print(say("audit.opened", opened=reader.opened, sealed=len(entries) - reader.opened),
          file=sys.stderr)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    patient = patient_of(args)
    keys = openers(args)
    with node_client(args) as node:
        anchor, how = trust_anchor(args, node)
        reader = AuditReader(node, patient, anchor, args.min_height, openers=keys)
        latest, heads, blocks = reader.verify_all()
    n = latest.size
    print(say("audit.verified", patient=patient, n=n, entries=_entries(n)))
    print(say("audit.verified_entries", blocks=len(blocks)))
    print(say("audit.verified_heads", heads=len(heads), first=heads[0].height,
              last=heads[-1].height, how=how))
    print(say("audit.verified_consistency", n=len(heads) - 1, height=latest.height, size=n,
              root=latest.root.hex()))
    print(say("audit.opened", opened=reader.opened, sealed=n - reader.opened))
    return 0


def cmd_key(args: argparse.Namespace) -> int:
    """Write an organization's audit key file (its X25519 keys) from its wallet."""
    from pathlib import Path

    from phrchain.cli.common import wallet_from_args

    wallet = wallet_from_args(args)
    if Path(args.out).exists():
        raise CliError(say("audit.key_exists", path=args.out))
    AuditKey.of_wallet(wallet).save(args.out)
    print(say("audit.key_written", path=args.out, did=wallet.did))
    return 0


def cmd_justify(args: argparse.Namespace) -> int:
    """A break-glass reason checked against its receipt and the patient's audit log."""
    from pathlib import Path

    from phrchain.client.breakglass import Receipt, check

    receipt = Receipt.from_json(read_json_file(args.receipt, "break-glass receipt"))
    if (args.reason is None) == (args.reason_file is None):
        raise CliError(say("audit.reason_needed"))
    reason = args.reason if args.reason is not None else \
        Path(args.reason_file).read_text(encoding="utf-8")
    keys = openers(args)
    with node_client(args) as node:
        caller = node.query("identity/did", {"did": receipt.caller})["value"]
        key = None if caller is None else bytes.fromhex(caller["signing_key"])
        check(receipt, reason, key)  # raises, naming what does not hold
        descriptor = node.query("records/get", {"record": receipt.record})["value"]
        patient = args.patient or (descriptor or {}).get("patient")
        if not patient:
            raise CliError(say("audit.record_unknown", record=receipt.record))
        anchor, how = trust_anchor(args, node)
        entries = [e for e in AuditReader(node, patient, anchor, args.min_height,
                                          openers=keys).log()
                   if e["request"] == receipt.request]
    if not entries:
        raise CliError(say("audit.not_in_log", request=receipt.request))
    entry = entries[0]
    # The signed envelope (checked above) names the record, the caller and the
    # break-glass action; an entry opened here must say the same.
    if entry["vault"] != receipt.vault or (not entry["sealed"] and (
            entry["action"] != "break_glass" or entry["record"] != receipt.record
            or entry["accessor"] != receipt.caller)):
        raise CliError(say("audit.not_this_access"))
    print(say("audit.justified", commitment=receipt.justification))
    print(say("audit.signed_by", caller=receipt.caller, request=receipt.request)
          + ("" if key is not None else say("audit.unchecked")))
    print(say("audit.entry_of", index=entry["index"], patient=patient,
              decision=entry.get("decision", say("audit.sealed")), height=entry["height"],
              how=how))
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
    trust.add_argument("--witness", metavar="URL", action="append",
                       help="with --cometbft-rpc: another node's RPC that must give the "
                            "same headers (a conflicting verified one is a fork: "
                            "lightclient/1); repeat for more")
    trust.add_argument("--chain-id", help="chain id the headers must carry "
                                          "(default: --genesis's)")
    trust.add_argument("--min-height", type=count, metavar="H",
                       help="refuse a latest head older than height H (a node hiding "
                            "newer entries)")
    trust.add_argument("--open", action="store_true",
                       help="unlock --wallet to open the sealed entries wrapped to it")
    trust.add_argument("--passphrase-file", help="file whose first line is the passphrase")
    trust.add_argument("--audit-key", action="append", metavar="FILE",
                       help="an organization's audit key file (`audit key`) to open "
                            "the entries wrapped to it (repeatable)")
    p = add_command(sub, "log", cmd_log, "a patient's access log, each entry proven against "
                    "a signed header (--fhir: as FHIR AuditEvents)", [reader, trust])
    p.add_argument("--patient", help="patient DID (default: the --wallet's)")
    p.add_argument("--fhir", action="store_true",
                   help="print a FHIR R4 Bundle of AuditEvent resources (of the entries "
                        "opened)")
    p = add_command(sub, "justify", cmd_justify, "check a break-glass reason against its "
                    "receipt and the patient's audit log", [reader, trust])
    p.add_argument("--receipt", required=True, help="the receipt the access produced")
    p.add_argument("--reason", help="the reason as your institution recorded it")
    p.add_argument("--reason-file", help="… or a file holding it")
    p.add_argument("--patient", help="patient DID (default: the record's)")
    p = add_command(sub, "key", cmd_key, "write an organization's audit key file from "
                    "its wallet (for its auditors' tools; a secret)", [reader])
    p.add_argument("--passphrase-file", help="file whose first line is the passphrase")
    p.add_argument("--out", required=True, help="the new key file")
    p = add_command(sub, "verify", cmd_verify, "check a patient's whole access log offline: "
                    "inclusion, consistency and signed-header proofs", [reader, trust])
    p.add_argument("--patient", help="patient DID (default: the --wallet's)")
