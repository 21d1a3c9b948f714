"""``phrchain claims …`` and ``phrchain money …``: insurance products, enrolment, claims,
review and appeal; balances, bills and payments (``client/claims.py``)."""

from __future__ import annotations

import argparse
import json
import sys
import time
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
    found,
    paged,
    parse_list,
    phr_client,
    reader_options,
    signer_options,
    value,
)


def _claims(rc: Any) -> Any:
    return rc.claims


def _key(path: str | None) -> Any:
    from phrchain.client.claims import ProductKey

    return None if path is None else ProductKey.load(path)


def _amount(text: str, what: str, low: int = 1) -> int:
    """A usage error (the SDK's one parser, issue 13), before any wallet is opened."""
    from phrchain.client.claims import parse_amount
    from phrchain.client.session import RecordsError

    try:
        return parse_amount(text, what, low)
    except RecordsError as exc:
        raise CliError(str(exc)) from None


def _line(text: str) -> tuple[Any, int]:
    """``SYSTEM|CODE=AMOUNT`` (``http://snomed.info/sct|73761001=300000``)."""
    from phrchain.client.claims import Code

    code, sep, amount = text.rpartition("=")
    system, bar, value_ = code.rpartition("|")
    if not sep or not bar or not system or not value_:
        raise CliError(say("claims.line_format", text=repr(text)))
    return Code(system, value_), _amount(amount, "a line's amount")


# -- insurer -----------------------------------------------------------------------------
def cmd_new_key(args: argparse.Namespace) -> int:
    from phrchain.client.claims import ProductKey

    ProductKey.create().save(args.out)
    print(say("claims.new_key", path=args.out), file=sys.stderr)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from phrchain.client.claims import ProductKey, Rules

    rules = Rules.from_json(read_json_file(args.rules, "product rules"))
    key = ProductKey.load(args.key)
    with phr_client(args, vaults=False) as rc:
        pid, version = _claims(rc).publish(args.slug, rules, key)
    _save_codebook(key, args.key)
    print(pid)
    print(say("claims.published", product=pid, version=version, name=rules.name),
          file=sys.stderr)
    return 0


def _save_codebook(key: Any, path: str) -> None:
    """Keep the codes just blinded in the key file (rewritten in place, still 0600)."""
    import os
    import secrets

    tmp = f"{path}.{secrets.token_hex(4)}.new"  # a leftover from a crash never blocks
    key.save(tmp)
    os.replace(tmp, path)


def cmd_review(args: argparse.Namespace) -> int:
    if (args.approve is None) == (args.deny is None):
        raise CliError(say("claims.review_how"))
    # 0 is a valid approval (nothing more than already approved)
    approve = None if args.approve is None else _amount(args.approve, "--approve", low=0)
    with phr_client(args, vaults=False) as rc:
        claim = _claims(rc).review(
            args.claim, approve=approve,
            deny=args.deny, note=None if args.note is None else args.note.encode())
    print_json(claim)
    return 0


def cmd_read(args: argparse.Namespace) -> int:
    with phr_client(args) as rc:
        plaintexts = _claims(rc).read_claim_records(args.claim)
    print_json([json.loads(p) for p in plaintexts])
    print(say("claims.read", n=len(plaintexts)), file=sys.stderr)
    return 0


# -- patient -----------------------------------------------------------------------------
def cmd_enrol(args: argparse.Namespace) -> int:
    # The chain refuses a backdated start: begin just after the block that will hold it.
    start = args.start_ms if args.start_ms is not None else time.time_ns() // 1_000_000 + 2_000
    with phr_client(args, vaults=False) as rc:
        _claims(rc).enrol(args.insurer, args.product, start, args.days)
    print(say("claims.enrolled", product=args.product, insurer=args.insurer, days=args.days),
          file=sys.stderr)
    return 0


def cmd_file(args: argparse.Namespace) -> int:
    records = parse_list(args.records, "--records", None)
    lines = [_line(t) for t in args.line]
    service_ms = args.service_ms if args.service_ms is not None \
        else time.time_ns() // 1_000_000
    with phr_client(args) as rc:
        claim = _claims(rc).file(args.insurer, args.product, args.bill, records, lines,
                                 _key(args.key), service_ms=service_ms,
                                 consent_days=args.consent_days)
    print_json(claim)
    print(say("claims.filed", claim=claim["claim"], status=claim["status"],
              payout=claim["payout"], payment=claim["payment"],
              reasons=", ".join(claim["reasons"]) or say("none")), file=sys.stderr)
    return 0


