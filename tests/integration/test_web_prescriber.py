"""The prescriber's page over HTTP on a running consortium: physician A1 looks a
product up by its KD code, writes a morphine prescription for patient P (the
MedicationRequest sealed as a record, the registration signed exactly as
``SupplyClient.prescribe`` does) and lists it; the pharmacist, configured with the
same file (the hand-off is the file's entry), dispenses it and A1's list says
``dispensed``. A1 cancels a second one (a second cancel is refused by the chain with
its stable code) and the pharmacy can no longer fill it. A nurse is warned that their
role may not prescribe a narcotic; the chain refuses the pharmacy's fill
(``prescriber_not_allowed``), which is what the page's warning explains."""

from __future__ import annotations

import json
import logging
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client import builder
from phrchain.client.supply import MonitoringKey
from phrchain.client.wallet import Wallet
from phrchain.web import UiConfig, WalletEntry, create_ui_app
from tests.consortium import A1, CHAIN, HOSPITAL_A, VALIDATOR, Consortium, P, running
from tests.integration.test_web_browser import Person, browser  # noqa: F401  (fixture)
from tests.integration.test_web_supply import _stock, code
from tests.supplyflow import GTIN, PHARMACIST, admit
from tests.webui import CHEAP_KDF, PASSPHRASES, Browser, error_of

NURSE = Wallet.from_secrets(bytes([51]) * 32, bytes([151]) * 32, "nurse")
PASSPHRASES.setdefault("pharmacist", "the pharmacist's long passphrase")
PASSPHRASES.setdefault("nurse", "the nurse's long passphrase")
RX = "api/prescriber/prescriptions"


def written(ui: Browser, gtin: str, label: str, **kw: Any) -> dict[str, Any]:
    return ui.ok("POST", RX, {"patient": P.did, "gtin": gtin, "quantity": 1, "refills": 0,
                              "days_supply": 10, "label": label, **kw})


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("web-prescriber")
    with running(tmp / "chain") as c:
        admit(c)
        with c.client(HOSPITAL_A) as hospital:
            req = builder.join_request(NURSE, CHAIN, HOSPITAL_A.did)
            hospital.session.send([builder.admit_practitioner(
                NURSE.did, ["nurse"], req["enc_key"], req["pop"])])
        morphine, _ = _stock(c)
        MonitoringKey.create().save(tmp / "monitoring.key")
        rx_file = tmp / "prescriptions.json"   # A1's file, handed to the pharmacy as is
        for name, who in (("a1", A1), ("nurse", NURSE), ("pharmacist", PHARMACIST)):
            who.save(tmp / f"{name}.wallet", PASSPHRASES[name], kdf=CHEAP_KDF)
        wallets = {
            "a1": WalletEntry(tmp / "a1.wallet", "provider", monitoring_key=tmp / "monitoring.key",
                              prescriptions=rx_file),
            "nurse": WalletEntry(tmp / "nurse.wallet", "provider",
                                 monitoring_key=tmp / "monitoring.key",
                                 prescriptions=tmp / "nurse.json"),
            "pharmacist": WalletEntry(tmp / "pharmacist.wallet", "provider",
                                      monitoring_key=tmp / "monitoring.key",
                                      prescriptions=rx_file)}
        ui = create_ui_app(UiConfig(c.api_url, c.directory, wallets,
                                    trust_anchor=VALIDATOR.did, chain_id=CHAIN))
        try:
            with BackgroundServer(create_app(c.node, ui=ui)) as base:
                yield {"c": c, "base": base, "morphine": morphine, "file": rx_file,
                       "nurse_file": tmp / "nurse.json", "tmp": tmp}
        finally:
            ui.state.ui.sessions.close()


