"""The supply chain end to end through the SDK, the API and the CLI (issue 15): a solo
node and vaults; an authority sets the parameters; a manufacturer, a wholesaler and a
pharmacy move serialized packs (with a case) to a pharmacist who dispenses one against a
prescription record written by a physician; the EPCIS copies the senders keep hash to
the ids on chain (also through ``phrchain supply event-hash``); and, playing an insurer
that holds every chain byte, nothing links the dispensed pack to the patient's DID, the
prescription record or a name."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.cli.main import main
from phrchain.client.http import ApiError
from phrchain.client.pharmacy_log import PharmacyLog
from phrchain.client.supply import MonitoringKey, Prescription
from phrchain.epcis import event_hash_ids
from tests.consortium import A1, Consortium, P, Q, running
from tests.linkage import chain_documents, link
from tests.supplyflow import (
    CASE,
    GTIN,
    MANUFACTURER,
    MEDICATION_REQUEST,
    PHARMACIST,
    PHARMACY,
    WHOLESALER,
    admit,
)


def _admit(c: Consortium) -> None:
    admit(c)


def _export(c: Consortium, unit: str, paths: list[Path], pharmacy_doc: dict[str, Any]
            ) -> tuple[int, dict[str, Any], str]:
    """``phrchain supply epcis --unit`` over the three copies (exit code, document,
    stderr)."""
    import contextlib
    import io

    paths[2].write_text(json.dumps(pharmacy_doc))
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["supply", "epcis", "--node", c.api_url, "--unit", unit,
                     *map(str, paths)])
    return code, json.loads(out.getvalue()), err.getvalue()


def _report(c: Consortium, path: Path) -> list[str]:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["supply", "report", "--node", c.api_url, str(path)]) == 0
    return out.getvalue().splitlines()


def _cli_first_fill(c: Consortium, tmp: Path, key: MonitoringKey, unit: str
                    ) -> dict[str, Any]:
    """``supply prescribe`` (A1's wallet) prints the signed registration; ``supply
    dispense --authorization --salt --log`` (the pharmacist's) fills it."""
    import contextlib
    import io

    from tests.webui import CHEAP_KDF

    (tmp / "pass").write_text("a long enough passphrase\n")
    key.save(tmp / "monitoring.key")
    for name, who in (("a1", A1), ("pharmacist", PHARMACIST)):
        who.save(tmp / f"{name}.wallet", "a long enough passphrase", kdf=CHEAP_KDF)
    record = c.client(A1).records.add_resource(MEDICATION_REQUEST, P.did)
    rx = ["--key", str(tmp / "monitoring.key"), "--patient", P.did, "--record", record,
          "--quantity", "1", "--days", "5", "--node", c.api_url,
          "--passphrase-file", str(tmp / "pass")]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["supply", "prescribe", *rx, "--wallet", str(tmp / "a1.wallet")]) == 0
    signed = json.loads(out.getvalue())
    (tmp / "authorization.json").write_text(out.getvalue())
    gtin, serial = unit.split("/")
    assert main(["supply", "dispense", *rx, "--wallet", str(tmp / "pharmacist.wallet"),
                 "--prescriber", A1.did, "--salt", signed["salt"],
                 "--scan", f"(01){gtin}(17)301231(10)L7(21){serial}",
                 "--authorization", str(tmp / "authorization.json"),
                 "--log", str(tmp / "cli.log"), "--patient-ref", "H-0002"]) == 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["supply", "read-history", "--key", str(tmp / "monitoring.key"),
                     "--patient", P.did, "--purpose", "controlled_prescription",
                     "--node", c.api_url, "--passphrase-file", str(tmp / "pass"),
                     "--wallet", str(tmp / "a1.wallet")]) == 0
    read = json.loads(out.getvalue())
    return {"unit": c.query("supply/unit", unit=unit), "signed": signed, "read": read,
            "reads": c.client(P).supply.history_reads(key, P.did),
            "log": PharmacyLog(tmp / "cli.log").load()["dispenses"],
            "rx": c.query("supply/rx", rx=key.rx_tag(record))}


