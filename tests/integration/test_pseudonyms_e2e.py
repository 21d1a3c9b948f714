"""Pseudonyms end to end (issue 14): one patient (a wallet with a root) with records at
hospital A under the A-pseudonym and at hospital B under the B-pseudonym, a bill of A
paid by the A-pseudonym, enrolment and a claim by the insurer-pseudonym linked to the
A-pseudonym. The claim's chain bytes name the insurer- and A-pseudonyms and nothing of
the B-pseudonym or the root identity; the patient sees one view over all pseudonyms."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.claims import ProductKey
from phrchain.client.patient import PatientWallet, SelfTransferError
from phrchain.client.session import RecordsError
from phrchain.client.wallet import Wallet
from phrchain.demo.claims_step import COLONOSCOPY, COSMETIC, CURRENCY, PRODUCT_RULES, _visit
from tests.consortium import (
    A1,
    AUTHORITY,
    B1,
    HOSPITAL_A,
    HOSPITAL_B,
    INSURER,
    IR,
    Consortium,
    running,
)

LINES = [(COLONOSCOPY, 300_000), (COSMETIC, 50_000)]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("pseudonyms")
    saved: list[int] = []
    with running(home) as c:
        wallet = Wallet.create("patient R")
        me = PatientWallet(c.client(AUTHORITY).node, wallet, c.directory,
                           save=lambda w: saved.append(len(w.pseudonym_map)))
        at_a, at_b, cover = me.at(HOSPITAL_A.did), me.at(HOSPITAL_B.did), \
            me.insurer(INSURER.did)
        governance = c.client(AUTHORITY).claims
        governance.mint(INSURER.did, 10_000_000, CURRENCY)
        governance.mint(at_a.wallet.did, 1_000_000, CURRENCY)   # the pseudonym that pays
        key = ProductKey.create()
        product, _ = c.client(INSURER).claims.publish("basic", PRODUCT_RULES, key)
        start = now_ms() + 2_000
        cover.claims.enrol(INSURER.did, product, start, 365)
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        a_records = [c.client(A1).records.add_resource(r, at_a.wallet.did)
                     for r in _visit(when, "Patient/r")]
        b_records = [c.client(B1).records.add_resource(r, at_b.wallet.did)
                     for r in _visit(when, "Patient/r")[:2]]
        bill = c.client(A1).claims.bill(at_a.wallet.did, 350_000, CURRENCY, "E-1")
        at_a.claims.pay_bill(bill)
        while now_ms() < start + 1_000:
            time.sleep(0.05)
        claim = me.file_claim(INSURER.did, product, bill, a_records[:2], LINES, key,
                              service_ms=now_ms() - 500, at=HOSPITAL_A.did)
        c.flush()
        yield {"c": c, "me": me, "wallet": wallet, "a": at_a.wallet.did,
               "b": at_b.wallet.did, "i": cover.wallet.did, "a_records": a_records,
               "b_records": b_records, "claim": claim, "bill": bill, "saved": saved}
        me.close()


def test_each_pseudonym_is_an_unlinked_patient(world: dict[str, Any]) -> None:
    c: Consortium = world["c"]
    dids = {world["a"], world["b"], world["i"]}
    assert len(dids) == 3 and world["wallet"].did not in dids
    for did in dids:
        assert c.query("identity/did", did=did)["kind"] == "patient"
    assert c.query("identity/did", did=world["wallet"].did) is None   # the root never acts
    assert {p.did for p in world["wallet"].pseudonyms()} == dids
    assert world["saved"][-1] == 3   # the map was handed to save() as it grew
    for record in world["a_records"]:
        assert c.query("records/get", record=record)["patient"] == world["a"]
    for record in world["b_records"]:
        assert c.query("records/get", record=record)["patient"] == world["b"]


def test_the_claim_names_the_insurer_and_a_pseudonyms_only(world: dict[str, Any]) -> None:
    c: Consortium = world["c"]
    claim = world["claim"]
    assert (claim["patient"], claim["owner"], claim["status"]) == \
        (world["i"], world["a"], "partial")
    block = c.client(AUTHORITY).node.block(claim["filed_height"])
    txs = [bytes.fromhex(t).decode("utf-8", "replace") for t in block["txs"]]
    filing = [t for t in txs if claim["claim"] in t]
    assert len(filing) == 1
    chain_bytes = json.dumps([
        c.query("claims/claim", claim=claim["claim"]),
        c.query("consent/get", consent=claim["claim"]),
        c.query("settlement/bill", bill=world["bill"]),
        filing, [r for r in block["results"] if claim["claim"] in json.dumps(r)],
    ])
    assert world["i"] in chain_bytes and world["a"] in chain_bytes
    assert world["b"] not in chain_bytes and world["wallet"].did not in chain_bytes
    assert not any(r in chain_bytes for r in world["b_records"])
    consent = c.query("consent/get", consent=claim["claim"])
    assert consent["patient"] == world["a"]
    # the insurer reads exactly the two named records
    opened = c.client(IR).claims.read_claim_records(claim["claim"])
    assert len(opened) == 2


def test_one_view_over_all_pseudonyms(world: dict[str, Any]) -> None:
    me: PatientWallet = world["me"]
    records = me.all_records()
    assert {d["record"] for d in records[world["a"]]} == set(world["a_records"])
    assert {d["record"] for d in records[world["b"]]} == set(world["b_records"])
    assert records[world["i"]] == []
    consents = me.all_consents()
    assert [x["consent"] for x in consents[world["a"]]] == [world["claim"]["claim"]]
    assert consents[world["b"]] == consents[world["i"]] == []
    logs = me.audit_logs()
    assert logs[world["a"]], "the A-pseudonym's records were read (claim, insurer)"
    assert {e["record"] for e in logs[world["a"]]} <= set(world["a_records"])
    card = me.emergency_card()
    assert sorted((e["custodian"], e["pseudonym"]) for e in card) == sorted(
        [(HOSPITAL_A.did, world["a"]), (HOSPITAL_B.did, world["b"])])


def test_money_never_moves_between_own_pseudonyms(world: dict[str, Any]) -> None:
    me: PatientWallet = world["me"]
    c: Consortium = world["c"]
    before = c.query("settlement/balance", did=world["b"], currency=CURRENCY)
    with pytest.raises(SelfTransferError, match="would link them"):
        me.transfer(world["a"], world["b"], 1, CURRENCY)
    with pytest.raises(RecordsError, match="another pseudonym of this wallet"):
        me.at(HOSPITAL_A.did).claims.transfer(world["i"], 1, CURRENCY)
    assert c.query("settlement/balance", did=world["b"], currency=CURRENCY) == before
    me.transfer(world["a"], HOSPITAL_A.did, 1, CURRENCY)   # paying others is fine


def test_rotating_a_pseudonym_keeps_its_did_and_records(world: dict[str, Any]) -> None:
    me: PatientWallet = world["me"]
    c: Consortium = world["c"]
    old_key = c.query("identity/did", did=world["b"])["signing_key"]
    me.rotate(world["b"])
    identity = c.query("identity/did", did=world["b"])
    assert identity["signing_key"] != old_key
    assert identity["signing_key"] == me.pseudonym(world["b"]).wallet.signing_key \
        .public_key.hex()
    assert world["wallet"].pseudonym_map[world["b"]].rotation == 1
    # the rotated pseudonym still signs (a consent) and still reads its records
    phr = me.pseudonym(world["b"])
    assert {d["record"] for d in phr.records.my_records()} == set(world["b_records"])
    opened = phr.records.open(world["b_records"][0], purpose="PATRQT")
    assert opened.plaintext


def test_wallet_file_keeps_the_map(world: dict[str, Any], tmp_path: Path) -> None:
    from phrchain.client.wallet import KdfParams

    path = tmp_path / "r.json"
    world["wallet"].save(path, "pw", KdfParams(64, 1, 1))
    loaded = Wallet.load(path, "pw")
    assert loaded.pseudonyms() == world["wallet"].pseudonyms()
    assert loaded.pseudonym_of(world["a"]).did == world["a"]
