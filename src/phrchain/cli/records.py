"""``phrchain records …``: add, import, list, show, read (view, break-glass), range,
erase and export patient records through the institutions' vaults."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
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
from phrchain.cli.session import (
    ProgressBar,
    describe_decision,
    emit_plaintext,
    found,
    paged,
    patient_of,
    phr_client,
    reader_options,
    signer_options,
    value,
    write_private,
)


def cmd_add(args: argparse.Namespace) -> int:
    extra: dict[str, Any] = {}
    if args.custodian:
        extra["custodian"] = args.custodian
    if args.replaces:
        extra["replaces"] = args.replaces
    if args.raw:
        if not (args.resource and args.category):
            raise CliError(say("records.raw_needs"))
        data = Path(args.file).read_bytes()
    else:
        if args.resource or args.category:
            raise CliError(say("records.raw_only"))
        resource = read_json_file(args.file, "FHIR resource", exact_decimals=True)
    with phr_client(args) as rc:
        if args.raw:
            record = rc.records.add(data, args.patient, resource=args.resource,
                            category=args.category, **extra)
            kind, category = args.resource, args.category
        else:
            from phrchain.fhir import category_of

            record = rc.records.add_resource(resource, args.patient, **extra)
            kind, category = str(resource["resourceType"]), category_of(resource)
        d = rc.session.descriptor(record)
    print(record)
    # type and category as the author gave them: sealed, never on chain (v2); the size
    # is the chain's bucket
    print(say("records.added", height=d["height"], resource=kind, category=category,
              size=d["size"], custodian=d["custodian"]), file=sys.stderr)
    return 0


def cmd_import(args: argparse.Namespace) -> int:
    from phrchain.fhir.bundle import SET_ASIDE_REASON, split_bundle
    from phrchain.vault import bulk

    bundles = [read_json_file(f, "FHIR Bundle", exact_decimals=True) for f in args.file]
    patients = read_json_file(args.patients, "patient map {Bundle Patient id: patient DID}")
    # every resource of every Bundle is validated before anything is sealed
    splits = [split_bundle(bundle) for bundle in bundles]
    groups = [g for split in splits for g in split]
    missing = sorted({g.patient_id for g in groups if g.patient_id not in patients})
    if missing:
        raise CliError(say("records.no_did", path=args.patients, ids=", ".join(missing)))
    not_dids = sorted({g.patient_id for g in groups
                       if not str(patients[g.patient_id]).startswith("did:key:")})
    if not_dids:
        raise CliError(say("records.not_did", path=args.patients, ids=", ".join(not_dids)))
    set_aside: dict[str, int] = {}
    for split in splits:
        for kind, n in split.set_aside().items():
            set_aside[kind] = set_aside.get(kind, 0) + n
    shared = sum(len(split.shared) for split in splits)
    if set_aside:  # said before the passphrase prompt and the upload, not only after
        print(say("records.set_aside", n=shared,
                  kinds=", ".join(f"{kind} {n}" for kind, n in set_aside.items()),
                  reason=SET_ASIDE_REASON), file=sys.stderr)
    total = sum(1 + len(g.resources) for g in groups)
    print(say("records.sealing", total=total, patients=len(groups)), file=sys.stderr)
    bar = ProgressBar(total, "registering", "resources")
    with phr_client(args) as rc:
        if total >= bulk.POOL_THRESHOLD:  # worth its start-up: used for every Bundle
            bulk.start()
        try:  # one stream: one wait for the chain per window of records, not per Bundle
            ids = rc.records.import_splits(splits, patients, bar)
        finally:
            bar.close()
    print_json({"imported": {did: len(records) for did, records in ids.items()},
                "records": ids, "total": sum(len(r) for r in ids.values()),
                "set_aside": set_aside, "set_aside_total": shared,
                "set_aside_reason": SET_ASIDE_REASON})
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    patient = patient_of(args)
    with node_client(args) as node:
        out = []
        for record in paged(node, "records/patient", "records", patient=patient):
            d = value(node, "records/get", record=record)
            if d is not None and (args.all or d["status"] != "erased"):
                out.append(d)
    if args.describe:  # what each record is: sealed, opened with the owner's keys
        with phr_client(args) as rc:
            known = rc.records.descriptors([d["record"] for d in out])
        out = [known.get(d["record"], d) for d in out]
    print_json(out)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        d = found(node, "records/get", "record", record=args.record)
        d["holders"] = value(node, "records/holders", record=args.record)["holders"]
    print_json(d)
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    if args.break_glass:
        reason = (args.reason or "").strip()
        if not reason:
            raise CliError(say("records.bg_reason"))
        if args.purpose not in (None, "ETREAT"):
            raise CliError(say("records.bg_purpose"))
        if args.view:
            raise CliError(say("records.bg_or_view"))
        action, purpose = "break_glass", "ETREAT"
    else:
        if args.reason:
            raise CliError(say("records.reason_bg_only"))
        action, purpose = ("view" if args.view else "read"), args.purpose or "TREAT"
    if args.view and args.out:
        raise CliError(say("records.view_no_out"))
    if args.receipt and not args.break_glass:
        raise CliError(say("records.receipt_bg_only"))
    if args.receipt and os.path.exists(args.receipt):  # before the access, not after
        raise CliError(say("exists", path=args.receipt))
    with phr_client(args) as rc:
        opened = rc.records.open(args.record, action=action, purpose=purpose,
                         vault_org=args.from_vault,
                         reason=args.reason.strip() if args.break_glass else None)
    if opened.receipt is not None:
        receipt = json.dumps(opened.receipt.to_json(), indent=2)
        if args.receipt:
            write_private(args.receipt, receipt.encode())
        # Said back to the operator only: the reason goes to no vault, chain or log; the
        # signed request commits to it (salted hash), and the receipt proves that later.
        print(say("records.break_glass", record=args.record, reason=args.reason.strip(),
                  commitment=opened.receipt.justification, request=opened.receipt.request)
              + (say("records.receipt_written", path=args.receipt) if args.receipt else
                 say("records.receipt_shown", receipt=receipt)), file=sys.stderr)
    print(describe_decision(opened.decision), file=sys.stderr)
    emit_plaintext(opened.plaintext, args.out)
    return 0


def cmd_range(args: argparse.Namespace) -> int:
    if args.start < 0 or args.length < 1:
        raise CliError(say("records.range_bounds"))
    with phr_client(args) as rc:
        data = rc.records.read_range(args.record, args.start, args.length, purpose=args.purpose,
                             vault_org=args.from_vault)
    write_private(args.out, data)
    print(say("records.range", n=len(data), start=args.start, path=args.out),
          file=sys.stderr)
    return 0


def cmd_erase(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        rc.session.descriptor(args.record)
        holders = rc.session.q("records/holders", record=args.record)["holders"]
        rc.records.erase(args.record, args.reason)
    print(say("records.erased", record=args.record, reason=args.reason,
              holders=", ".join(holders) or say("none")))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    with phr_client(args) as rc:
        patient = args.patient or rc.wallet.did
        purpose = args.purpose or ("PATRQT" if patient == rc.wallet.did else "TREAT")
        bundle = rc.records.export(patient, purpose=purpose)
    write_private(args.out, (json.dumps(bundle, indent=2, sort_keys=True,
                                        ensure_ascii=False) + "\n").encode())
    print(say("records.exported", n=len(bundle["entry"]), path=args.out), file=sys.stderr)
    return 0


def records_parser(sub: Any) -> None:
    from phrchain.modules.consent.messages import PURPOSES
    from phrchain.modules.records.messages import CATEGORIES, ERASE_REASONS

    signer, reader = signer_options(), reader_options()
    purposes = sorted(PURPOSES)
    p = add_command(sub, "add", cmd_add, "author (practitioner, organization; a patient for "
                    "a self-reported record): seal a FHIR resource into your vault and "
                    "register it", [signer])
    p.add_argument("--patient", required=True, help="the patient's DID")
    p.add_argument("--file", required=True, help="FHIR R4 resource (JSON), validated")
    p.add_argument("--custodian", metavar="ORG_DID",
                   help="the vault's organization (required for a self-reported record)")
    p.add_argument("--replaces", metavar="RECORD", help="the record this version supersedes")
    p.add_argument("--raw", action="store_true",
                   help="any bytes (a genome, an image), not FHIR JSON: give --resource and "
                        "--category")
    p.add_argument("--resource", metavar="TYPE", help="with --raw: FHIR resource type name")
    p.add_argument("--category", choices=sorted(CATEGORIES), help="with --raw")
    p = add_command(sub, "import", cmd_import, "organization or practitioner: import a FHIR "
                    "transaction/collection Bundle, one record per resource", [signer])
    p.add_argument("--file", required=True, action="append",
                   help="the FHIR Bundle (JSON); again for more Bundles in one run")
    p.add_argument("--patients", required=True, metavar="MAP_JSON",
                   help="JSON {Bundle Patient id: registered patient DID}")
    p = add_command(sub, "list", cmd_list, "a patient's records (what the chain holds; "
                    "--describe: also what each of your own records is)", [signer])
    p.add_argument("--patient", help="patient DID (default: the --wallet's)")
    p.add_argument("--all", action="store_true", help="include erased records")
    p.add_argument("--describe", action="store_true",
                   help="open the sealed descriptors of your own records (type, category, "
                        "author, size): needs the passphrase and the vault directory")
    p = add_command(sub, "show", cmd_show, "one record's descriptor and holders", [reader])
    p.add_argument("record")
    p = add_command(sub, "read", cmd_read, "fetch, verify and decrypt a record (--view: "
                    "display only; --break-glass: emergency access)", [signer])
    p.add_argument("record")
    p.add_argument("--purpose", choices=purposes, help="purpose of use (default TREAT)")
    p.add_argument("--view", action="store_true", help="view in place: display, keep nothing")
    p.add_argument("--break-glass", action="store_true",
                   help="emergency practitioner, no consent: purpose ETREAT, needs --reason")
    p.add_argument("--reason", help="why (break-glass, at least 10 characters): sent nowhere; "
                   "the signed request commits to it")
    p.add_argument("--receipt", help="write the break-glass receipt here (new file): with "
                   "the reason, it proves later what was committed")
    p.add_argument("--out", help="write the plaintext bytes here (new file, mode 0600)")
    p.add_argument("--from-vault", metavar="ORG_DID",
                   help="read from this holder's vault (default: the custodian's)")
    p = add_command(sub, "range", cmd_range, "fetch and verify a byte range of a large record",
                    [signer])
    p.add_argument("record")
    p.add_argument("--start", type=count, required=True)
    p.add_argument("--length", type=count, required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--purpose", choices=purposes, default="TREAT")
    p.add_argument("--from-vault", metavar="ORG_DID")
    p = add_command(sub, "erase", cmd_erase, "patient (or a regulator's auditor): erase a "
                    "record everywhere", [signer])
    p.add_argument("record")
    p.add_argument("--reason", choices=sorted(ERASE_REASONS), default="patient_request")
    p = add_command(sub, "export", cmd_export, "everything you may read of a patient as one "
                    "FHIR Bundle", [signer])
    p.add_argument("--patient", help="patient DID (default: yourself)")
    p.add_argument("--out", required=True, help="the Bundle file to write (new, mode 0600)")
    p.add_argument("--purpose", choices=purposes,
                   help="default PATRQT for yourself, TREAT for another patient")
