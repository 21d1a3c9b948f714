"""``phrchain trials …``: clinical trials for sponsors, participants (under their trial
pseudonym's wallet), site investigators and regulators, and the stateless outcome
classifier for journals and reviewers (``client/trials.py``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from phrchain.cli.common import CliError, add_command, node_client, print_json, read_json_file
from phrchain.cli.i18n import say
from phrchain.cli.session import found, phr_client, reader_options, signer_options, value


def _trials(rc: Any) -> Any:
    return rc.trials


def _protocol(path: str, document: str) -> tuple[Any, Any]:
    """The protocol version in ``path`` (JSON: registration, sites, arms, outcomes,
    withdrawal) committed to the document at ``document``; checked as the chain checks
    it, before any wallet is opened."""
    from phrchain.client.trials import Sealed
    from phrchain.core.errors import TxError
    from phrchain.modules.trials.messages import Protocol

    data = read_json_file(path, "protocol")
    sealed = Sealed.of(Path(document).read_bytes())
    try:
        return Protocol.parse({**data, "protocol": sealed.commitment}), sealed
    except TxError as exc:
        raise CliError(f"{path}: {exc.detail or exc}") from None


def _reported(path: str) -> list[Any]:
    from phrchain.core.errors import TxError
    from phrchain.modules.trials.messages import parse_outcome

    data = read_json_file(path, "reported outcomes")
    items = data.get("outcomes")
    if not isinstance(items, list) or not all(isinstance(o, dict) for o in items):
        raise CliError(f'{path}: {{"outcomes": [{{...}}, ...]}}')
    try:
        return [parse_outcome(o, reported=True) for o in items]
    except TxError as exc:
        raise CliError(f"{path}: {exc.detail or exc}") from None


def _need(given: str | None, option: str) -> str:
    if not given:
        raise CliError(f"{option} is required for this FHIR view")
    return given


# -- journals and reviewers: no node ----------------------------------------------------
def cmd_classify(args: argparse.Namespace) -> int:
    from phrchain.client.session import RecordsError
    from phrchain.client.trials import classify_documents, dumps_lines

    registered = read_json_file(args.registered, "REGISTERED outcomes")
    reported = read_json_file(args.reported, "REPORTED outcomes")
    try:
        rows = classify_documents(registered, reported)
    except RecordsError as exc:
        raise CliError(str(exc)) from None
    sys.stdout.write(dumps_lines(rows))
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    from phrchain.client.trials import verify_audit

    if (args.validator is None) == (args.trust is None):
        raise CliError(say("trials.need_trust"))
    trust = None if args.trust is None else read_json_file(args.trust, "trusted validators")
    proven = verify_audit(Path(args.file).read_bytes(), args.validator, args.chain_id,
                          trust=trust)
    print_json(proven["state"])
    print(say("trials.verified", trial=proven["trial"], n=len(proven["state"]),
              height=proven["height"], exporter=proven["exporter"]), file=sys.stderr)
    return 0


# -- sponsor -------------------------------------------------------------------------------
def cmd_register(args: argparse.Namespace) -> int:
    protocol, sealed = _protocol(args.protocol, args.document)
    with phr_client(args, vaults=args.store) as rc:
        trial = _trials(rc).register(args.start_ms, protocol, args.trial)
        _store(rc, args, trial, "protocol", sealed)
    print(trial)
    print(say("trials.registered", trial=trial, salt=sealed.salt.hex()), file=sys.stderr)
    return 0


def cmd_amend(args: argparse.Namespace) -> int:
    protocol, sealed = _protocol(args.protocol, args.document)
    with phr_client(args, vaults=args.store) as rc:
        version = _trials(rc).amend(args.trial, protocol, args.reason, args.reconsent)
        _store(rc, args, args.trial, "protocol", sealed)
    print(say("trials.amended", trial=args.trial, version=version, salt=sealed.salt.hex()),
          file=sys.stderr)
    return 0


def cmd_commit(args: argparse.Namespace) -> int:
    document = Path(args.document).read_bytes()
    with phr_client(args, vaults=args.store) as rc:
        sealed = _trials(rc).commit(args.trial, args.kind, document)
        _store(rc, args, args.trial, args.kind, sealed)
    print(say("trials.committed", trial=args.trial, kind=args.kind, salt=sealed.salt.hex()),
          file=sys.stderr)
    return 0


def _store(rc: Any, args: argparse.Namespace, trial: str, kind: str, sealed: Any) -> None:
    """``--store``: the document, encrypted, into the sponsor's vault (its salt inside)."""
    if args.store:
        rc.trials.documents.store(trial, kind, Path(args.document).read_bytes(), sealed.salt,
                                  args.reader or ())


