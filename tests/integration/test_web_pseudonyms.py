"""The web UI for a patient who acts through pseudonyms (issue 14): one view over the
records, consents, requests, bills and access logs of all of them; consents granted and
revoked by the pseudonym that owns the records; a bill paid by the pseudonym it names; a
claim filed through the form by the insurer-pseudonym, linked to the hospital pseudonym;
the emergency card."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client.claims import ProductKey
from phrchain.client.patient import PatientWallet
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.demo.claims_step import CURRENCY, PRODUCT_RULES, _visit
from phrchain.web import UiConfig, WalletEntry, create_ui_app
from phrchain.web.filing import invoice
from tests.claimflow import LINES
from tests.consortium import (
    A1,
    AUTHORITY,
    B1,
    CHAIN,
    HOSPITAL_A,
    HOSPITAL_B,
    INSURER,
    VALIDATOR,
    Consortium,
    running,
)
from tests.webui import Browser, error_of

KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
PASS = "r's long passphrase"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("web-pseudonyms")
    with running(tmp / "c") as c:
        wallet, path = Wallet.create("patient R"), tmp / "r.wallet"
        wallet.save(path, PASS, KDF)
        me = PatientWallet(c.client(AUTHORITY).node, wallet, c.directory,
                           save=lambda w: w.save_over(path, PASS, KDF))
        a, b, i = (me.at(HOSPITAL_A.did).wallet.did, me.at(HOSPITAL_B.did).wallet.did,
                   me.insurer(INSURER.did).wallet.did)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        a_records = [c.client(A1).records.add_resource(r, a) for r in _visit(when, "P/r")]
        b_records = [c.client(B1).records.add_resource(r, b) for r in _visit(when, "P/r")[:1]]
        c.client(AUTHORITY).claims.mint(INSURER.did, 10_000_000, CURRENCY)
        c.client(AUTHORITY).claims.mint(a, 1_000_000, CURRENCY)
        key = ProductKey.create()
        product, _ = c.client(INSURER).claims.publish("basic", PRODUCT_RULES, key)
        start = now_ms() + 2_000
        me.insurer(INSURER.did).claims.enrol(INSURER.did, product, start, 365)
        while now_ms() < start + 1_000:
            time.sleep(0.05)
        bill = c.client(A1).claims.bill(a, 350_000, CURRENCY, "E-web-1")
        itemized = c.client(A1).records.add_resource(invoice(bill, LINES, CURRENCY, "P/r"), a)
        key_file = tmp / "product-key.json"
        key.save(key_file)
        config = UiConfig(c.api_url, c.directory,
                          {"patient-r": WalletEntry(path, "patient", (key_file,))},
                          trust_anchor=VALIDATOR.did, chain_id=CHAIN)
        ui = create_ui_app(config)
        try:
            with BackgroundServer(create_app(c.node, ui=ui)) as url:
                page = Browser(url)
                assert page.login("patient-r", PASS).is_success
                yield {"c": c, "page": page, "a": a, "b": b, "i": i, "bill": bill,
                       "product": product, "a_records": [*a_records, itemized],
                       "b_records": b_records, "wallet": wallet, "path": path}
                page.http.close()
        finally:
            ui.state.ui.sessions.close()
            me.close()


def test_login_and_one_view_over_all_records(world: dict[str, Any]) -> None:
    page = world["page"]
    session = page.ok("GET", "api/session")
    assert "patient" in session["capabilities"] and "claims" in session["capabilities"]
    assert session["identity"]["kind"] == "patient"
    listed = page.ok("GET", "api/patient/pseudonyms")["pseudonyms"]
    assert {p["did"] for p in listed} == {world["a"], world["b"], world["i"]}
    assert {p["counterpart"]["did"] for p in listed} == \
        {HOSPITAL_A.did, HOSPITAL_B.did, INSURER.did}
    records = page.ok("GET", "api/patient/records")["records"]
    by_id = {r["record"]: r for r in records}
    assert set(by_id) == set(world["a_records"]) | set(world["b_records"])
    for r in world["a_records"]:
        assert by_id[r]["pseudonym"]["did"] == world["a"] and by_id[r]["fhir"]
    for r in world["b_records"]:
        assert by_id[r]["pseudonym"]["did"] == world["b"] and by_id[r]["fhir"]


def test_emergency_card(world: dict[str, Any]) -> None:
    card = world["page"].ok("GET", "api/patient/emergency-card")["card"]
    assert sorted((e["custodian"]["did"], e["pseudonym"]) for e in card) == sorted(
        [(HOSPITAL_A.did, world["a"]), (HOSPITAL_B.did, world["b"])])
    assert all(e["custodian"]["kind"] == "organization" for e in card)


def test_consents_are_granted_by_the_pseudonym_that_owns_the_records(
        world: dict[str, Any]) -> None:
    page, c = world["page"], world["c"]
    start = now_ms() - 1_000
    body = {"grantee": {"kind": "organization", "id": HOSPITAL_B.did}, "actions": ["read"],
            "purposes": ["TREAT"], "start_ms": start, "end_ms": start + 86_400_000}
    # two identities keep records: the page must say whose
    assert error_of(page.call("POST", "api/patient/consents",
                              {**body, "scope": {"all": True}})) == (400, "ui", "bad_request")
    by_custodian = page.ok("POST", "api/patient/consents",
                           {**body, "custodian": HOSPITAL_A.did, "scope": {"all": True}})
    by_records = page.ok("POST", "api/patient/consents",
                         {**body, "scope": {"records": world["b_records"]}})
    c1: Consortium = c
    assert c1.query("consent/get", consent=by_custodian["consent"])["patient"] == world["a"]
    assert c1.query("consent/get", consent=by_records["consent"])["patient"] == world["b"]
    mixed = {"records": [world["a_records"][0], world["b_records"][0]]}
    assert error_of(page.call("POST", "api/patient/consents",
                              {**body, "scope": mixed})) == (400, "ui", "bad_request")
    listed = {x["consent"]: x for x in page.ok("GET", "api/patient/consents")["consents"]}
    assert listed[by_custodian["consent"]]["pseudonym"]["did"] == world["a"]
    assert listed[by_records["consent"]]["pseudonym"]["did"] == world["b"]
    page.ok("POST", f"api/patient/consents/{by_records['consent']}/revoke")
    assert c1.query("consent/get", consent=by_records["consent"])["status"] == "revoked"
    assert error_of(page.call("POST", f"api/patient/consents/{'ab' * 16}/revoke")) == \
        (404, "ui", "not_found")


def test_bill_paid_and_claim_filed_through_the_form(world: dict[str, Any]) -> None:
    page, c = world["page"], world["c"]
    bills = page.ok("GET", "api/patient/claims")["bills"]
    assert [(b["bill"], b["pseudonym"]["did"]) for b in bills] == [(world["bill"], world["a"])]
    assert page.ok("POST", f"api/patient/bills/{world['bill']}/pay")["status"] == "paid"
    form = page.ok("GET", "api/patient/claim-form")
    assert [b["bill"] for b in form["bills"]] == [world["bill"]]
    body = {"bill": world["bill"], "insurer": INSURER.did, "product": world["product"]}
    refused = page.call("POST", "api/patient/claims",
                        {**body, "records": world["a_records"][:1] + world["b_records"]})
    assert error_of(refused) == (400, "ui", "bad_request")
    filed = page.ok("POST", "api/patient/claims", {**body, "records": world["a_records"][:2]})
    claim = c.query("claims/claim", claim=filed["claim"])
    assert (claim["patient"], claim["owner"], claim["status"]) == \
        (world["i"], world["a"], "partial")
    assert c.query("consent/get", consent=filed["claim"])["patient"] == world["a"]
    mine = page.ok("GET", "api/patient/claims")
    assert [x["claim"] for x in mine["claims"]] == [filed["claim"]]
    held = {b["pseudonym"]["did"]: b["amount"] for b in mine["balances"]}
    assert held[world["i"]] == claim["paid_amount"] > 0   # the payout is the insurer's
    assert held[world["a"]] == 1_000_000 - 350_000        # the bill paid from A's
    assert page.call("GET", f"api/patient/claims/{filed['claim']}/fhir").status_code == 200


def test_access_log_over_all_pseudonyms(world: dict[str, Any]) -> None:
    page, c = world["page"], world["c"]
    page.ok("GET", "api/patient/records")
    c.flush()
    log = page.ok("GET", "api/patient/access-log")
    heads = {h["pseudonym"]: h for h in log["heads"]}
    assert set(heads) == {world["a"], world["b"], world["i"]}
    assert log["head"]["size"] == sum(h["size"] for h in heads.values()) == len(log["entries"])
    assert heads[world["a"]]["size"] > 0 and heads[world["b"]]["size"] > 0
    assert all(e["verified"] for e in log["entries"])
    for e in log["entries"]:
        owner = world["a"] if e["record"] in world["a_records"] else world["b"]
        assert e["pseudonym"]["did"] == owner


def test_the_saved_wallet_file_holds_the_map(world: dict[str, Any]) -> None:
    """What the login read: the map the PatientWallet saved as pseudonyms registered."""
    saved = Wallet.load(world["path"], PASS)
    assert {p.did for p in saved.pseudonyms() if p.registered_height} == \
        {world["a"], world["b"], world["i"]}
    assert saved.root == world["wallet"].root