def test_write_list_dispense_cancel_and_refusals(world: dict[str, Any],
                                                 caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    c: Consortium = world["c"]
    a1 = Browser(world["base"])
    assert a1.login("a1").is_success
    assert a1.ok("GET", RX) == {"configured": True, "prescriber": True, "prescriptions": []}
    kd = GTIN[1:]   # the Korean KD code is the GTIN-13 inside the GTIN-14
    product = a1.ok("GET", f"api/prescriber/products/{kd}")
    assert (product["gtin"], product["controlled"], product["allowed"]) == \
        (GTIN, "narcotic", True)
    bad = kd[:-1] + str((int(kd[-1]) + 1) % 10)
    assert error_of(a1.call("GET", f"api/prescriber/products/{bad}")) == \
        (422, "supply", "unknown_product")
    first = written(a1, kd, "morphine")
    second = written(a1, GTIN, "morphine 2", refills=1)
    assert first["status"] == "active" and first["registered"] is None
    # signed as the SDK signs: nothing registered on chain until the first fill
    auth = first["handoff"]["authorization"]
    assert auth["prescriber"] == A1.did and auth["patient"] != P.did
    assert c.query("supply/rx", rx=auth["rx"]) is None
    record = c.query("records/get", record=first["record"])
    assert record["status"] == "active" and record["patient"] == P.did
    saved = json.loads(world["file"].read_text())
    assert saved["format"] == "phrchain-pharmacy-prescriptions/v1"
    assert stat.S_IMODE(world["file"].stat().st_mode) == 0o600
    assert [p["record"] for p in saved["prescriptions"]] == [first["record"],
                                                             second["record"]]
    # the pharmacy fills the first from the same file
    ph = Browser(world["base"])
    assert ph.login("pharmacist").is_success
    m1 = world["morphine"][0]
    ph.ok("POST", "api/pharmacy/dispense", {"record": first["record"],
                                            "codes": [code(m1, "L7")]})
    listed = a1.ok("GET", RX)["prescriptions"]
    assert [(p["label"], p["status"], p["fills"]) for p in listed] == \
        [("morphine 2", "active", 0), ("morphine", "dispensed", 1)]
    # cancel the second: the chain records it, a second cancel is refused, no fill
    cancelled = a1.ok("POST", f"{RX}/{second['record']}/cancel", {})
    assert cancelled["status"] == "cancelled"
    assert c.query("supply/rx", rx=second["handoff"]["authorization"]["rx"])["status"] \
        == "cancelled"
    assert error_of(a1.call("POST", f"{RX}/{second['record']}/cancel", {})) == \
        (422, "supply", "already_in_state")
    assert error_of(ph.call("POST", "api/pharmacy/dispense", {
        "record": second["record"], "codes": [code(world["morphine"][1], "L7")]})) == \
        (422, "supply", "rx_not_active")
    assert error_of(a1.call("POST", f"{RX}/{'ab' * 16}/cancel", {}))[:2] == (404, "ui")
    assert error_of(a1.call("POST", RX, {"patient": P.did, "gtin": GTIN, "quantity": 0,
                                         "refills": 0, "days_supply": 10}))[:2] == (422, "ui")
    assert error_of(a1.call("POST", f"{RX}/{first['record']}/cancel", {}, headers={})) == \
        (403, "ui", "csrf")
    # the nurse is warned; the chain refuses the pharmacy's fill with the explained code
    nurse = Browser(world["base"])
    assert nurse.login("nurse").is_success
    assert nurse.ok("GET", f"api/prescriber/products/{GTIN}")["allowed"] is False
    theirs = written(nurse, GTIN, "nurse morphine")
    assert theirs["product"]["allowed"] is False
    assert [p["record"] for p in nurse.ok("GET", RX)["prescriptions"]] == [theirs["record"]]
    handed = json.loads(world["nurse_file"].read_text())["prescriptions"]
    world["file"].write_text(json.dumps({"format": "phrchain-pharmacy-prescriptions/v1",
                                         "prescriptions": saved["prescriptions"] + handed}))
    assert error_of(ph.call("POST", "api/pharmacy/dispense", {
        "record": theirs["record"], "codes": [code(world["morphine"][2], "L7")]})) == \
        (422, "supply", "prescriber_not_allowed")
    # A1 sees only its own prescriptions; a pharmacist is not offered the page
    assert theirs["record"] not in [p["record"] for p in a1.ok("GET", RX)["prescriptions"]]
    assert ph.ok("GET", RX) == {"configured": False, "prescriber": False,
                               "prescriptions": []}
    assert error_of(ph.call("POST", RX, {"patient": P.did, "gtin": GTIN, "quantity": 1,
                                         "refills": 0, "days_supply": 10})) == \
        (403, "ui", "not_permitted")
    # no patient identifier or commitment salt in any log line of all this
    salts = [p["salt"] for p in saved["prescriptions"] + handed]
    assert caplog.records and all(s not in caplog.text for s in [P.did, *salts])
    for ui in (a1, ph, nurse):
        ui.http.close()


def test_catalogs_have_every_prescriber_string() -> None:
    static = Path(__file__).parents[2] / "src/phrchain/web/static"
    script = (static / "prescriber.js").read_text()
    used = set(re.findall(r'"((?:rx|nav)\.[a-z_]+)"', script))
    assert "rx.write" in used and "rx.class_warning" in used
    for lang in ("en", "ko"):
        catalog = json.loads((static / "i18n" / f"{lang}.json").read_text(encoding="utf-8"))
        assert used | {"nav.prescribe", "status.dispensed"} <= set(catalog), lang
    ko = json.loads((static / "i18n" / "ko.json").read_text(encoding="utf-8"))
    assert ko["rx.write"] == "처방전 서명"


def test_the_prescriber_page_in_a_browser_in_korean(browser: Any,  # noqa: F811
                                                    world: dict[str, Any]) -> None:
    """The nurse, in Korean: typing a narcotic's KD code shows its class with the
    warning; the prescription is written and listed, then cancelled from its row. The
    page passes axe."""
    c: Consortium = world["c"]
    nurse = Person(browser, world["base"], "nurse", locale="ko-KR")
    nurse.go("prescriber-prescriptions")
    page = nurse.page
    page.fill("#rx-patient", P.did)
    page.fill("#rx-gtin", GTIN[1:])
    page.dispatch_event("#rx-gtin", "change")
    warning = page.wait_for_selector("#rx-class-warning")
    assert "마약" in page.inner_text("#rx-product") and "처방할 수 없습니다" in \
        warning.inner_text()
    nurse.axe()
    page.fill("#rx-label", "browser")
    page.click("#rx-submit")
    done = page.wait_for_selector("#rx-done")
    record = str(done.get_attribute("data-record"))
    row = f"#my-prescriptions .rx-row[data-record='{record}']"
    assert "유효" in page.inner_text(f"{row}[data-status=active]")
    nurse.axe()
    page.click(f"{row} button.cancel-rx")
    page.wait_for_selector(f"{row}[data-status=cancelled]")
    assert c.query("supply/rx", rx=MonitoringKey.load(world["tmp"] / "monitoring.key")
                   .rx_tag(record))["status"] == "cancelled"
    nurse.shot("prescriber-prescriptions")
    nurse.close()