def _nims(c: Consortium, log: Path, dispense: str, unit: str) -> list[str]:
    """``supply administer`` 2.5 mg from one pack, then ``supply report --format nims``."""
    import contextlib
    import io

    assert main(["supply", "administer", "--log", str(log), "--dispense", dispense,
                 "--unit", unit, "--given-mg", "2.5", "--time-ms", "1800000000000"]) == 0
    assert main(["supply", "administer", "--log", str(log), "--dispense", dispense,
                 "--unit", unit, "--given-mg", "1.0001"]) != 0
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["supply", "report", "--format", "nims", "--node", c.api_url,
                     "--log", str(log)]) == 0
    return out.getvalue().splitlines()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("supply")
    key = MonitoringKey.create()
    with running(tmp) as c:
        _admit(c)
        record = c.client(A1).records.add_resource(MEDICATION_REQUEST, P.did)
        maker = c.client(MANUFACTURER).supply
        maker.register_product(GTIN, "Morphine 10 mg tablets",
                               [{"rxnorm": "7052", "atc": "N02AA01", "ug": 10_000}],
                               "tablet", 30, "narcotic")
        units = maker.commission(GTIN, "L7", "301231", [f"S{n}" for n in range(4)])
        maker.pack(CASE, units[:3])
        shipment = maker.ship(WHOLESALER.did, units[3:], [CASE])
        trader = c.client(WHOLESALER).supply
        assert trader.receive(shipment, units[3:], [CASE])["status"] == "received"
        onward = trader.ship(PHARMACY.did, units[3:], [CASE])
        pharmacy = c.client(PHARMACIST).supply
        assert pharmacy.receive(onward, units[3:], [CASE])["status"] == "received"
        pharmacy.unpack(CASE)
        rx = Prescription(record, quantity=2, refills=0, days_supply=10,
                          salt="ab" * 16)
        codes = [f"(01){GTIN}(17)301231(10)L7(21){u.split('/')[1]}" for u in units[:2]]
        signed = c.client(A1).supply.prescribe(key, P.did, rx)
        unregistered = pharmacy.prescription(key, record)
        dispense = pharmacy.dispense(key, P.did, rx, codes, A1.did, authorization=signed)
        try:  # the same packs again: refused by the chain
            pharmacy.dispense(key, Q.did, Prescription(record, 1, 0, 1, "cd" * 16),
                              codes[:1], A1.did)
            double: Any = None
        except ApiError as exc:
            double = exc
        maker_doc, trader_doc = tmp / "maker-copy.jsonld", tmp / "trader-copy.jsonld"
        maker_doc.write_text(json.dumps(maker.epcis_document()))
        forged = trader.epcis_document()
        forged["epcisBody"]["eventList"].append(
            {**forged["epcisBody"]["eventList"][0], "eventTime": "2001-01-01T00:00:00.000Z"})
        trader_doc.write_text(json.dumps(forged))
        export = _export(c, units[0], [maker_doc, trader_doc, tmp / "pharmacy-copy.jsonld"],
                         pharmacy.epcis_document())
        report = _report(c, tmp / "pharmacy-copy.jsonld")
        PharmacyLog(tmp / "pharmacy.log").record_dispense(dispense, "H-0001", record)
        nims = _nims(c, tmp / "pharmacy.log", dispense, units[0])
        prior = c.client(A1).supply.prescriber_history(key, P.did)
        reads = c.client(P).supply.history_reads(key, P.did)
        docs = {"maker": maker.epcis_document(), "pharmacy": pharmacy.epcis_document()}
        stored = {h: c.query("supply/event", event_hash=h)
                  for doc in docs.values() for h in event_hash_ids(doc)}
        state = {"units": [c.query("supply/unit", unit=u) for u in units],
                 "dispense": c.query("supply/dispense", dispense=dispense),
                 "history": pharmacy.history(key, P.did), "prior": prior,
                 "reads": reads, "export": export, "report": report, "nims": nims,
                 "unregistered": unregistered,
                 "registered": pharmacy.prescription(key, record)}
        state["cli"] = _cli_first_fill(c, tmp, key, units[2])
    yield {"home": tmp / "node", "key": key, "record": record, "units": units,
           "dispense": dispense, "docs": docs, "stored": stored, "state": state,
           "double": double, "tmp": tmp}


def test_the_path_ends_with_one_dispensed_pack_per_scan(world: dict[str, Any]) -> None:
    statuses = [u["status"] for u in world["state"]["units"]]
    assert statuses == ["dispensed", "dispensed", "active", "active"]
    assert {u["owner"] for u in world["state"]["units"]} == {PHARMACY.did}
    dispense = world["state"]["dispense"]
    assert dispense["patient"] == world["key"].patient_tag(P.did)
    assert dispense["rx"] == world["key"].rx_tag(world["record"])
    assert [d["dispense"] for d in world["state"]["history"]] == [world["dispense"]]
    assert "already_dispensed" in str(world["double"])


def test_the_prescription_registers_with_its_first_fill(world: dict[str, Any]) -> None:
    """The prescriber's signature travels with the prescription; the chain records it
    only when the pharmacy fills it (not when the record was written)."""
    assert world["state"]["unregistered"] is None
    registered = world["state"]["registered"]
    assert (registered["prescriber"], registered["fills"], registered["status"]) == \
        (A1.did, 1, "active")
    assert registered["patient"] == world["key"].patient_tag(P.did)


def test_cli_prescribe_then_dispense_with_the_authorization(world: dict[str, Any]) -> None:
    cli = world["state"]["cli"]
    assert cli["signed"]["authorization"]["prescriber"] == A1.did
    assert cli["unit"]["status"] == "dispensed"
    assert cli["rx"]["fills"] == 1 and cli["rx"]["prescriber"] == A1.did
    assert [(d["dispense"], d["patient_ref"]) for d in cli["log"]] == \
        [(cli["unit"]["dispense"], "H-0002")]
    # supply read-history: the statutory read, recorded, returns both fills
    assert len(cli["read"]) == 2
    assert [r["purpose"] for r in cli["reads"]] == ["strong_opioid", "controlled_prescription"]


