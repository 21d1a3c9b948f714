"""Insurance claims end to end (M8, M15): a solo node, its API and the vaults over loopback
HTTP; the SDK for the authority, a hospital, the insurer, the patient and the regulator;
the FHIR views over the API; the CLI; replay from genesis."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phrchain.cli.main import main
from phrchain.client.claims import Code, ProductKey, Rules, encounter_key
from phrchain.client.http import ApiError
from phrchain.engine.solo.verify import verify_chain
from phrchain.fhir import validate
from phrchain.fhir.claims import PHR_CODE_TAG
from phrchain.fhir.synthetic import SNOMED
from tests.consortium import A1, AUTHORITY, GA, HOSPITAL_A, INSURER, IR, Consortium, P, Q, running

KRW = "KRW"
COLONOSCOPY = Code(SNOMED, "73761001", "Colonoscopy (procedure)")
CHECKUP = Code(SNOMED, "185349003", "Encounter for check up (procedure)")
COSMETIC = Code(SNOMED, "243136001", "Cosmetic procedure (procedure)")
RULES = Rules(name="Basic care", currency=KRW, covered=(COLONOSCOPY, CHECKUP),
              excluded=(COSMETIC,), deductible=50_000, copay_bps=2_000,
              per_claim_limit=1_000_000, yearly_limit=5_000_000)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def resource(kind: str, code: Code) -> dict[str, Any]:
    base: dict[str, Any] = {"resourceType": kind, "subject": {"reference": "Patient/p"}}
    coded = {"coding": [{"system": code.system, "code": code.code, "display": code.display}]}
    if kind == "Encounter":
        return {**base, "status": "finished", "type": [coded],
                "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                          "code": "AMB"}}
    if kind == "Procedure":
        return {**base, "status": "completed", "code": coded}
    return {**base, "code": coded}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """One clean claim (partial: a line excluded) and a duplicate of it, filed by P."""
    home = tmp_path_factory.mktemp("claims")
    with running(home) as c:
        governance = c.client(AUTHORITY).claims
        governance.mint(INSURER.did, 10_000_000, KRW)
        governance.mint(P.did, 1_000_000, KRW)
        insurer, key = c.client(INSURER).claims, ProductKey.create()
        product, version = insurer.publish("basic", RULES, key)
        patient = c.client(P).claims
        start = now_ms() + 2_000  # the enrol tx's block must not be later
        patient.enrol(INSURER.did, product, start, 365)
        doctor = c.client(A1)
        visit = [doctor.records.add_resource(resource("Encounter", CHECKUP), P.did),
                 doctor.records.add_resource(resource("Procedure", COLONOSCOPY), P.did),
                 doctor.records.add_resource(resource("Condition", COLONOSCOPY), P.did)]
        other = doctor.records.add_resource(resource("Condition", CHECKUP), P.did)
        bill = doctor.claims.bill(P.did, 350_000, KRW, "E-1")
        patient.pay_bill(bill)
        while now_ms() < start + 300:
            time.sleep(0.05)
        lines = [(COLONOSCOPY, 300_000), (COSMETIC, 50_000)]
        filed = patient.file(INSURER.did, product, bill, visit, lines, key,
                             service_ms=now_ms() - 200)
        duplicate = patient.file(INSURER.did, product, bill, visit[:1], lines[:1], key,
                                 service_ms=now_ms() - 200)
        yield {"c": c, "home": home, "key": key, "product": product, "version": version,
               "visit": visit, "other": other, "bill": bill, "filed": filed,
               "duplicate": duplicate}


def test_the_contract_pays_what_the_rules_give(world: dict[str, Any]) -> None:
    filed, c = world["filed"], world["c"]
    assert filed["status"] == "partial"
    assert set(filed["reasons"]) == {"excluded", "deductible_applied", "copay_applied"}
    # (300,000 covered - 50,000 deductible) x 80 % = 200,000; the cosmetic line excluded.
    assert filed["payout"] == filed["paid_amount"] == 200_000 and filed["payment"] == "paid"
    patient = c.client(P).claims
    assert patient.balance(KRW) == 1_000_000 - 350_000 + 200_000
    assert patient.balance(KRW, INSURER.did) == 10_000_000 - 200_000
    assert patient.balance(KRW, HOSPITAL_A.did) == 350_000


def test_a_second_claim_for_the_same_bill_is_a_duplicate(world: dict[str, Any]) -> None:
    dup, c = world["duplicate"], world["c"]
    assert dup["status"] == "denied" and "duplicate_claim" in dup["reasons"]
    assert dup["payout"] == 0 and dup["paid_amount"] == 0
    regulator = c.client(GA).claims
    assert dup["claim"] in regulator.claims_by_reason("duplicate_claim")
    assert world["filed"]["claim"] not in regulator.claims_by_reason("duplicate_claim")


def test_the_insurer_reads_exactly_the_chosen_records_through_the_vault(
        world: dict[str, Any]) -> None:
    c: Consortium = world["c"]
    reviewer = c.client(IR)
    # Each claim's consent names its own records; the first record is named by both.
    claims = {world["filed"]["claim"], world["duplicate"]["claim"]}
    for i, record in enumerate(world["visit"]):
        opened = reviewer.records.open(record, purpose="HPAYMT")
        assert opened.decision["reason"] == "consent"
        assert opened.decision["consent"] in (claims if i == 0 else {world["filed"]["claim"]})
    with pytest.raises(ApiError) as refused:
        reviewer.records.open(world["other"], purpose="HPAYMT")
    assert (refused.value.status, refused.value.name) == (403, "access_denied")
    with pytest.raises(ApiError) as wrong_purpose:
        reviewer.records.open(world["visit"][0], purpose="TREAT")
    assert "purpose_not_permitted" in wrong_purpose.value.message
    # Every one of these decisions is in the patient's verified access log.
    c.flush()
    log = c.client(P).audit.log(P.did)
    by_reviewer = [e for e in log if e["accessor"] == IR.did]
    assert sorted(e["decision"] for e in by_reviewer) == ["deny", "deny", "permit", "permit",
                                                          "permit"]
    assert all(e["verified"] for e in by_reviewer)


def test_fhir_views_over_the_api_and_with_the_product_key(world: dict[str, Any]) -> None:
    c, claim = world["c"], world["filed"]["claim"]
    for kind in ("Claim", "ClaimResponse", "ExplanationOfBenefit"):
        answer = httpx.get(f"{c.api_url}/v1/fhir/{kind}/{claim}", timeout=10)
        assert answer.status_code == 200, answer.text
        body = json.loads(answer.text)
        validate(body)
        assert body["resourceType"] == kind and body["id"] == claim
    eob = httpx.get(f"{c.api_url}/v1/fhir/ExplanationOfBenefit/{claim}", timeout=10).json()
    assert eob["outcome"] == "partial" and eob["total"][1]["amount"] == {"value": 200000,
                                                                        "currency": KRW}
    # The node holds only tags; the key's holder sees the codes.
    assert eob["item"][0]["productOrService"]["coding"][0]["system"] == PHR_CODE_TAG
    with_codes = c.client(P).claims.fhir(claim, world["key"])
    item = with_codes["Claim"]["item"][0]["productOrService"]["coding"][0]
    assert (item["system"], item["code"]) == (SNOMED, COLONOSCOPY.code)
    assert httpx.get(f"{c.api_url}/v1/fhir/Claim/{'0' * 32}", timeout=10).status_code == 404


def test_no_code_reaches_the_chain(world: dict[str, Any]) -> None:
    c = world["c"]
    product = c.query("claims/product", insurer=INSURER.did, product=world["product"])
    text = json.dumps([product, c.query("claims/claim", claim=world["filed"]["claim"])])
    for code in (COLONOSCOPY, CHECKUP, COSMETIC):
        assert code.code not in text
    assert world["key"].tag(COLONOSCOPY) in product["covered"]
    bill = c.query("settlement/bill", bill=world["bill"])
    assert bill["encounter"] == encounter_key(HOSPITAL_A.did, "E-1") and "E-1" not in \
        json.dumps(bill)


def test_cli_lists_shows_and_balances(world: dict[str, Any], tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    c, claim = world["c"], world["filed"]["claim"]
    assert main(["claims", "list", "--reason", "duplicate_claim", "--node", c.api_url]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [x["claim"] for x in listed] == [world["duplicate"]["claim"]]
    assert main(["claims", "show", claim, "--node", c.api_url]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "partial"
    assert main(["money", "balance", P.did, "--node", c.api_url]) == 0
    assert "850000" in capsys.readouterr().out.replace(" ", "").replace(",", "")
    assert main(["claims", "list", "--node", c.api_url]) == 2


def test_other_patients_cannot_file_on_my_bill(world: dict[str, Any]) -> None:
    c = world["c"]
    stranger = c.client(Q).claims
    with pytest.raises(ApiError) as refused:
        stranger.session.send([{"type": "claims/file", "claim": "ab" * 16, "insurer": INSURER.did,
                                "product": world["product"], "version": world["version"],
                                "bill": world["bill"], "service_ms": now_ms() - 1000,
                                "records": [{"record": world["visit"][0],
                                             "commitment": "00" * 32}],
                                "lines": [{"tag": "11" * 32, "amount": 1}], "amount": 1,
                                "consent_end_ms": now_ms() + 86_400_000}])
    assert refused.value.codespace == "claims"
    assert c.query("claims/claim", claim="ab" * 16) is None


def test_replaying_the_chain_gives_the_same_decisions(world: dict[str, Any]) -> None:
    """Re-execute every block from genesis in a fresh state: same app hashes, so the
    same adjudications and the same balances."""
    c: Consortium = world["c"]
    c.flush()
    height = c.node.status()["height"]
    report = verify_chain(world["home"] / "node")
    assert report.ok, report.reason
    assert report.checked >= height