def cmd_simple(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        claim = getattr(_claims(rc), args.action)(args.claim)
    print_json(claim)
    return 0


# -- anyone --------------------------------------------------------------------------------
def cmd_show(args: argparse.Namespace) -> int:
    if args.fhir:
        from phrchain.fhir.jsonio import dumps

        with phr_client(args, vaults=False) as rc:
            resource = _claims(rc).fhir(args.claim, _key(args.key))[args.fhir]
        print(dumps(resource).decode())  # FHIR JSON: decimals written exactly
        return 0
    with node_client(args) as node:
        print_json(found(node, "claims/claim", "claim", claim=args.claim))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    chosen = [(k, v) for k, v in (("patient", args.patient), ("insurer", args.insurer),
                                  ("reason", args.reason)) if v]
    if len(chosen) != 1:
        raise CliError(say("claims.list_how"))
    kind, what = chosen[0]
    path = {"patient": "claims/of_patient", "insurer": "claims/of_insurer",
            "reason": "claims/by_reason"}[kind]
    with node_client(args) as node:
        claims = paged(node, path, "claims", **{kind: what})
        print_json([value(node, "claims/claim", claim=c) for c in claims])
    return 0


def cmd_product(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        data = {"insurer": args.insurer, "product": args.product}
        if args.version:
            data["version"] = args.version
        print_json(found(node, "claims/product", "product", **data))
    return 0


# -- money ---------------------------------------------------------------------------------
def cmd_balance(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        print_json(value(node, "settlement/balances", did=args.did))
    return 0


def cmd_mint(args: argparse.Namespace) -> int:
    amount = _amount(args.amount, "--amount")  # before the wallet's passphrase is asked
    with phr_client(args, vaults=False) as rc:
        _claims(rc).mint(args.to, amount, args.currency)
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    amount = _amount(args.amount, "--amount")  # before the wallet's passphrase is asked
    with phr_client(args, vaults=False) as rc:
        _claims(rc).transfer(args.to, amount, args.currency)
    return 0


def cmd_bill(args: argparse.Namespace) -> int:
    amount = _amount(args.amount, "--amount")
    with phr_client(args, vaults=False) as rc:
        bill = _claims(rc).bill(args.patient, amount, args.currency, args.encounter)
    print(bill)
    return 0


def cmd_pay(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        _claims(rc).pay_bill(args.bill)
    print(say("claims.paid", bill=args.bill), file=sys.stderr)
    return 0


def claims_parser(sub: Any) -> None:
    signer, reader = [signer_options()], [reader_options()]
    p = add_command(sub, "new-key", cmd_new_key, "(insurer) a new secret product key file")
    p.add_argument("--out", required=True)
    p = add_command(sub, "publish", cmd_publish,
                    "(insurer) publish a product, or its next version", signer)
    p.add_argument("--slug", required=True, help="the product's stable name, e.g. basic-care")
    p.add_argument("--rules", required=True, help="JSON rules (docs/claims.md)")
    p.add_argument("--key", required=True, help="the product key file (new-key)")
    p = add_command(sub, "product", cmd_product, "a product's rules (code tags)", reader)
    p.add_argument("--insurer", required=True)
    p.add_argument("--product", required=True)
    p.add_argument("--version", type=count)
    p = add_command(sub, "enrol", cmd_enrol, "(patient) enrol in a product", signer)
    p.add_argument("--insurer", required=True)
    p.add_argument("--product", required=True)
    p.add_argument("--days", type=count, default=365)
    p.add_argument("--start-ms", type=count,
                   help="coverage start, ms since epoch (default: in two seconds)")
    p = add_command(sub, "file", cmd_file,
                    "(patient) claim a paid bill, naming the records the insurer may read",
                    signer)
    p.add_argument("--insurer", required=True)
    p.add_argument("--product", required=True)
    p.add_argument("--bill", required=True)
    p.add_argument("--records", required=True, help="comma-separated record ids")
    p.add_argument("--line", action="append", required=True,
                   help="SYSTEM|CODE=AMOUNT, once per billed item")
    p.add_argument("--key", required=True, help="the product key the insurer gave you")
    p.add_argument("--service-ms", type=count,
                   help="date of service (ms since epoch; default now)")
    p.add_argument("--consent-days", type=count, default=90)
    p = add_command(sub, "review", cmd_review,
                    "(insurer reviewer) decide a referred claim", signer)
    p.add_argument("claim")
    p.add_argument("--approve", help="amount to pay (at most what the rules give)")
    p.add_argument("--deny", help="reason code")
    p.add_argument("--note", help="a note kept off chain (its hash is recorded)")
    p = add_command(sub, "read", cmd_read, "(insurer) read the records a claim names",
                    signer)
    p.add_argument("claim")
    for action, help_ in (("appeal", "(patient) appeal a denied or partial claim, once"),
                          ("lapse", "approve a referred claim whose review deadline passed"),
                          ("settle", "retry paying an approved, unfunded claim")):
        p = add_command(sub, action, cmd_simple, help_, signer)
        p.add_argument("claim")
        p.set_defaults(action=action)
    p = add_command(sub, "show", cmd_show, "one claim (or its FHIR resources)", signer)
    p.add_argument("claim")
    p.add_argument("--fhir", choices=("Claim", "ClaimResponse", "ExplanationOfBenefit"))
    p.add_argument("--key", help="product key: real codes instead of tags in FHIR")
    p = add_command(sub, "list", cmd_list,
                    "claims of a patient or insurer, or by reason code (regulators)", reader)
    p.add_argument("--patient")
    p.add_argument("--insurer")
    p.add_argument("--reason")


def money_parser(sub: Any) -> None:
    signer, reader = [signer_options()], [reader_options()]
    p = add_command(sub, "balance", cmd_balance, "balances of a DID", reader)
    p.add_argument("did")
    for name, func, help_ in (("mint", cmd_mint, "(authority) deposit money for a DID"),
                              ("transfer", cmd_transfer, "pay another identity")):
        p = add_command(sub, name, func, help_, signer)
        p.add_argument("--to", required=True)
        p.add_argument("--amount", required=True)
        p.add_argument("--currency", required=True)
    p = add_command(sub, "bill", cmd_bill, "(provider) bill a patient for an encounter",
                    signer)
    p.add_argument("--patient", required=True)
    p.add_argument("--amount", required=True)
    p.add_argument("--currency", required=True)
    p.add_argument("--encounter", required=True,
                   help="your own encounter number (only a one-way key of it is recorded)")
    p = add_command(sub, "pay", cmd_pay, "(patient) pay a bill", signer)
    p.add_argument("bill")
