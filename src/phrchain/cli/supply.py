"""``phrchain supply …``: the drug supply chain (``client/supply.py``) for each role, and
``supply event-hash FILE``, which prints the CBV 2.0 event hash id of every event of an
EPCIS 2.0 document, one per line in document order (a trading partner checks its own
copy with it; no node or wallet needed)."""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from phrchain.cli.common import CliError, add_command, count, node_client, print_json
from phrchain.cli.i18n import say
from phrchain.cli.session import (
    found,
    paged,
    phr_client,
    reader_options,
    signer_options,
    value,
    write_private,
)


def cmd_event_hash(args: argparse.Namespace) -> int:
    from phrchain.epcis import EpcisError, event_hash_ids

    try:
        doc = json.loads(Path(args.file).read_bytes())
        ids = event_hash_ids(doc)
    except (OSError, ValueError, EpcisError, AttributeError, TypeError) as exc:
        raise CliError(say("supply.epcis", path=args.file, detail=exc)) from None
    for hash_id in ids:
        print(hash_id)
    return 0


def cmd_epcis(args: argparse.Namespace) -> int:
    """A unit's or a shipment's events, gathered from the participants' EPCIS copies,
    each kept only if its event hash id is recorded on chain (the rest are named on
    stderr): one EPCIS 2.0 document on stdout."""
    from phrchain.epcis import EpcisError, event_hash_id
    from phrchain.epcis.events import document, select

    events: list[Any] = []
    for path in args.file:
        try:
            doc = json.loads(Path(path).read_bytes())
            events += list(doc["epcisBody"]["eventList"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(say("supply.epcis", path=path, detail=exc)) from None
    try:
        chosen = select(events, unit=args.unit, shipment=args.shipment)
        ids = [event_hash_id(e) for e in chosen]
    except (EpcisError, KeyError, TypeError) as exc:
        raise CliError(say("supply.epcis", path=", ".join(args.file), detail=exc)) from None
    with node_client(args) as node:
        recorded = [e for e, i in zip(chosen, ids, strict=True)
                    if value(node, "supply/event", event_hash=i) is not None]
    for event, hash_id in zip(chosen, ids, strict=True):
        if event not in recorded:
            print(say("supply.not_recorded", event_hash=hash_id), file=sys.stderr)
    print_json(document(recorded, int(time.time() * 1000)))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """A controlled-substance movement report (CSV) from EPCIS copies: only events whose
    id is on chain, products as the chain registered them."""
    import csv

    from phrchain.epcis import EpcisError, event_hash_id
    from phrchain.epcis.report import COLUMNS, rows

    if args.format == "nims":
        return _nims_report(args)
    if not args.file:
        raise CliError(say("supply.report_files"))
    events: list[Any] = []
    for path in args.file:
        try:
            events += list(json.loads(Path(path).read_bytes())["epcisBody"]["eventList"])
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(say("supply.epcis", path=path, detail=exc)) from None
    with node_client(args) as node:
        try:
            kept = [e for e in events
                    if value(node, "supply/event", event_hash=event_hash_id(e)) is not None]
        except EpcisError as exc:
            raise CliError(say("supply.epcis", path=", ".join(args.file), detail=exc)) from None
        gtins = {u.split("/21/")[0].rsplit("/", 1)[-1] for e in kept
                 for u in e.get("epcList", []) if "/21/" in u}
        products = {g: p for g in sorted(gtins)
                    if (p := value(node, "supply/product", gtin=g)) is not None}
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows(kept, products, tuple(args.classes or ("narcotic", "psychotropic"))))
    return 0


def _nims_report(args: argparse.Namespace) -> int:
    """The NIMS-style statutory report (``phrchain.epcis.nims``): the pharmacy's log
    (``--log``) joined with the chain's dispenses, packs and products."""
    import csv

    from phrchain.client.pharmacy_log import PharmacyLog
    from phrchain.epcis.nims import COLUMNS, nims_rows

    if not args.log:
        raise CliError(say("supply.report_log"))
    log = PharmacyLog(Path(args.log)).load()
    with node_client(args) as node:
        dispenses = {d["dispense"]: found(node, "supply/dispense", "dispense",
                                          dispense=d["dispense"]) for d in log["dispenses"]}
        refs = sorted({u for d in dispenses.values() for u in d["units"]})
        units = {u: found(node, "supply/unit", "unit", unit=u) for u in refs}
        products = {g: found(node, "supply/product", "product", gtin=g)
                    for g in sorted({u.split("/")[0] for u in refs})}
    writer = csv.DictWriter(sys.stdout, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(nims_rows(log, dispenses, units, products,
                               tuple(args.classes or ("narcotic", "psychotropic"))))
    return 0


def cmd_administer(args: argparse.Namespace) -> int:
    """(hospital pharmacy / ward) Log what was given from a dispensed pack."""
    from decimal import Decimal, InvalidOperation

    from phrchain.client.pharmacy_log import PharmacyLog

    try:
        ug = Decimal(args.given_mg) * 1000
    except InvalidOperation:
        ug = Decimal(0)
    if ug != ug.to_integral_value() or ug <= 0:
        raise CliError(say("supply.given_mg", text=args.given_mg))
    PharmacyLog(Path(args.log)).record_administration(
        args.dispense, args.unit, int(ug), args.time_ms or time.time_ns() // 1_000_000)
    return 0


def cmd_new_key(args: argparse.Namespace) -> int:
    from phrchain.client.supply import MonitoringKey

    MonitoringKey.create().save(args.out)
    print(say("supply.new_key", path=args.out), file=sys.stderr)
    return 0


def _stamped(args: argparse.Namespace, step: str, act: Callable[[Any], Any]) -> int:
    """Run one stamped step; print its result; keep the sender's EPCIS copy if asked."""
    with phr_client(args, vaults=False) as rc:
        result = act(rc.supply)
        event_hash = rc.supply.events[-1] if rc.supply.events else None
        if args.epcis_out:
            write_private(args.epcis_out, json.dumps(rc.supply.epcis_document(),
                                                     indent=1).encode())
        from phrchain.epcis import event_hash_id

        if event_hash is not None:
            print(say("supply.recorded", step=step, event_hash=event_hash_id(event_hash)),
                  file=sys.stderr)
    if result is not None:
        print_json(result)
    return 0


def _ingredient(text: str) -> dict[str, Any]:
    parts = text.split(":")
    if len(parts) != 3 or not parts[2].isascii() or not parts[2].isdigit():
        raise CliError(say("supply.ingredient", text=repr(text)))
    return {"rxnorm": parts[0], "atc": parts[1], "ug": int(parts[2])}


def cmd_register_product(args: argparse.Namespace) -> int:
    ingredients = sorted((_ingredient(t) for t in args.ingredient), key=lambda i: i["rxnorm"])
    with phr_client(args, vaults=False) as rc:
        gtin = rc.supply.register_product(args.gtin, args.name, ingredients, args.dose_form,
                                          args.dose_units, args.controlled)
    print_json({"gtin": gtin})
    return 0


def cmd_set_params(args: argparse.Namespace) -> int:
    from phrchain.cli.common import read_json_file
    from phrchain.modules.supply.messages import SetParams

    table = read_json_file(args.file, "supply parameters")
    with phr_client(args, vaults=False) as rc:
        rc.session.send([SetParams.parse({"params": table}).to_msg()])
    return 0


def cmd_dispense(args: argparse.Namespace) -> int:
    from phrchain.client.supply import MonitoringKey, Prescription
    from phrchain.epcis import BarcodeError, parse_element_string

    try:
        scans = [parse_element_string(text) for text in args.scan]
    except BarcodeError as exc:
        raise CliError(say("supply.scan", detail=exc)) from None
    key = MonitoringKey.load(args.key)
    rx = Prescription(args.record, args.quantity, args.refills, args.days, args.salt)
    authorization = None
    if args.authorization:
        try:
            authorization = json.loads(Path(args.authorization).read_text())["authorization"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise CliError(say("supply.authorization", path=args.authorization,
                               detail=exc)) from None

    def act(supply: Any) -> Any:
        dispense = supply.dispense(key, args.patient, rx, scans, args.prescriber,
                                   args.stewardship, args.exemption,
                                   authorization=authorization)
        if args.log:
            from phrchain.client.pharmacy_log import PharmacyLog

            PharmacyLog(Path(args.log)).record_dispense(
                dispense, args.patient_ref or args.patient, args.record)
        return {"dispense": dispense, "salt": rx.salt, "rx_commitment": rx.commitment()}

    return _stamped(args, "dispensing", act)


def cmd_prescribe(args: argparse.Namespace) -> int:
    """(physician) Sign a prescription's registration (salted commitment, limits, issue
    day); print it with the salt, for the pharmacy (with the record id). Nothing is
    sent: the pharmacy submits it with the first fill (``dispense --authorization``)."""
    from phrchain.client.supply import MonitoringKey, Prescription

    key = MonitoringKey.load(args.key)
    rx = Prescription(args.record, args.quantity, args.refills, args.days,
                      args.salt or secrets.token_hex(16))
    with phr_client(args, vaults=False) as rc:
        signed = rc.supply.prescribe(key, args.patient, rx, args.valid_days)
    print_json({"authorization": signed, "salt": rx.salt, "record": args.record})
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from phrchain.client.supply import MonitoringKey

    key = MonitoringKey.load(args.key)
    with phr_client(args, vaults=False) as rc:
        print_json(rc.supply.history(key, args.patient))
    return 0


def cmd_read_history(args: argparse.Namespace) -> int:
    """(physician) The statutory read before a strong opioid: recorded on chain (the
    patient is shown it), then the patient's controlled dispenses of the past year."""
    from phrchain.client.supply import MonitoringKey

    key = MonitoringKey.load(args.key)
    with phr_client(args, vaults=False) as rc:
        print_json(rc.supply.prescriber_history(key, args.patient, args.purpose))
    return 0


_SHOWN = {"unit": "unit", "shipment": "shipment", "alert": "alert", "dispense": "dispense",
          "product": "gtin"}


def cmd_show(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        print_json(found(node, f"supply/{args.what}", args.what,
                         **{_SHOWN[args.what]: args.id}))
    return 0


def cmd_fhir(args: argparse.Namespace) -> int:
    from phrchain.fhir import supply as fhir

    with node_client(args) as node:
        if args.what == "shipment":
            print_json(fhir.supply_delivery(found(node, "supply/shipment", "shipment",
                                                  shipment=args.id)))
            return 0
        if args.what == "product":
            print_json(fhir.medication(found(node, "supply/product", "product", gtin=args.id)))
            return 0
        dispense = found(node, "supply/dispense", "dispense", dispense=args.id)
        units = [found(node, "supply/unit", "unit", unit=u) for u in dispense["units"]]
        products = {g: found(node, "supply/product", "product", gtin=g)
                    for g in {u["unit"].split("/")[0] for u in units}}
        print_json(fhir.medication_dispense(dispense, units, products, patient=args.patient,
                                            prescription=args.prescription))
    return 0


def cmd_alerts(args: argparse.Namespace) -> int:
    with node_client(args) as node:
        print_json(list(paged(node, "supply/alerts", "alerts")))
    return 0


def cmd_close_alert(args: argparse.Namespace) -> int:
    with phr_client(args, vaults=False) as rc:
        rc.supply.close_alert(args.alert, args.outcome)
    return 0


def _moving(method: str) -> Callable[[argparse.Namespace], int]:
    def run(args: argparse.Namespace) -> int:
        return _stamped(args, "shipping", lambda s: {
            "shipment": getattr(s, method)(args.to, args.unit, args.case)})
    return run


def _units(p: argparse.ArgumentParser, cases: bool = True) -> None:
    p.add_argument("--unit", action="append", default=[], help="<GTIN-14>/<serial>")
    if cases:
        p.add_argument("--case", action="append", default=[], help="an SSCC")


def supply_parser(sub: Any) -> None:
    signer, reader = [signer_options()], [reader_options()]
    stamped = argparse.ArgumentParser(add_help=False, parents=[signer_options()])
    stamped.add_argument("--epcis-out", help="write the EPCIS 2.0 document of the step "
                         "(the sender's copy, kept off chain) to this new file")
    p = add_command(sub, "event-hash", cmd_event_hash,
                    "the CBV 2.0 event hash id of every event of an EPCIS 2.0 JSON/JSON-LD "
                    "document, one per line in document order")
    p.add_argument("file")
    p = add_command(sub, "epcis", cmd_epcis,
                    "a unit's or a shipment's events from the participants' EPCIS copies, "
                    "each checked against its event hash id on chain, as one EPCIS 2.0 "
                    "document", reader)
    p.add_argument("file", nargs="+", help="EPCIS 2.0 documents (the senders' copies)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--unit", help="<GTIN-14>/<serial>")
    which.add_argument("--shipment")
    p = add_command(sub, "report", cmd_report,
                    "a controlled-substance movement report (CSV) from EPCIS copies, each "
                    "event checked on chain", reader)
    p.add_argument("file", nargs="*", help="EPCIS 2.0 documents (your own copies; the "
                   "movements report)")
    p.add_argument("--format", choices=["movements", "nims"], default="movements",
                   help="movements: every controlled pack's receipt, dispense, disposal, "
                   "loss, sample, export from EPCIS copies; nims: the statutory dispense / "
                   "administration / disposal report from --log and the chain "
                   "(columns: phrchain.epcis.nims)")
    p.add_argument("--log", help="(nims) the pharmacy's log file (supply dispense --log)")
    p.add_argument("--class", dest="classes", action="append",
                   choices=["narcotic", "psychotropic", "none"],
                   help="controlled classes to report (default narcotic and psychotropic)")
    p = add_command(sub, "administer", cmd_administer,
                    "(hospital pharmacy) log what was given from a dispensed pack; the rest "
                    "is reported as wasted")
    p.add_argument("--log", required=True, help="the pharmacy's log file")
    p.add_argument("--dispense", required=True)
    p.add_argument("--unit", required=True, help="<GTIN-14>/<serial> of the pack")
    p.add_argument("--given-mg", required=True, help="amount given in mg, e.g. 30 or 2.5")
    p.add_argument("--time-ms", type=count, help="when it was given (default: now)")
    p = add_command(sub, "new-key", cmd_new_key, "(regulator) a new monitoring key file")
    p.add_argument("--out", required=True)
    p = add_command(sub, "set-params", cmd_set_params,
                    "(authority) the next version of the supply parameter table", signer)
    p.add_argument("--file", required=True, help="JSON table (modules/supply/README.md)")
    p = add_command(sub, "register-product", cmd_register_product,
                    "(manufacturer) register a GTIN", signer)
    p.add_argument("--gtin", required=True)
    p.add_argument("--name", required=True)
    p.add_argument("--ingredient", action="append", required=True,
                   help="RXNORM:ATC:MICROGRAMS per dose unit, once per ingredient")
    p.add_argument("--dose-form", required=True)
    p.add_argument("--dose-units", type=count, required=True, help="dose units per pack")
    p.add_argument("--controlled", required=True, choices=["narcotic", "psychotropic", "none"])
    p = add_command(sub, "commission", lambda a: _stamped(a, "commissioning", lambda s: {
        "units": s.commission(a.gtin, a.lot, a.expiry, a.serial)}),
        "(manufacturer) commission serials of one lot", [stamped])
    p.add_argument("--gtin", required=True)
    p.add_argument("--lot", required=True)
    p.add_argument("--expiry", required=True, help="YYMMDD")
    p.add_argument("--serial", action="append", required=True)
    p = add_command(sub, "pack", lambda a: _stamped(a, "packing", lambda s: s.pack(
        a.sscc, a.unit, a.case)), "pack units, or cases (a pallet), into a case", [stamped])
    p.add_argument("--sscc", required=True)
    _units(p)
    p = add_command(sub, "unpack", lambda a: _stamped(a, "unpacking", lambda s: s.unpack(
        a.sscc)), "unpack a case", [stamped])
    p.add_argument("--sscc", required=True)
    for name, method, help_ in (("ship", "ship", "ship units and cases"),
                                ("return", "return_units",
                                 "return units and cases to their manufacturer")):
        p = add_command(sub, name, _moving(method), help_, [stamped])
        p.add_argument("--to", required=True, help="the receiving organization's DID")
        _units(p)
    p = add_command(sub, "receive", lambda a: _stamped(a, "receiving", lambda s: s.receive(
        a.shipment, a.unit, a.case)), "receive what was scanned of a shipment", [stamped])
    p.add_argument("shipment")
    _units(p)
    p = add_command(sub, "decommission", lambda a: _stamped(
        a, "decommissioning", lambda s: s.decommission(a.unit, a.reason)),
        "take units out of the supply chain", [stamped])
    p.add_argument("--reason", required=True,
                   choices=["destroyed", "stolen", "sample", "exported"])
    _units(p, cases=False)
    p = add_command(sub, "reverse", lambda a: _stamped(a, "reversal", lambda s: s.reverse(
        a.unit)), "undo a decommissioning (same party, within the window)", [stamped])
    _units(p, cases=False)
    p = add_command(sub, "recall", lambda a: _stamped(a, "recall", lambda s: s.recall(
        a.gtin, a.lot)), "(manufacturer) recall a lot", [stamped])
    p.add_argument("--gtin", required=True)
    p.add_argument("--lot", required=True)
    p = add_command(sub, "dispense", cmd_dispense,
                    "(pharmacist) dispense scanned packs against a prescription", [stamped])
    p.add_argument("--key", required=True, help="the monitoring key file")
    p.add_argument("--patient", required=True, help="the patient's DID (never sent)")
    p.add_argument("--record", required=True, help="the prescription record id")
    p.add_argument("--quantity", type=count, required=True, help="packs per fill")
    p.add_argument("--refills", type=count, default=0)
    p.add_argument("--days", type=count, required=True, help="days of supply")
    p.add_argument("--prescriber", required=True)
    p.add_argument("--scan", action="append", required=True,
                   help="a pack's GS1 code, (01)…(17)…(10)…(21)… or as the scanner sends it")
    p.add_argument("--stewardship", help="justification code (Reserve antibiotics)")
    p.add_argument("--exemption", help="exemption code, e.g. cancer_pain")
    p.add_argument("--salt", required=True,
                   help="the commitment's salt the prescriber gave (supply prescribe)")
    p.add_argument("--authorization", help="the file supply prescribe printed: the "
                   "prescriber's signed registration, submitted with the first fill")
    p.add_argument("--log", help="the pharmacy's log file: record which patient this "
                   "dispense was for (for the statutory report; never sent)")
    p.add_argument("--patient-ref", help="how the log names the patient (default: the DID)")
    p = add_command(sub, "prescribe", cmd_prescribe,
                    "(physician) sign a prescription's commitment and limits for the pharmacy",
                    signer)
    p.add_argument("--key", required=True, help="the monitoring key file")
    p.add_argument("--patient", required=True, help="the patient's DID (never sent)")
    p.add_argument("--record", required=True, help="the prescription record id (never sent)")
    p.add_argument("--quantity", type=count, required=True, help="packs per fill")
    p.add_argument("--refills", type=count, default=0)
    p.add_argument("--days", type=count, required=True, help="days of supply")
    p.add_argument("--valid-days", type=count, default=30,
                   help="days the prescription may be dispensed (default 30)")
    p.add_argument("--salt", help="the commitment's salt (default: random, printed)")
    p = add_command(sub, "history", cmd_history,
                    "a patient's dispenses (needs the monitoring key)", signer)
    p.add_argument("--key", required=True)
    p.add_argument("--patient", required=True)
    p = add_command(sub, "read-history", cmd_read_history,
                    "(physician) statutory read of a patient's controlled dispenses of the "
                    "past year, recorded on chain and shown to the patient", signer)
    p.add_argument("--key", required=True)
    p.add_argument("--patient", required=True, help="the patient's DID (never sent)")
    p.add_argument("--purpose", default="strong_opioid",
                   choices=["strong_opioid", "controlled_prescription"])
    p = add_command(sub, "show", cmd_show, "one unit, shipment, alert, dispense or product",
                    reader)
    p.add_argument("what", choices=sorted(_SHOWN))
    p.add_argument("id")
    p = add_command(sub, "fhir", cmd_fhir, "a dispense, shipment or product as FHIR R4 "
                    "(MedicationDispense, SupplyDelivery, Medication)", reader)
    p.add_argument("what", choices=["dispense", "shipment", "product"])
    p.add_argument("id")
    p.add_argument("--patient", help="(dispense) a Patient reference the pharmacy knows")
    p.add_argument("--prescription", help="(dispense) a MedicationRequest reference")
    add_command(sub, "alerts", cmd_alerts, "open alerts (the regulator's board)", reader)
    p = add_command(sub, "close-alert", cmd_close_alert,
                    "(notified prescriber or pharmacy, or regulator) close an alert", signer)
    p.add_argument("alert")
    p.add_argument("--outcome", required=True,
                   choices=["false_positive", "justified", "intervened", "referred"])
