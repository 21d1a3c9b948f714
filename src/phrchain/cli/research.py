"""``phrchain research …``: research data donation — the stateless de-identification an
institution runs on its own exports, the donor's donation (under its custodian
pseudonym's wallet), the research institute's studies and requests, and proofs of
inclusion or exclusion (``client/research.py``, ``deid/``)."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from phrchain.cli.common import CliError, add_command, node_client, print_json, read_json_file
from phrchain.cli.i18n import say
from phrchain.cli.session import found, phr_client, reader_options, signer_options, value


def _key(path: str | None) -> tuple[bytes, str]:
    """The vault's key from ``path`` (32 bytes, raw or as 64 hex), or a fresh one that
    is never written anywhere (pseudonyms then link to nothing outside this run)."""
    if path is None:
        return secrets.token_bytes(32), "ephemeral"
    data = Path(path).read_bytes()
    text = data.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text.decode("ascii")), "file"
        except (UnicodeDecodeError, ValueError):
            pass
    if len(data) == 32:
        return data, "file"
    raise CliError(f"{path}: the key file must hold 32 bytes (raw, or 64 hex characters)")


def cmd_deidentify(args: argparse.Namespace) -> int:
    from phrchain.deid import default_config, deidentify, groups_from_bundles, load_config
    from phrchain.deid import write as write_dataset

    config = load_config(Path(args.config)) if args.config else default_config()
    key, origin = _key(args.key_file)
    bundles = [read_json_file(path, "FHIR Bundle") for path in args.bundles]
    now = datetime.now(tz=UTC)
    dataset = deidentify(groups_from_bundles(bundles), config, key, study=args.study,
                         dataset=args.dataset,
                         reference_year=args.reference_year or now.year,
                         recorded=now.strftime("%Y-%m-%dT%H:%M:%SZ"))
    dataset.report["key"] = origin
    write_dataset(dataset, Path(args.out))
    refused = dataset.report["refused"]
    print(say("research.deidentified", patients=dataset.report["patients"],
              k=dataset.report["k"]["reached"], l=dataset.report["l"]["reached"],
              out=args.out), file=sys.stderr)
    if refused is not None:
        print(f"error: [deid/{refused['code']} {refused['name']}] {refused['detail']}",
              file=sys.stderr)
        return 2
    return 0


def _permission(text: str) -> dict[str, Any]:
    code, _, disease = text.partition(":")
    if code == "DS":
        return {"code": "DS", "disease": disease}
    return {"code": code}


def _modifier(text: str) -> dict[str, Any]:
    """``CODE`` or ``CODE=PARAM`` (a list: comma-separated; a number: digits)."""
    from phrchain.modules.research.duo import PARAM_KINDS

    code, _, raw = text.partition("=")
    kind = PARAM_KINDS.get(code)
    if kind is None or (kind == "none") != (raw == ""):
        raise CliError(f"--modifier {text}: CODE, or CODE=PARAM for codes with a parameter")
    if kind == "none":
        return {"code": code}
    if kind in ("date", "months"):
        if not raw.isdigit():
            raise CliError(f"--modifier {text}: the parameter must be a number")
        return {"code": code, "param": int(raw)}
    return {"code": code, "param": sorted(set(raw.split(",")))}


def cmd_donate(args: argparse.Namespace) -> int:
    from phrchain.cli.session import now_ms

    scope: dict[str, Any] = ({"records": sorted(set(args.record))} if args.record
                             else {"all": True})
    start = now_ms()
    modifiers = sorted((_modifier(m) for m in args.modifier), key=lambda m: m["code"])
    with phr_client(args, vaults=False) as rc:
        print_json(rc.research.donate(_permission(args.permission), modifiers, scope, start,
                                      start + args.days * 86_400_000))
    return 0


def cmd_revoke(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        print_json(rc.research.revoke())
    return 0


def cmd_uses(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        print_json(value(node, "research/uses", donor=args.donor)["datasets"])
    return 0


def cmd_consent(args: argparse.Namespace) -> int:
    from phrchain.fhir.jsonio import dumps
    from phrchain.fhir.research import donation_to_fhir
    from phrchain.fhir.validation import validate

    with node_client(args) as node:
        donation = found(node, "research/donation", "donation", donor=args.donor)
        terms = value(node, "research/params", version=donation["params"])["terms"]
    resource = donation_to_fhir(donation, terms)
    validate(resource)
    print(dumps(resource).decode())
    return 0


def cmd_register_study(args: argparse.Namespace) -> int:
    from phrchain.core.errors import TxError
    from phrchain.modules.research.messages import RegisterStudy

    data = read_json_file(args.file, "study")
    try:
        study = RegisterStudy.parse(data)
    except TxError as exc:
        raise CliError(f"{args.file}: {exc.detail or exc}") from None
    with phr_client(args, vaults=False) as rc:
        print_json(rc.research.register_study(study))
    return 0


def cmd_request(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        print_json(rc.research.request(args.study, args.request))
    return 0


def cmd_destroy_key(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        print_json(rc.research.destroy_key(args.dataset))
    return 0


def cmd_dataset(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        print_json(found(node, "research/dataset", "dataset", dataset=args.dataset))
    return 0


def cmd_prove(args: argparse.Namespace) -> int:
    from phrchain.client.research import prove

    with node_client(args) as node:
        Path(args.out).write_bytes(prove(node, args.dataset, args.record))
    print(say("research.wrote", path=args.out), file=sys.stderr)
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from phrchain.client.research import verify_proof

    proven = verify_proof(Path(args.file).read_bytes(), args.validator, args.chain_id)
    print(json.dumps(proven, sort_keys=True))
    key = "research.included" if proven["included"] else "research.excluded"
    print(say(key, record=proven["record"], dataset=proven["dataset"],
              height=proven["height"]), file=sys.stderr)
    return 0


def research_parser(sub: Any) -> None:
    signer, reader = [signer_options()], [reader_options()]
    p = add_command(sub, "deidentify", cmd_deidentify,
                    "de-identify FHIR R4 Bundles into bulk NDJSON and a report (no node)")
    p.add_argument("bundles", nargs="+", metavar="BUNDLE.json")
    p.add_argument("--out", required=True, help="directory for <Type>.ndjson and report.json")
    p.add_argument("--config", help="anonymizer-shaped JSON (default: Safe Harbor + Korean)")
    p.add_argument("--key-file", help="the vault's 32-byte pseudonymisation key "
                                      "(default: a fresh key, discarded)")
    p.add_argument("--study", default="local", help="the study the pseudonyms are for")
    p.add_argument("--dataset", default="local", help="the dataset the date shifts are for")
    p.add_argument("--reference-year", type=int, help="for ages 90+ (default: this year)")
    p = add_command(sub, "donate", cmd_donate, "(donor) donate, or change the terms", signer)
    p.add_argument("--permission", required=True,
                   help="GRU, HMB, POA, NRES or DS:MONDO:nnnnnnn")
    p.add_argument("--modifier", action="append", default=[],
                   help="NPU, NCU, IRB, PUB, GSO, RTN, CC, ... or GS=KR,DE, TS=12, MOR=<ms>, "
                        "COL/US/IS=<dids>, PS=<study ids> (repeatable)")
    p.add_argument("--record", action="append", default=[],
                   help="a record id (repeatable; default: every record of this pseudonym)")
    p.add_argument("--days", type=int, default=365, help="how long the donation runs")
    add_command(sub, "revoke", cmd_revoke, "(donor) revoke the donation", signer)
    for name, func, help_ in (("uses", cmd_uses, "datasets that used a donor's data"),
                              ("consent", cmd_consent, "a donation as FHIR Consent")):
        p = add_command(sub, name, func, help_, reader)
        p.add_argument("donor", help="the donor pseudonym's DID")
    p = add_command(sub, "register-study", cmd_register_study,
                    "(research institute) register a study from JSON", signer)
    p.add_argument("file")
    p = add_command(sub, "request", cmd_request,
                    "(research institute) request data and match every donor", signer)
    p.add_argument("study")
    p.add_argument("--request", help="the 32-hex id (default: a new random one)")
    p = add_command(sub, "destroy-key", cmd_destroy_key,
                    "(custodian) record that a dataset's pseudonymisation key is destroyed",
                    signer)
    p.add_argument("dataset")
    p = add_command(sub, "dataset", cmd_dataset, "a dataset's manifest", reader)
    p.add_argument("dataset")
    p = add_command(sub, "prove", cmd_prove,
                    "a proof file: is this record in that dataset, or not", reader)
    p.add_argument("dataset")
    p.add_argument("record")
    p.add_argument("--out", required=True)
    p = add_command(sub, "verify", cmd_verify,
                    "check a proof file offline against the validator you trust")
    p.add_argument("file")
    p.add_argument("--validator", required=True, help="the validator's DID (from genesis)")
    p.add_argument("--chain-id")
