"""``phrchain exchange …``: Pull (request, the patient's inbox, approve/deny, pull) and
Push between providers. View is ``phrchain records read --view``."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from phrchain.cli.common import add_command, count, node_client, print_json
from phrchain.cli.i18n import say
from phrchain.cli.session import (
    describe_decision,
    emit_plaintext,
    found,
    paged,
    parse_scope,
    patient_of,
    period_days,
    phr_client,
    reader_options,
    signer_options,
    value,
)


def cmd_request(args: argparse.Namespace) -> int:
    scope = parse_scope(args.scope, by_kind=False)
    with phr_client(args, vaults=False) as rc:
        request = rc.exchange.request_pull(args.patient, scope, args.purpose)
        status = rc.session.q("exchange/get", request=request)["status"]
    print(request)
    if status == "approved":
        print(say("exchange.approved_at_once", request=request), file=sys.stderr)
    else:
        print(say("exchange.waiting", status=status), file=sys.stderr)
    return 0


def cmd_inbox(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        if args.requester:
            ids = paged(node, "exchange/requester", "requests", requester=args.requester)
        else:
            ids = paged(node, "exchange/patient", "requests", patient=patient_of(args))
        out = [r for r in (value(node, "exchange/get", request=i) for i in ids)
               if r is not None and (args.all or r["status"] == "pending")]
    print_json(out)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        print_json(found(node, "exchange/get", "request", request=args.request))
    return 0


def cmd_approve(args: argparse.Namespace) -> int:
    _, end_ms = period_days(args.days)
    with phr_client(args, vaults=not args.no_share) as rc:
        rc.exchange.approve(args.request, end_ms, share_existing=not args.no_share)
    print(say("exchange.approved", request=args.request, days=args.days))
    return 0


def cmd_deny(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        rc.exchange.deny(args.request)
    print(say("exchange.denied", request=args.request))
    return 0


def cmd_pull(args: argparse.Namespace) -> int:
    with phr_client(args) as rc:
        opened = rc.exchange.pull(args.request, args.record)
        mine = rc.session.custodian_of_me()
    print(describe_decision(opened.decision), file=sys.stderr)
    print(say("exchange.copy_kept", org=mine), file=sys.stderr)
    emit_plaintext(opened.plaintext, args.out)
    return 0


def cmd_push(args: argparse.Namespace) -> int:
    with phr_client(args) as rc:
        rc.exchange.push(args.record, args.to, args.purpose)
    print(say("exchange.pushed", record=args.record, to=args.to))
    return 0


def exchange_parser(sub: Any) -> None:
    from phrchain.modules.consent.messages import PURPOSES

    signer, reader = signer_options(), reader_options()
    p = add_command(sub, "request", cmd_request, "provider: ask a patient to let you pull "
                    "records", [signer])
    p.add_argument("--patient", required=True)
    p.add_argument("--scope", action="append", default=[],
                   help="all | records:ID,ID (the patient's record ids; a request never "
                        "names categories or types)")
    p.add_argument("--purpose", required=True, choices=sorted(PURPOSES))
    p = add_command(sub, "inbox", cmd_inbox, "patient: pending pull requests (--all: every "
                    "status; --requester DID: a provider's own requests)", [reader])
    p.add_argument("--patient", help="patient DID (default: the --wallet's)")
    p.add_argument("--requester", metavar="DID")
    p.add_argument("--all", action="store_true")
    p = add_command(sub, "show", cmd_show, "one pull request", [reader])
    p.add_argument("request")
    p = add_command(sub, "approve", cmd_approve, "patient: approve a pull request (it becomes "
                    "a consent: pull+read, the request's scope and purpose)", [signer])
    p.add_argument("request")
    p.add_argument("--days", type=count, required=True, help="how long the approval lasts")
    p.add_argument("--no-share", action="store_true",
                   help="do not re-wrap the covered records' keys for the requester now")
    p = add_command(sub, "deny", cmd_deny, "patient: deny a pull request", [signer])
    p.add_argument("request")
    p = add_command(sub, "pull", cmd_pull, "provider: fetch a record under an approved request "
                    "and keep a copy in your institution's vault", [signer])
    p.add_argument("request")
    p.add_argument("record")
    p.add_argument("--out", help="write the plaintext here (new file, mode 0600)")
    p = add_command(sub, "push", cmd_push, "provider: send a record you may read to another "
                    "provider the patient consented to", [signer])
    p.add_argument("record")
    p.add_argument("--to", required=True, metavar="DID",
                   help="the receiving practitioner or organization")
    p.add_argument("--purpose", choices=sorted(PURPOSES), default="TREAT")