def cmd_document(args: argparse.Namespace) -> int:
    """A trial document from the sponsor's vault, checked against its commitment."""
    with phr_client(args) as rc:
        document = rc.trials.documents.fetch(args.trial, args.kind, args.commitment)
    Path(args.out).write_bytes(document)
    print(say("trials.document", path=args.out, kind=args.kind, trial=args.trial),
          file=sys.stderr)
    return 0


def cmd_simple(args: argparse.Namespace) -> int:
    """lock, unblind (sponsor); reconsent, withdraw (participant)."""
    with phr_client(args, vaults=False) as rc:
        answer = getattr(_trials(rc), args.action)(args.trial)
    if answer is not None:
        print_json(answer)
    return 0


def cmd_results(args: argparse.Namespace) -> int:
    outcomes = _reported(args.reported)
    report = Path(args.report).read_bytes()
    with phr_client(args, vaults=False) as rc:
        print_json(_trials(rc).results(args.trial, outcomes, report))
    return 0


# -- participant and investigator -----------------------------------------------------------
def cmd_enrol(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        print_json(_trials(rc).enrol(args.trial, args.site))
    return 0


def cmd_entry(args: argparse.Namespace) -> int:
    data = Path(args.data).read_bytes()
    with phr_client(args, vaults=False) as rc:
        entry, sealed = _trials(rc).entry(args.trial, args.participant, data,
                                          corrects=args.corrects, reason=args.reason)
    print(entry)
    print(say("trials.entry", entry=entry, salt=sealed.salt.hex()), file=sys.stderr)
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        _trials(rc).sign(args.trial, args.entry, args.meaning)
    return 0


# -- anyone, regulator ---------------------------------------------------------------------
def _fhir_view(node: Any, args: argparse.Namespace) -> dict[str, Any]:
    from phrchain.fhir import trials as fhir

    head = found(node, "trials/trial", "trial", trial=args.trial)
    if args.fhir == "ResearchStudy":
        labels = value(node, "trials/report", trial=args.trial)["labels"] or None
        version = value(node, "trials/version", trial=args.trial, version=head["version"])
        return fhir.research_study(head, version, labels)
    if args.fhir == "ResearchSubject":
        pseudonym = _need(args.participant, "--participant")
        return fhir.research_subject(head, found(node, "trials/participant", "participant",
                                                 participant=pseudonym, trial=args.trial))
    entry = _need(args.entry, "--entry")
    history = value(node, "trials/history", trial=args.trial, entry=entry)
    if history["entry"] is None:
        raise CliError(f"no entry {entry} in trial {args.trial}")
    return fhir.provenance(args.trial, history["entry"], history["signatures"])


def cmd_show(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        if args.fhir:
            from phrchain.fhir.jsonio import dumps

            print(dumps(_fhir_view(node, args)).decode())
            return 0
        print_json(found(node, "trials/trial", "trial", trial=args.trial))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        print_json(value(node, "trials/report", trial=args.trial))
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from phrchain.client.cometbft_rpc import CometRpc

    with phr_client(args, vaults=False) as rc:
        if args.cometbft_rpc:
            with CometRpc(args.cometbft_rpc) as rpc:
                data = _trials(rc).export_audit(args.trial, rpc)
        else:
            data = _trials(rc).export_audit(args.trial)
    Path(args.out).write_bytes(data)
    print(say("trials.wrote", path=args.out), file=sys.stderr)
    return 0


def _store_options(p: Any) -> None:
    p.add_argument("--store", action="store_true",
                   help="also keep the document, encrypted, in the sponsor's vault")
    p.add_argument("--reader", action="append",
                   help="(with --store) a DID that may read it too (repeatable)")


def trials_parser(sub: Any) -> None:
    signer, reader = [signer_options()], [reader_options()]
    p = add_command(sub, "classify", cmd_classify,
                    "label outcomes the COMPare way (no node): REGISTERED.json REPORTED.json")
    p.add_argument("registered", help='{"outcomes": [{id, measure, time_frame, kind}]}')
    p.add_argument("reported", help='{"outcomes": [{id, measure, time_frame, kind, '
                                    'declared_change}]}')
    p = add_command(sub, "verify", cmd_verify,
                    "check an audit proof file offline against the validators you trust")
    p.add_argument("file")
    p.add_argument("--validator", help="(solo-engine file) the validator's DID, from genesis")
    p.add_argument("--trust", help="(CometBFT file) the network's genesis.json, or "
                                   '{"validators": [...]} in its format: the trusted set')
    p.add_argument("--chain-id")
    for name, func, help_ in (("register", cmd_register, "(sponsor) register a trial"),
                              ("amend", cmd_amend, "(sponsor) a new protocol version")):
        p = add_command(sub, name, func, help_, signer)
        if name == "amend":
            p.add_argument("trial")
            p.add_argument("--reason", required=True)
            p.add_argument("--reconsent", action="store_true",
                           help="participants must consent again before more data entry")
        else:
            p.add_argument("--trial", help="the 32-hex id (default: a new random one)")
            p.add_argument("--start-ms", type=int, required=True,
                           help="first enrolment date, ms since epoch (not before now)")
        p.add_argument("--protocol", required=True,
                       help="JSON: registration, sites, arms, outcomes, withdrawal")
        p.add_argument("--document", required=True,
                       help="the protocol document (only its salted hash goes on chain)")
        _store_options(p)
    p = add_command(sub, "commit", cmd_commit,
                    "(sponsor) commit the statistical analysis plan or randomisation list",
                    signer)
    p.add_argument("trial")
    p.add_argument("--kind", required=True, choices=("sap", "randomisation"))
    p.add_argument("--document", required=True)
    _store_options(p)
    p = add_command(sub, "document", cmd_document,
                    "a protocol, SAP or randomisation list from the sponsor's vault, "
                    "checked against its on-chain commitment", signer)
    p.add_argument("trial")
    p.add_argument("--kind", required=True, choices=("protocol", "sap", "randomisation"))
    p.add_argument("--commitment", required=True, help="its commitment on chain (64 hex)")
    p.add_argument("--out", required=True)
    for action, help_ in (("lock", "(sponsor) lock the database"),
                          ("unblind", "(sponsor) unblind, after the lock"),
                          ("reconsent", "(participant) consent to the current version"),
                          ("withdraw", "(participant) leave the trial")):
        p = add_command(sub, action, cmd_simple, help_, signer)
        p.add_argument("trial")
        p.set_defaults(action=action)
    p = add_command(sub, "results", cmd_results, "(sponsor) report results, after the lock",
                    signer)
    p.add_argument("trial")
    p.add_argument("--reported", required=True, help="REPORTED.json (as for classify)")
    p.add_argument("--report", required=True, help="the results report (its hash is kept)")
    p = add_command(sub, "enrol", cmd_enrol,
                    "(participant, with the trial pseudonym's wallet) consent and enrol",
                    signer)
    p.add_argument("trial")
    p.add_argument("--site", required=True, help="the site organization's DID")
    p = add_command(sub, "entry", cmd_entry,
                    "(site investigator) anchor a case-report entry", signer)
    p.add_argument("trial")
    p.add_argument("--participant", required=True, help="the participant's trial pseudonym")
    p.add_argument("--data", required=True, help="the entry's data (only its hash is kept)")
    p.add_argument("--corrects", help="the entry this one corrects")
    p.add_argument("--reason", help="why (with --corrects)")
    p = add_command(sub, "sign", cmd_sign,
                    "(site investigator) sign an entry with its meaning", signer)
    p.add_argument("trial")
    p.add_argument("entry")
    p.add_argument("--meaning", required=True, choices=("review", "approval"))
    p = add_command(sub, "show", cmd_show, "a trial's head (or a FHIR R4 view)", reader)
    p.add_argument("trial")
    p.add_argument("--fhir", choices=("ResearchStudy", "ResearchSubject", "Provenance"))
    p.add_argument("--participant", help="the trial pseudonym (ResearchSubject)")
    p.add_argument("--entry", help="a case-report entry (Provenance)")
    p = add_command(sub, "report", cmd_report, "the outcome-switch report", reader)
    p.add_argument("trial")
    p = add_command(sub, "export", cmd_export,
                    "(regulator) the trial's signed audit proof file", signer)
    p.add_argument("trial")
    p.add_argument("--out", required=True)
    p.add_argument("--cometbft-rpc", metavar="URL", help="a CometBFT node's RPC: prove "
                   "the file with its commits (else the solo validator's header)")
