"""``phrchain consent …``: the patient grants, revokes, lists and shows consents."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from phrchain.cli.common import CliError, add_command, count, node_client, print_json
from phrchain.cli.i18n import say
from phrchain.cli.session import (
    found,
    paged,
    parse_list,
    parse_scope,
    patient_of,
    period_days,
    phr_client,
    reader_options,
    signer_options,
    value,
)


def grantee_of(args: argparse.Namespace) -> dict[str, Any]:
    if args.to:
        return {"kind": "practitioner", "id": args.to}
    if args.org:
        return {"kind": "organization", "id": args.org}
    grantee = {"kind": "role", "id": args.role}
    if args.role_org:
        grantee["organization"] = args.role_org
    return grantee


def cmd_grant(args: argparse.Namespace) -> int:
    from phrchain.modules.consent.messages import CONSENT_ACTIONS, PURPOSES

    if args.role_org and not args.role:
        raise CliError(say("consent.role_org"))
    grantee = grantee_of(args)
    actions = parse_list(args.actions, "--actions", CONSENT_ACTIONS)
    purposes = parse_list(args.purposes, "--purposes", PURPOSES)
    choice = parse_scope(args.scope)
    start_ms, end_ms = period_days(args.days)
    # Categories and types become the ids of the records they match, here: the wallet
    # reads its records' descriptors (from its vaults once descriptors are sealed).
    by_kind = "categories" in choice or "resources" in choice
    with phr_client(args, vaults=not args.no_share or by_kind) as rc:
        scope = rc.consent.expand(choice)
        consent = rc.consent.grant(grantee, actions=actions, scope=scope, purposes=purposes,
                                   start_ms=start_ms, end_ms=end_ms, share_existing=False)
        print(consent)
        print(say("consent.granted", consent=consent, kind=grantee["kind"], id=grantee["id"],
                  actions=",".join(actions), purposes=",".join(purposes), days=args.days),
              file=sys.stderr)
        if not scope.all:
            print(say("consent.covers", n=len(scope.records)), file=sys.stderr)
        if not args.no_share:
            # Separate from the grant so that a vault failure here says what is left to
            # do: the consent stands, only key re-wrapping remains (`consent share`).
            try:
                shared = rc.consent.share(rc.consent.grantee_dids(grantee), scope)
            except Exception:
                print(say("consent.share_failed", consent=consent), file=sys.stderr)
                raise
            print(say("consent.shared", n=shared), file=sys.stderr)
    return 0


def cmd_share(args: argparse.Namespace) -> int:
    from phrchain.modules.consent.messages import Scope

    with phr_client(args) as rc:
        consent = found(rc.node, "consent/get", "consent", consent=args.consent)
        if consent["patient"] != rc.wallet.did:
            raise CliError(say("consent.only_patient"))
        if consent["status"] != "active":
            raise CliError(say("consent.not_active", consent=args.consent,
                               status=consent["status"]))
        shared = rc.consent.share(rc.consent.grantee_dids(consent["grantee"]),
                                  Scope.parse(consent["scope"]))
    print(say("consent.shared_for", n=shared, consent=args.consent))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        rc.consent.revoke(args.consent)
    print(say("consent.revoked", consent=args.consent))
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        if args.grantee:
            ids = paged(node, "consent/grantee", "consents", grantee=args.grantee)
        else:
            ids = paged(node, "consent/patient", "consents", patient=patient_of(args))
        out = [c for c in (value(node, "consent/get", consent=i) for i in ids)
               if c is not None and (args.all or c["status"] == "active")]
    print_json(out)
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        consent = found(node, "consent/get", "consent", consent=args.consent)
    if args.fhir:
        from phrchain.fhir.mapping import consent_to_fhir

        print_json(consent_to_fhir(consent, patient_did=consent["patient"]))
    else:
        print_json(consent)
    return 0


def consent_parser(sub: Any) -> None:
    from phrchain.modules.identity.messages import ROLES

    signer, reader = signer_options(), reader_options()
    p = add_command(sub, "grant", cmd_grant, "patient: let a practitioner, an organization or "
                    "a role read, pull or receive pushes of your records", [signer])
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--to", metavar="DID", help="a practitioner")
    who.add_argument("--org", metavar="DID", help="an organization (and all its members)")
    who.add_argument("--role", choices=sorted(ROLES), help="anyone holding this role")
    p.add_argument("--role-org", metavar="DID", help="with --role: only in this organization")
    p.add_argument("--actions", required=True, help="comma-separated: read,pull,push")
    p.add_argument("--purposes", required=True,
                   help="comma-separated HL7 v3 PurposeOfUse codes, e.g. TREAT,ETREAT")
    p.add_argument("--scope", action="append", default=[],
                   help="all | records:ID,ID | resources:Type,Type | categories:name,name "
                        "(repeat to combine); types and categories become the ids of your "
                        "records that match now: only 'all' covers records added later")
    p.add_argument("--days", type=count, required=True, help="how long the consent lasts")
    p.add_argument("--no-share", action="store_true",
                   help="do not re-wrap existing records' keys for the grantee now")
    p = add_command(sub, "share", cmd_share, "patient: re-wrap covered records' keys for a "
                    "consent's grantee (new records of a grant, new members of an "
                    "organization)", [signer])
    p.add_argument("consent")
    p = add_command(sub, "revoke", cmd_revoke, "patient: revoke a consent", [signer])
    p.add_argument("consent")
    p = add_command(sub, "list", cmd_list, "a patient's consents (or those naming a grantee)",
                    [reader])
    p.add_argument("--patient", help="patient DID (default: the --wallet's)")
    p.add_argument("--grantee", metavar="DID_OR_ROLE",
                   help="consents naming this DID, or role:<role>")
    p.add_argument("--all", action="store_true", help="include revoked consents")
    p = add_command(sub, "show", cmd_show, "one consent (as FHIR R4 Consent with --fhir)",
                    [reader])
    p.add_argument("consent")
    p.add_argument("--fhir", action="store_true")
