"""The NIMS-style statutory report generated from the ledger and the pharmacy's store:
exact lines for a scenario with two 50 mg morphine ampoules given in fractions (30 mg:
20 mg wasted; 20 + 25 mg: 5 mg wasted), a morphine tablet pack dispensed whole, and an
antibiotic left out; an administration that names no dispensed pack, or gives more than
the pack holds, is refused."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.pharmacy_log import PharmacyLog
from phrchain.epcis.errors import PharmacyError
from phrchain.epcis.nims import COLUMNS, mg, nims_rows
from tests.supplyworld import World

T = 1_700_100_000_000   # 2023-11-16T01:46:40Z


def _chain(w: World, ids: list[str]) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    dispenses = {d: w.q("supply/dispense", dispense=d) for d in ids}
    refs = [u for d in dispenses.values() for u in d["units"]]
    units = {u: w.q("supply/unit", unit=u) for u in refs}
    products = {g: w.q("supply/product", gtin=g) for g in {u.split("/")[0] for u in refs}}
    return dispenses, units, products


def _csv(rows: list[dict[str, Any]]) -> list[str]:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().splitlines()


@pytest.fixture
def scenario(tmp_path: Path) -> dict[str, Any]:
    w = World.build()
    amps = w.stock("morphine50amp", 2, lot="A5", expiry="281130")
    pack = w.stock("morphine10", 1, lot="T1", expiry="291231")
    amox = w.stock("amoxicillin", 1)
    ids = ["a1" * 16, "b2" * 16, "c3" * 16]
    for d, units, patient in ((ids[0], amps, "alice"), (ids[1], pack, "bob"),
                              (ids[2], amox, "carol")):
        result = w.dispense(units, patient=patient, dispense=d, days=1)
        assert result.ok, result.log
    log = PharmacyLog(tmp_path / "pharmacy.log.json")
    for d, ref in zip(ids, ("H-0001", "H-0002", "H-0003"), strict=True):
        log.record_dispense(d, ref, f"record-{ref}")
    log.record_administration(ids[0], amps[0], 30_000, T)
    log.record_administration(ids[0], amps[1], 20_000, T + 3_600_000)
    log.record_administration(ids[0], amps[1], 25_000, T + 86_400_000)
    return {"w": w, "ids": ids, "amps": amps, "pack": pack, "log": log}


def test_mg_is_exact() -> None:
    assert [mg(v) for v in (20_000, 2_500, 1, 50_000_000, 0)] == \
        ["20", "2.5", "0.001", "50000", "0"]


def test_the_report_lines_are_generated_exactly(scenario: dict[str, Any]) -> None:
    w, ids, log = scenario["w"], scenario["ids"], scenario["log"]
    dispenses, units, products = _chain(w, ids)
    lines = _csv(nims_rows(log.load(), dispenses, units, products))
    amp1, amp2 = (u.split("/")[1] for u in scenario["amps"])
    pack = scenario["pack"][0].split("/")[1]
    ph, dr = w.pharmacy.did, w.physician.did
    amp_gtin, pack_gtin = scenario["amps"][0].split("/")[0], scenario["pack"][0].split("/")[0]
    ev = {d: dispenses[d]["event_hash"] for d in ids}
    amp = f"{ph},{ids[0]},{amp_gtin}"
    tail_a = f"{dr},H-0001"
    assert lines == [
        "date,kind,reporter,dispense,gtin,serial,lot,expiry,product,controlled,rxnorm,"
        "dose_units,amount_mg,prescriber,patient_ref,reason,event_hash",
        f"2023-11-14,dispense,{amp},{amp1},A5,281130,morphine50amp,narcotic,7052,1,50,"
        f"{tail_a},,{ev[ids[0]]}",
        f"2023-11-16,administration,{amp},{amp1},A5,281130,morphine50amp,narcotic,7052,,30,"
        f"{tail_a},,{ev[ids[0]]}",
        f"2023-11-16,disposal,{amp},{amp1},A5,281130,morphine50amp,narcotic,7052,,20,"
        f"{tail_a},wasted_remainder,{ev[ids[0]]}",
        f"2023-11-14,dispense,{amp},{amp2},A5,281130,morphine50amp,narcotic,7052,1,50,"
        f"{tail_a},,{ev[ids[0]]}",
        f"2023-11-16,administration,{amp},{amp2},A5,281130,morphine50amp,narcotic,7052,,20,"
        f"{tail_a},,{ev[ids[0]]}",
        f"2023-11-17,administration,{amp},{amp2},A5,281130,morphine50amp,narcotic,7052,,25,"
        f"{tail_a},,{ev[ids[0]]}",
        f"2023-11-17,disposal,{amp},{amp2},A5,281130,morphine50amp,narcotic,7052,,5,"
        f"{tail_a},wasted_remainder,{ev[ids[0]]}",
        f"2023-11-14,dispense,{ph},{ids[1]},{pack_gtin},{pack},T1,291231,morphine10,narcotic,"
        f"7052,30,300,{dr},H-0002,,{ev[ids[1]]}",
    ]


def test_bad_administrations_are_refused(scenario: dict[str, Any], tmp_path: Path) -> None:
    w, ids, log = scenario["w"], scenario["ids"], scenario["log"]
    dispenses, units, products = _chain(w, ids)
    body = log.load()
    too_much = {**body, "administrations": [
        *body["administrations"],
        {"dispense": ids[0], "unit": scenario["amps"][0], "given_ug": 20_001, "time_ms": T}]}
    with pytest.raises(PharmacyError, match="given of a 50 mg"):
        nims_rows(too_much, dispenses, units, products)
    elsewhere = {**body, "administrations": [
        {"dispense": ids[1], "unit": scenario["amps"][0], "given_ug": 1, "time_ms": T}]}
    with pytest.raises(PharmacyError):
        nims_rows(elsewhere, dispenses, units, products)
    with pytest.raises(PharmacyError):
        log.record_administration("ff" * 16, scenario["amps"][0], 1, T)
    with pytest.raises(PharmacyError):
        log.record_administration(ids[0], scenario["amps"][0], 0, T)
    assert (tmp_path / "pharmacy.log.json").stat().st_mode & 0o777 == 0o600