def test_a_prescriber_reads_the_past_year_and_the_patient_sees_the_read(
        world: dict[str, Any]) -> None:
    assert [d["dispense"] for d in world["state"]["prior"]] == [world["dispense"]]
    assert [(r["reader"], r["purpose"]) for r in world["state"]["reads"]] == \
        [(A1.did, "strong_opioid")]


def test_every_kept_event_hashes_to_an_id_on_chain(world: dict[str, Any]) -> None:
    steps = {h: e["step"] for h, e in world["stored"].items() if e is not None}
    # the manufacturer's three and the pharmacy's three (its refused dispense kept none)
    assert len(steps) == len(world["stored"]) == 6
    assert sorted(steps.values()) == sorted(["commissioning", "packing", "shipping",
                                             "receiving", "unpacking", "dispensing"])


def test_cli_epcis_gathers_a_units_events_checked_against_the_chain(
        world: dict[str, Any]) -> None:
    code, doc, err = world["state"]["export"]
    assert code == 0
    steps = [(e["type"], e["bizStep"]) for e in doc["epcisBody"]["eventList"]]
    # commissioned, packed, the case shipped and received twice, unpacked, dispensed
    assert steps == [("ObjectEvent", "commissioning"), ("AggregationEvent", "packing"),
                     ("ObjectEvent", "shipping"), ("ObjectEvent", "receiving"),
                     ("ObjectEvent", "shipping"), ("ObjectEvent", "receiving"),
                     ("AggregationEvent", "unpacking"), ("ObjectEvent", "dispensing")]
    # the forged copy of the wholesaler's receipt is not on chain: left out, and said
    assert all(e["eventTime"] > "2002" for e in doc["epcisBody"]["eventList"])
    assert err.count("left out") == 1


def test_cli_report_lists_the_pharmacys_controlled_movements(world: dict[str, Any]) -> None:
    header, *lines = world["state"]["report"]
    assert header.startswith("date,kind,gtin,serial,lot,product,controlled")
    kinds = sorted((line.split(",")[1], line.split(",")[3]) for line in lines)
    # the loose unit received, and the two packs dispensed (the case's units were
    # received inside it)
    assert kinds == [("dispense", "S0"), ("dispense", "S1"), ("receipt", "S3")]


def test_cli_nims_report_from_the_ledger_and_the_pharmacy_log(
        world: dict[str, Any]) -> None:
    header, *lines = world["state"]["nims"]
    assert header.split(",")[:4] == ["date", "kind", "reporter", "dispense"]
    rows = [line.split(",") for line in lines]
    # two packs dispensed whole (30 x 10 mg), 2.5 mg given from the first, 297.5 wasted
    assert [(r[1], r[5], r[12], r[14], r[15]) for r in rows] == [
        ("dispense", "S0", "300", "H-0001", ""),
        ("administration", "S0", "2.5", "H-0001", ""),
        ("disposal", "S0", "297.5", "H-0001", "wasted_remainder"),
        ("dispense", "S1", "300", "H-0001", "")]
    assert {r[2] for r in rows} == {PHARMACY.did} and rows[1][0] == "2027-01-15"


def test_cli_event_hash_prints_one_id_per_event_in_order(world: dict[str, Any],
                                                         capsys: pytest.CaptureFixture[str]
                                                         ) -> None:
    path = world["tmp"] / "maker.jsonld"
    path.write_text(json.dumps(world["docs"]["maker"]))
    assert main(["supply", "event-hash", str(path)]) == 0
    printed = capsys.readouterr().out.split()
    assert printed == event_hash_ids(world["docs"]["maker"])
    assert len(printed) == 3  # commission, pack, ship
    bad = world["tmp"] / "bad.json"
    bad.write_text('{"epcisBody": {"eventList": [{"type": "Nonsense"}]}}')
    assert main(["supply", "event-hash", str(bad)]) == 2


def test_an_insurer_holding_every_chain_byte_cannot_link_the_dispense(
        world: dict[str, Any]) -> None:
    documents = list(chain_documents(world["home"]))
    dispense, tags = world["dispense"], {world["key"].patient_tag(P.did),
                                        world["key"].rx_tag(world["record"])}
    attributed = link(documents, [P.did, Q.did], (), ())
    for did in (P.did, Q.did):
        joined = attributed[did].identifiers
        assert dispense not in joined and not tags & joined
        assert world["record"] not in attributed[Q.did].identifiers
    secret = {P.did, Q.did, world["record"], P.label, Q.label}
    near = [d for d in documents if dispense in json.dumps(d.value)
            or any(t in json.dumps(d.value) for t in tags)]
    assert near, "the dispense is on chain"
    for doc in near:
        text = json.dumps(doc.value)
        assert not [s for s in secret if s in text], doc
    # no name of a patient in any chain byte
    assert not [d for d in documents if P.label in json.dumps(d.value)]
