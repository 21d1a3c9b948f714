"""The UI's claims, settlement and portable-export routes over HTTP, on a running
consortium: P pays a bill and follows two claims (one paid in part, one denied as a
duplicate), appeals the denial; the insurer's reviewer IR approves it and opens the
named records; the regulator lists it by reason code; P downloads a portable record."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.http import ApiError
from phrchain.client.portable import PortableError, verify_portable
from tests.claimflow import billed_visit, file_claim, itemized_bill
from tests.consortium import A1, CHAIN, INSURER, IR, VALIDATOR, Consortium, P, Q, running
from tests.webui import Browser, error_of, ui_server

EXPORT_PASSPHRASE = "correct horse battery"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("web-claims")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def base(c: Consortium, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ui_server(c, tmp_path_factory.mktemp("web-claims-ui")) as url:
        yield url


def page(base: str, wallet: str) -> Browser:
    browser = Browser(base)
    assert browser.login(wallet).is_success
    return browser


@pytest.fixture(scope="module")
def story(c: Consortium, base: str) -> Iterator[dict[str, Any]]:
    """The bill is paid through the UI (what test_bill_paid_through_the_ui checks), then
    P files a claim and a duplicate of it with the SDK."""
    visit = billed_visit(c)
    p = page(base, "patient-p")
    before = p.ok("GET", "api/patient/claims")
    paid = p.call("POST", f"api/patient/bills/{visit.bill}/pay")
    first = file_claim(c, visit)
    duplicate = file_claim(c, visit, visit.records[:1])
    yield {"visit": visit, "p": p, "before": before, "paid": paid, "first": first["claim"],
           "duplicate": duplicate["claim"]}
    p.http.close()


def claims_by_id(p: Browser) -> dict[str, dict[str, Any]]:
    return {cl["claim"]: cl for cl in p.ok("GET", "api/patient/claims")["claims"]}


def test_bill_paid_through_the_ui(story: dict[str, Any]) -> None:
    p, bill = story["p"], story["visit"].bill
    assert "claims" in p.ok("GET", "api/session")["capabilities"]
    before = story["before"]
    # each balance names the identity holding it (here the wallet itself: P is a
    # wallet from before pseudonyms, acting as itself)
    assert [b.pop("pseudonym") for b in before["balances"]] == \
        [{"did": P.did, "kind": "self", "counterpart": None}]
    assert before["balances"] == [{"amount": 1_000_000, "currency": "KRW",
                                   "text": "1,000,000 KRW"}]
    assert [(b["bill"], b["status"], b["amount"]["text"]) for b in before["bills"]] == \
        [(bill, "open", "350,000 KRW")]
    assert story["paid"].status_code == 200 and story["paid"].json()["status"] == "paid"
    now = p.ok("GET", "api/patient/claims")
    assert [b["status"] for b in now["bills"]] == ["paid"]
    assert now["balances"][0]["text"] == "850,000 KRW"  # -350,000 + 200,000 paid out
    assert error_of(p.call("POST", f"api/patient/bills/{bill}/pay", headers={})) == \
        (403, "ui", "csrf")
    again = p.call("POST", f"api/patient/bills/{bill}/pay")
    assert again.status_code == 422 and again.json()["error"]["codespace"] == "settlement"
    assert error_of(p.call("POST", "api/patient/bills/not-a-bill/pay"))[0] == 422


def test_claims_listed_with_status_payout_reasons_and_records(story: dict[str, Any]) -> None:
    claims = claims_by_id(story["p"])
    first, duplicate = claims[story["first"]], claims[story["duplicate"]]
    assert (first["status"], first["payment"]) == ("partial", "paid")
    assert first["amount"]["text"] == "350,000 KRW"
    assert first["payout"] == {"amount": 200_000, "currency": "KRW", "text": "200,000 KRW"}
    codes = {r["code"]: r["sentence"] for r in first["reasons"]}
    assert codes["excluded"] == "the line's code is excluded by the product"
    assert "deductible_applied" in codes and "copay_applied" in codes
    assert set(first["records"]) == set(story["visit"].records)
    assert first["appealable"] is True
    assert duplicate["status"] == "denied" and duplicate["payout"]["text"] == "0 KRW"
    assert duplicate["reasons"][0]["code"] == "duplicate_claim"


def test_explanation_of_benefit_of_my_claim_only(c: Consortium, base: str,
                                                 story: dict[str, Any]) -> None:
    fhir = story["p"].ok("GET", f"api/patient/claims/{story['first']}/fhir")
    eob = fhir["ExplanationOfBenefit"]
    assert eob["resourceType"] == "ExplanationOfBenefit" and eob["outcome"] == "partial"
    assert eob["total"][1]["amount"] == {"value": 200000, "currency": "KRW"}
    q = page(base, "patient-q")
    assert error_of(q.call("GET", f"api/patient/claims/{story['first']}/fhir")) == \
        (404, "ui", "not_found")
    assert error_of(q.call("POST", f"api/patient/claims/{story['first']}/appeal")) == \
        (404, "ui", "not_found")
    q.http.close()


def test_appeal_then_the_insurer_reviewer_approves(base: str, story: dict[str, Any]) -> None:
    p, claim = story["p"], story["duplicate"]
    assert error_of(p.call("POST", f"api/patient/claims/{claim}/appeal", headers={})) == \
        (403, "ui", "csrf")
    appealed = p.ok("POST", f"api/patient/claims/{claim}/appeal")
    assert (appealed["status"], appealed["appealed"], appealed["appealable"]) == \
        ("referred", True, False)
    again = p.call("POST", f"api/patient/claims/{claim}/appeal")
    assert again.status_code == 422 and again.json()["error"]["name"] == "already_appealed"

    ir, b1 = page(base, "ir"), page(base, "b1")
    assert "claims_reviewer" in ir.ok("GET", "api/session")["capabilities"]
    assert "claims_reviewer" not in b1.ok("GET", "api/session")["capabilities"]
    assert error_of(b1.call("GET", "api/reviewer/claims")) == (403, "ui", "not_permitted")
    referred = ir.ok("GET", "api/reviewer/claims")["claims"]
    assert [cl["claim"] for cl in referred] == [claim]
    opened = ir.ok("POST", f"api/reviewer/claims/{claim}/records")["records"]
    assert [o["resource"] for o in opened] == ["Encounter"]
    assert opened[0]["decision"]["reason"] and opened[0]["fhir"]["resourceType"] == "Encounter"
    assert error_of(ir.call("POST", f"api/reviewer/claims/{claim}/review",
                            {"decision": "approve"})) == (400, "ui", "bad_request")
    assert error_of(ir.call("POST", f"api/reviewer/claims/{claim}/review",
                            {"decision": "approve", "amount": 1_000}, headers={})) == \
        (403, "ui", "csrf")
    for typed in ("\u0661\u0660\u0660\u0660", "\uff11\uff10\uff10\uff10", "1_000", " 1000",
                  "+1000", "1e3", 1000.0, True):  # one parser (issue 13): refused, not read
        assert error_of(ir.call("POST", f"api/reviewer/claims/{claim}/review",
                                {"decision": "approve", "amount": typed})) == \
            (422, "ui", "bad_request"), typed
    decided = ir.ok("POST", f"api/reviewer/claims/{claim}/review",
                    {"decision": "approve", "amount": "1000"})  # as the input box holds it
    assert decided["status"] in ("approved", "partial")
    assert decided["payout"]["text"] == "1,000 KRW" and decided["payment"] == "paid"
    assert ir.ok("GET", "api/reviewer/claims")["claims"] == []
    assert claims_by_id(p)[claim]["payout"]["amount"] == 1_000
    for browser in (ir, b1):
        browser.http.close()


def test_regulator_lists_claims_by_reason(base: str, story: dict[str, Any]) -> None:
    ga = page(base, "ga")
    found = ga.ok("GET", "api/auditor/claims", params={"reason": "duplicate_claim"})
    assert found["reason"]["sentence"].startswith("this bill or its encounter")
    assert story["duplicate"] in [cl["claim"] for cl in found["claims"]]
    assert story["first"] not in [cl["claim"] for cl in found["claims"]]
    assert error_of(ga.call("GET", "api/auditor/claims", params={"reason": "bogus"})) == \
        (400, "ui", "bad_request")
    assert "duplicate_claim" in ga.ok("GET", "api/vocabulary")["reasons"]
    assert error_of(story["p"].call("GET", "api/auditor/claims",
                                    params={"reason": "duplicate_claim"})) == \
        (403, "ui", "not_permitted")
    ga.http.close()


def test_portable_export_with_a_typed_passphrase(story: dict[str, Any], tmp_path: Path
                                                 ) -> None:
    p = story["p"]
    short = {"passphrase": "too short", "confirm": "too short"}
    assert error_of(p.call("POST", "api/patient/export", short)) == (400, "ui", "bad_request")
    differ = {"passphrase": EXPORT_PASSPHRASE, "confirm": EXPORT_PASSPHRASE + "!"}
    assert error_of(p.call("POST", "api/patient/export", differ)) == (400, "ui", "bad_request")
    body = {"passphrase": EXPORT_PASSPHRASE, "confirm": EXPORT_PASSPHRASE}
    assert error_of(p.call("POST", "api/patient/export", body, headers={})) == \
        (403, "ui", "csrf")
    answer = p.call("POST", "api/patient/export", body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/octet-stream"
    assert answer.headers["content-disposition"] == 'attachment; filename="phrchain-record.phr"'
    counts = json.loads(answer.headers["x-portable-counts"])
    path = tmp_path / "phrchain-record.phr"
    path.write_bytes(answer.content)
    report = verify_portable(path, EXPORT_PASSPHRASE, validator=VALIDATOR.did, chain_id=CHAIN)
    assert report.counts() == counts and counts["records"] >= 3
    with pytest.raises(PortableError):
        verify_portable(path, "a wrong passphrase!", validator=VALIDATOR.did)
    assert EXPORT_PASSPHRASE.encode() not in b"".join(p.seen)


# -- the patient files a claim by picking records (web/filing.py) ---------------------------
def test_patient_files_a_claim_by_picking_records(c: Consortium, base: str,
                                                  tmp_path: Path) -> None:
    """The form offers the paid, itemized bill (its lines from the hospital's Invoice),
    the enrolled product (its key held); bad input is refused with ui/1 and files
    nothing; the claim names exactly the picked records and the insurer reads only those."""
    visit = billed_visit(c)
    key_file = tmp_path / "dasom.key"
    visit.key.save(key_file)
    item = itemized_bill(c, visit)
    unpaid = itemized_bill(c, visit, pay=False)
    picked = visit.records[1:]  # the Procedure and the Condition, not the Encounter
    body = {"bill": item.bill, "insurer": INSURER.did, "product": visit.product,
            "records": picked}

    def claims_of_p() -> list[str]:
        return list(c.client(P).session.q("claims/of_patient", patient=P.did)["claims"])

    # Without the product key (the module's UI holds none): refused, nothing filed.
    before = claims_of_p()
    keyless = page(base, "patient-p")
    form = keyless.ok("GET", "api/patient/claim-form")
    assert [p_["key"] for p_ in form["products"] if p_["product"] == visit.product] == [False]
    assert error_of(keyless.call("POST", "api/patient/claims", body)) == \
        (400, "ui", "bad_request")
    with ui_server(c, tmp_path / "ui", product_keys={"patient-p": (key_file,)}) as url:
        p = page(url, "patient-p")
        form = p.ok("GET", "api/patient/claim-form")
        bills = {b["bill"]: b for b in form["bills"]}
        assert item.bill in bills and unpaid.bill not in bills
        assert [(line["display"], line["amount"]["text"]) for line in
                bills[item.bill]["lines"]] == [("Colonoscopy (procedure)", "300,000 KRW"),
                                               ("Cosmetic procedure (procedure)", "50,000 KRW")]
        assert [p_["key"] for p_ in form["products"] if p_["product"] == visit.product] == [True]
        assert set(picked) | {item.invoice} <= {r["record"] for r in form["records"]}
        q_record = c.client(A1).records.add_resource(
            {"resourceType": "Immunization", "status": "completed",
             "patient": {"reference": "Patient/q"}, "vaccineCode": {"text": "Influenza"},
             "occurrenceDateTime": "2019-10-20"}, Q.did)
        for bad in ({**body, "bill": unpaid.bill}, {**body, "bill": "0" * 32},
                    {**body, "product": "0" * 32}, {**body, "records": [q_record]},
                    {**body, "records": [picked[0], picked[0]]}, {**body, "records": []},
                    {**body, "insurer": Q.did}):
            assert error_of(p.call("POST", "api/patient/claims", bad)) in \
                ((400, "ui", "bad_request"), (422, "ui", "bad_request")), bad
        assert error_of(p.call("POST", "api/patient/claims", body, headers={})) == \
            (403, "ui", "csrf")
        assert claims_of_p() == before

        filed = p.ok("POST", "api/patient/claims", body)
        assert filed["status"] == "partial" and filed["payout"]["text"] == "200,000 KRW"
        assert [r["code"] for r in filed["reasons"]] == \
            ["excluded", "deductible_applied", "copay_applied"]
        on_chain = c.client(P).claims.claim(filed["claim"])
        assert [r["record"] for r in on_chain["records"]] == picked
        assert on_chain["bill"] == item.bill and on_chain["amount"] == 350_000
        reviewer = c.client(IR)
        assert len(reviewer.claims.read_claim_records(filed["claim"])) == len(picked)
        with pytest.raises(ApiError):
            reviewer.records.open(visit.records[0], purpose="HPAYMT")
        # Claimed: the bill is offered no more, and filing it again is refused.
        assert item.bill not in {b["bill"] for b in p.ok("GET", "api/patient/claim-form")["bills"]}
        assert error_of(p.call("POST", "api/patient/claims", body)) == (400, "ui", "bad_request")
        p.http.close()
    keyless.http.close()
