"""The supply pages of the web UI over HTTP and in a real browser, on a running
consortium: packs move manufacturer → wholesaler → pharmacy; physician A1 reads patient
P's controlled history (a statutory read) and registers three prescriptions; the
pharmacist dispenses through the dispense screen (a counterfeit, a bad code, an unknown
prescription and a double dispense refused with their stable codes, in Korean in the
browser); zolpidem above 10 mg a day raises an alert the regulator's auditor sees on the
board (who was notified, when, proven) and closes; P's medication history lists its
dispenses and the statutory read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client.pharmacy_log import PharmacyLog
from phrchain.client.supply import MonitoringKey, Prescription
from phrchain.web import UiConfig, WalletEntry, create_ui_app
from tests.consortium import A1, CHAIN, GA, HOSPITAL_A, VALIDATOR, Consortium, P, running
from tests.integration.test_web_browser import Person, browser  # noqa: F401  (fixture)
from tests.supplyflow import (
    AMOXICILLIN_GTIN,
    GTIN,
    MANUFACTURER,
    MEDICATION_REQUEST,
    PHARMACIST,
    PHARMACY,
    WHOLESALER,
    ZOLPIDEM_GTIN,
    admit,
)
from tests.webui import CHEAP_KDF, PASSPHRASES, Browser, error_of

PASSPHRASES.setdefault("pharmacist", "the pharmacist's long passphrase")
PASSPHRASES.setdefault("pharmacist-nokey", PASSPHRASES["pharmacist"])


def code(unit: str, lot: str) -> str:
    gtin, serial = unit.split("/")
    return f"(01){gtin}(17)301231(10){lot}(21){serial}"


def _stock(c: Consortium) -> tuple[list[str], list[str]]:
    maker = c.client(MANUFACTURER).supply
    maker.register_product(GTIN, "Morphine 10 mg tablets",
                           [{"rxnorm": "7052", "atc": "N02AA01", "ug": 10_000}],
                           "tablet", 30, "narcotic")
    maker.register_product(AMOXICILLIN_GTIN, "Amoxicillin 500 mg capsules",
                           [{"rxnorm": "723", "atc": "J01CA04", "ug": 500_000}],
                           "capsule", 21, "none")
    maker.register_product(ZOLPIDEM_GTIN, "Zolpidem 10 mg tablets",
                           [{"rxnorm": "39993", "atc": "N05CF02", "ug": 10_000}],
                           "tablet", 30, "psychotropic")
    morphine = maker.commission(GTIN, "L7", "301231", ["M1", "M2", "M3"])
    zolpidem = maker.commission(ZOLPIDEM_GTIN, "Z1", "301231", ["Z1", "Z2"])
    amoxicillin = maker.commission(AMOXICILLIN_GTIN, "X1", "301231", ["X1"])
    units = [*morphine, *zolpidem, *amoxicillin]
    trader, pharmacy = c.client(WHOLESALER).supply, c.client(PHARMACIST).supply
    first = maker.ship(WHOLESALER.did, units)
    trader.receive(first, units)
    pharmacy.receive(trader.ship(PHARMACY.did, units), units)
    return morphine, zolpidem


def _sdk_dispense(c: Consortium, key: MonitoringKey, scan: str, days: int) -> str:
    """A pack dispensed to P through the SDK on a fresh prescription of A1."""
    record = c.client(A1).records.add_resource(MEDICATION_REQUEST, P.did)
    rx = Prescription(record, 1, 0, days, "ee" * 16)
    signed = c.client(A1).supply.prescribe(key, P.did, rx)
    return c.client(PHARMACIST).supply.dispense(key, P.did, rx, [scan], A1.did,
                                                authorization=signed)


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("web-supply")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def world(c: Consortium, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("web-supply-ui")
    admit(c)
    morphine, zolpidem = _stock(c)
    key = MonitoringKey.create()
    key.save(tmp / "monitoring.key")
    physician = c.client(A1)
    prior = physician.supply.prescriber_history(key, P.did)  # the statutory read
    # not a controlled product
    antibiotic = _sdk_dispense(c, key, f"(01){AMOXICILLIN_GTIN}(17)301231(10)X1(21)X1", 7)
    handoffs = []
    for label, days in (("browser morphine", 10), ("morphine", 10), ("zolpidem", 10)):
        record = physician.records.add_resource(MEDICATION_REQUEST, P.did)
        rx = Prescription(record, 1, 0, days, f"{len(handoffs):02d}" * 16)
        signed = physician.supply.prescribe(key, P.did, rx)
        handoffs.append({"record": record, "patient": P.did, "prescriber": A1.did,
                         "quantity": 1, "refills": 0, "days_supply": days,
                         "salt": rx.salt, "label": label, "authorization": signed,
                         "patient_ref": f"H-{len(handoffs):04d}"})
    # a prescription whose record is not on chain (pharmacy/3 at the counter)
    handoffs.append({**handoffs[0], "record": "ab" * 16, "label": "ghost",
                     "patient_ref": "H-0009"})
    inbox = tmp / "prescriptions.json"
    inbox.write_text(json.dumps({"format": "phrchain-pharmacy-prescriptions/v1",
                                 "prescriptions": handoffs}))
    wallets = {}
    for name, who in (("pharmacist", PHARMACIST), ("ga", GA), ("patient-p", P)):
        who.save(tmp / f"{name}.wallet", PASSPHRASES[name], kdf=CHEAP_KDF)
    wallets["pharmacist"] = WalletEntry(tmp / "pharmacist.wallet", "provider",
                                        monitoring_key=tmp / "monitoring.key",
                                        prescriptions=inbox,
                                        pharmacy_log=tmp / "pharmacy.log")
    # the same pharmacist, configured without its monitoring key (pharmacy/4)
    wallets["pharmacist-nokey"] = WalletEntry(tmp / "pharmacist.wallet", "provider")
    wallets["ga"] = WalletEntry(tmp / "ga.wallet", "auditor")
    wallets["patient-p"] = WalletEntry(tmp / "patient-p.wallet", "patient",
                                       monitoring_tag=key.patient_tag(P.did))
    ui = create_ui_app(UiConfig(c.api_url, c.directory, wallets,
                                trust_anchor=VALIDATOR.did, chain_id=CHAIN))
    try:
        with BackgroundServer(create_app(c.node, ui=ui)) as base:
            yield {"base": base, "key": key, "morphine": morphine, "zolpidem": zolpidem,
                   "handoffs": handoffs, "prior": prior, "antibiotic": antibiotic,
                   "log": PharmacyLog(tmp / "pharmacy.log")}
    finally:
        ui.state.ui.sessions.close()


def test_the_pharmacist_dispenses_and_each_refusal_keeps_its_code(
        c: Consortium, world: dict[str, Any]) -> None:
    ph = Browser(world["base"])
    assert ph.login("pharmacist").is_success
    listed = ph.ok("GET", "api/pharmacy/prescriptions")["prescriptions"]
    assert [p["label"] for p in listed] == ["browser morphine", "morphine", "zolpidem",
                                            "ghost"]
    # signed by the prescriber, registered on chain only with the first fill
    assert all(p["registered"] is None and p["signed"] and p["record_status"] == "active"
               for p in listed[:3])
    assert listed[3]["record_status"] is None
    record = world["handoffs"][1]["record"]
    m2 = world["morphine"][1]
    fake = code(m2, "L7").replace("(21)M2", "(21)FAKE1")
    refusals = {
        "counterfeit": ({"record": record, "codes": [fake]}, (422, "supply", "unknown_serial")),
        "lot": ({"record": record, "codes": [code(m2, "L8")]},
                (422, "supply", "lot_mismatch")),
        "bad code": ({"record": record, "codes": ["(01)123(21)X"]},
                     (422, "pharmacy", "bad_scan")),
        "not handed": ({"record": "no-such-record", "codes": [code(m2, "L7")]},
                       (422, "pharmacy", "unknown_prescription")),
        "record not on chain": ({"record": "ab" * 16, "codes": [code(m2, "L7")]},
                                (422, "pharmacy", "prescription_not_active"))}
    for what, (body, expected) in refusals.items():
        assert error_of(ph.call("POST", "api/pharmacy/dispense", body)) == expected, what
    assert c.query("supply/unit", unit=m2)["status"] == "active"
    done = ph.ok("POST", "api/pharmacy/dispense", {"record": record,
                                                    "codes": [f" {code(m2, 'L7')} "]})
    assert [u["unit"] for u in done["units"]] == [m2] and done["controlled"] is True
    assert c.query("supply/unit", unit=m2)["status"] == "dispensed"
    again = ph.call("POST", "api/pharmacy/dispense", {"record": world["handoffs"][2]["record"],
                                                       "codes": [code(m2, "L7")]})
    assert error_of(again) == (422, "supply", "already_dispensed")
    exhausted = ph.call("POST", "api/pharmacy/dispense",
                        {"record": record, "codes": [code(world["morphine"][2], "L7")]})
    assert error_of(exhausted) == (422, "supply", "rx_exhausted")
    zolpidem = ph.ok("POST", "api/pharmacy/dispense", {
        "record": world["handoffs"][2]["record"], "codes": [code(world["zolpidem"][0], "Z1")]})
    assert [a["kind"] for a in zolpidem["alerts"]] == ["zolpidem_dose"]
    # the pharmacy's log (the statutory report's source) names the patient reference
    assert [(d["dispense"], d["patient_ref"]) for d in world["log"].load()["dispenses"]] \
        == [(done["dispense"], "H-0001"), (zolpidem["dispense"], "H-0002")]
    assert error_of(ph.call("POST", "api/pharmacy/dispense", {"record": record, "codes": []})
                    )[:2] == (422, "ui")
    nokey = Browser(world["base"])
    assert nokey.login("pharmacist-nokey").is_success
    assert error_of(nokey.call("GET", "api/pharmacy/prescriptions")) == \
        (422, "pharmacy", "no_monitoring_key")
    nokey.http.close()
    assert error_of(ph.call("POST", "api/pharmacy/dispense", {"record": record,
                                                               "codes": [fake]}, headers={})
                    ) == (403, "ui", "csrf")
    ph.http.close()


def test_the_regulator_board_shows_and_closes_the_alert(world: dict[str, Any]) -> None:
    ga = Browser(world["base"])
    assert ga.login("ga").is_success
    board = ga.ok("GET", "api/auditor/supply/alerts")
    alert = next(a for a in board["alerts"] if a["kind"] == "zolpidem_dose")
    assert alert["status"] == "open" and alert["detail"] == 30_000  # µg a day
    assert alert["proof"]["verified"] is True and alert["height"] > 0 and alert["time_ms"]
    notified = [n["did"] or n["kind"] for n in alert["notify"]]
    assert notified == [A1.did, PHARMACY.did, "regulator", "patient"]
    closed = ga.ok("POST", f"api/auditor/supply/alerts/{alert['alert']}/close",
                   {"outcome": "false_positive"})
    assert closed["status"] == "closed" and closed["outcome"] == "false_positive"
    assert closed["closed_by"]["did"] == GA.did
    again = ga.call("POST", f"api/auditor/supply/alerts/{alert['alert']}/close",
                    {"outcome": "justified"})
    assert error_of(again) == (422, "supply", "alert_closed")
    listed = {a["alert"]: a for a in ga.ok("GET", "api/auditor/supply/alerts")["alerts"]}
    assert listed[alert["alert"]]["status"] == "closed"
    assert error_of(ga.call("GET", "api/pharmacy/prescriptions"))[:2] == (403, "ui")
    ga.http.close()


def test_the_patient_sees_its_medicines_and_the_statutory_reads(
        c: Consortium, world: dict[str, Any]) -> None:
    """A1's second statutory read returns P's controlled dispenses only (not the
    antibiotic); P sees every dispense, controlled ones marked, and both reads."""
    again = c.client(A1).supply.prescriber_history(world["key"], P.did,
                                                   "controlled_prescription")
    read_units = sorted(u for d in again for u in d["units"])
    assert read_units == sorted([world["morphine"][1], world["zolpidem"][0]])
    assert world["prior"] == []
    p = Browser(world["base"])
    assert p.login("patient-p").is_success
    mine = p.ok("GET", "api/patient/supply/history")
    assert mine["configured"] is True
    controlled = {u["unit"]: d["controlled"] for d in mine["dispenses"] for u in d["units"]}
    assert controlled == {world["morphine"][1]: True, world["zolpidem"][0]: True,
                          f"{AMOXICILLIN_GTIN}/X1": False}
    # newest first, each audited on chain with who, their institution, why and when
    assert [(r["reader"]["did"], r["organization"]["did"], r["purpose"])
            for r in mine["reads"]] == [(A1.did, HOSPITAL_A.did, "controlled_prescription"),
                                        (A1.did, HOSPITAL_A.did, "strong_opioid")]
    assert all(r["time_ms"] > 0 and r["height"] > 0 for r in mine["reads"])
    assert error_of(p.call("GET", "api/auditor/supply/alerts"))[:2] == (403, "ui")
    assert error_of(p.call("POST", "api/pharmacy/dispense", {
        "record": "x", "codes": ["(01)1"]}))[:2] == (403, "ui")
    p.http.close()


def test_dispense_screen_in_a_browser_in_korean(browser: Any, c: Consortium,  # noqa: F811
                                                world: dict[str, Any]) -> None:
    """The pharmacist picks the prescription, pastes a counterfeit code: the refusal is
    worded in Korean with its stable code; then the real pack dispenses. The board and
    the patient's history render, and each page passes axe."""
    base, m1 = world["base"], world["morphine"][0]
    ph = Person(browser, base, "pharmacist", locale="ko-KR")
    page = ph.page
    page.wait_for_selector("#dispense-form")
    page.check(f"#prescriptions .rx[data-record='{world['handoffs'][0]['record']}'] input")
    page.fill("#scan-codes", code(m1, "L7").replace("(21)M1", "(21)FAKE9"))
    page.click("#dispense-submit")
    refused = page.wait_for_selector("#dispense-refused[data-name=unknown_serial]")
    assert "위조 의심" in refused.inner_text() and "supply/6" in refused.inner_text()
    ph.axe()
    page.fill("#scan-codes", code(m1, "L7"))
    page.click("#dispense-submit")
    done = page.wait_for_selector("#dispense-done")
    assert "Morphine 10 mg tablets" in done.inner_text()
    assert c.query("supply/unit", unit=m1)["status"] == "dispensed"
    ph.axe()
    ph.shot("pharmacy-dispense")
    ph.close(refused=("422 /ui/api/pharmacy/dispense",))
    # another zolpidem dispense raises an alert the auditor closes on the board
    _sdk_dispense(c, world["key"], code(world["zolpidem"][1], "Z1"), 10)
    ga = Person(browser, base, "ga")
    ga.go("auditor-alerts")
    row = ga.page.wait_for_selector("#alert-board .alert-row[data-status=open]")
    alert = str(row.get_attribute("data-alert"))
    assert "the patient" in row.inner_text() and "verified" in row.inner_text()
    ga.axe()
    ga.page.select_option(f"#outcome-{alert}", "referred")
    ga.page.click(f".alert-row[data-alert='{alert}'] button.close-alert")
    ga.page.wait_for_selector(f"#alert-board .alert-row[data-alert='{alert}']"
                              "[data-status=closed]")
    assert c.query("supply/alert", alert=alert)["outcome"] == "referred"
    ga.shot("regulator-alert-board")
    ga.close()
    patient = Person(browser, base, "patient-p")
    patient.go("patient-medications")
    notice = patient.page.wait_for_selector("#history-read-notice")
    assert "2 time(s)" in notice.inner_text()
    assert len(patient.page.query_selector_all("#history-reads li")) == 2
    patient.page.wait_for_selector("#medications li[data-controlled=true]")
    patient.axe()
    patient.shot("patient-medications")
    patient.close()
