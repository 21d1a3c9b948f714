"""The issue-14 linkage scenario, shared by ``bench/linkage.py`` and
``tests/integration/test_linkage.py``: a consortium where patients act through
per-relationship pseudonyms, care at two hospitals, claims to an insurer, and then the
linker of ``tests/linkage.py`` run as the insurer over every chain byte.

Setup, through the real SDK, node API and vaults of the demo's consortium
(``phrchain.demo.consortium``: hospitals A and B, an insurer, a regulator): ``patients``
synthetic patients (``phrchain.fhir.synthetic``), each with a bundle of ``resources``
imported at hospital A by Dr Kim under the patient's A-pseudonym and a smaller one at
hospital B by Dr Lee under the B-pseudonym; every odd patient grants hospital B read+push
over the A records of their encounters, labs and vital signs (chosen by sealed category,
named by id); Dr Lee views one of those at A; hospital A pushes one to Dr Lee; Dr Lee pulls
patient 2's condition record after the patient approves; Dr Park (emergency, B) breaks
the glass on one of patient 3's records at A. The first half of the patients enrol with
the insurer under their insurer-pseudonym; each is billed by hospital A, pays from the
A-pseudonym and files a claim naming ``named`` of its hospital-A records, linked by the
A-pseudonym's signature; the insurer's reviewer reads them. Vault audit outboxes are
flushed and everything stops.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from phrchain.client.claims import ProductKey
from phrchain.demo.claims_step import COLONOSCOPY, CURRENCY, PRODUCT_RULES
from phrchain.demo.consortium import Consortium, running
from phrchain.fhir import RESOURCE_TYPES
from phrchain.fhir.synthetic import generate_patients
from phrchain.modules.records.messages import CATEGORIES
from tests import linkage

DAY_MS = 86_400_000


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _patient_id(bundle: dict[str, Any]) -> str:
    return str(next(e["resource"]["id"] for e in bundle["entry"]
                    if e["resource"]["resourceType"] == "Patient"))


def _first(c: Consortium, patient: str, ids: list[str], categories: set[str]
           ) -> tuple[str, str]:
    """The patient's first record among ``ids`` in ``categories`` (else the last one),
    with its category."""
    mine = [d for d in c.as_patient(patient, "hospital_a").records.my_records()
            if d["record"] in ids]
    d = next((d for d in mine if d["category"] in categories), mine[-1])
    return str(d["record"]), str(d["category"])


def populate(c: Consortium, n: int, seed: int, resources: int
             ) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]], dict[str, str]]:
    """Records at A and B, each under the patient's pseudonym there; returns (record →
    its owner pseudonym's DID; record → custodian DID; patient name → its hospital-A
    record ids; record → its author's DID)."""
    owner: dict[str, str] = {}
    custodian: dict[str, str] = {}
    author: dict[str, str] = {}
    at_a: dict[str, list[str]] = {}
    for hospital, doctor, bundles in (
            ("hospital_a", "dr_kim", generate_patients(n, seed, resources)),
            ("hospital_b", "dr_lee", generate_patients(n, seed + 1, max(4, resources // 2)))):
        for i, bundle in enumerate(bundles, start=1):
            did = c.pseudonym(f"patient_{i}", hospital)
            ids = c.client(doctor).records.import_bundle(bundle, {_patient_id(bundle): did})
            for r in ids[did]:
                owner[r], custodian[r], author[r] = did, c.did(hospital), c.did(doctor)
            if hospital == "hospital_a":
                at_a[f"patient_{i}"] = ids[did]
    return owner, custodian, at_a, author


def care(c: Consortium, n: int, at_a: dict[str, list[str]]) -> None:
    """Consents, a view, a push, a pull and a break-glass."""
    shared = {"encounter", "laboratory", "vital-signs"}
    start = now_ms() - 60_000
    for i in range(1, n + 1, 2):
        mine = c.as_patient(f"patient_{i}", "hospital_a")
        # v2: no categories on chain; the wallet names the records by their sealed ones
        chosen = [d["record"] for d in mine.records.my_records()
                  if d.get("category") in shared]
        mine.consent.grant(
            {"kind": "organization", "id": c.did("hospital_b")}, actions=["read", "push"],
            scope={"records": chosen}, purposes=["TREAT"], start_ms=start,
            end_ms=start + 30 * DAY_MS)
        record, _ = _first(c, f"patient_{i}", at_a[f"patient_{i}"], shared)
        c.client("dr_lee").records.open(record, action="view", purpose="TREAT")
    pushed, _ = _first(c, "patient_1", at_a["patient_1"], {"encounter"})
    c.client("hospital_a").exchange.push(pushed, c.did("dr_lee"))  # v2: the custodian
    p2 = "patient_2" if n >= 2 else "patient_1"
    wanted, _ = _first(c, p2, at_a[p2], {"condition"})
    # A request names record ids (or all records), never a category.
    request = c.client("dr_lee").exchange.request_pull(
        c.pseudonym(p2, "hospital_a"), {"records": [wanted]}, "TREAT")
    c.as_patient(p2, "hospital_a").exchange.approve(request, now_ms() + 7 * DAY_MS)
    c.client("dr_lee").exchange.pull(request, wanted)
    p3 = f"patient_{min(3, n)}"
    c.client("dr_park").records.open(
        _first(c, p3, at_a[p3], {"allergy"})[0], action="break_glass", purpose="ETREAT",
        reason="unconscious on arrival")


def claims(c: Consortium, enrollees: list[str], at_a: dict[str, list[str]], named: int
           ) -> dict[str, list[str]]:
    """Enrolment, a paid bill and one claim naming ``named`` hospital-A records each."""
    authority = c.client("authority").claims
    authority.mint(c.did("insurer"), 100_000_000, CURRENCY)
    key = ProductKey.create()
    product, _ = c.client("reviewer").claims.publish("basic-care", PRODUCT_RULES, key)
    start = now_ms() + 2_000   # no backdating: after the enrol tx's block
    for p in enrollees:
        authority.mint(c.pseudonym(p, "hospital_a"), 1_000_000, CURRENCY)
        c.as_patient(p, "insurer", "insurer").claims.enrol(c.did("insurer"), product,
                                                           start, 365)
    while now_ms() < start + 1_000:
        time.sleep(0.05)
    out: dict[str, list[str]] = {}
    for p in enrollees:
        bill = c.client("dr_kim").claims.bill(c.pseudonym(p, "hospital_a"), 300_000,
                                              CURRENCY, f"E-{secrets.token_hex(4)}")
        c.as_patient(p, "hospital_a").claims.pay_bill(bill)
        records = at_a[p][:named]
        filed = c.patient(p).file_claim(c.did("insurer"), product, bill, records,
                                        [(COLONOSCOPY, 300_000)], key,
                                        service_ms=now_ms() - 500,
                                        at=c.did("hospital_a"))
        c.client("reviewer").claims.read_claim_records(filed["claim"])
        out[c.pseudonym(p, "insurer", "insurer")] = records
    return out


@dataclass
class Measured:
    figures: dict[str, int]
    control: dict[str, int]          # the linker knowing every pseudonym of each enrollee
    documents: int
    records: int
    record_documents_with_words: int  # records-module documents holding a type/category
    record_documents_with_practitioner: int
    setup_s: float
    link_s: float


def _records_documents(documents: list[linkage.Document]) -> list[linkage.Document]:
    """The documents of the records module: its messages, events and state rows."""
    out = []
    for doc in documents:
        v = doc.value
        kind = str(v.get("type", "")) if isinstance(v, dict) else ""
        key = str(v.get("key", "")) if doc.where == "state" and isinstance(v, dict) else ""
        if kind.startswith(("records/", "records.")) or key.startswith("records/"):
            out.append(doc)
    return out


def measure(home: Path, patients: int, resources: int, named: int, seed: int) -> Measured:
    """Run the scenario under ``home`` and the linker as the insurer (module docstring)."""
    t0 = time.perf_counter()
    with running(home, "linkage-passphrase", patients=patients) as c:
        enrollees = [f"patient_{i}" for i in range(1, patients // 2 + 1)]
        owner, custodian, at_a, author = populate(c, patients, seed, resources)
        care(c, patients, at_a)
        by_insurer_pseudonym = claims(c, enrollees, at_a, named)
        c.flush()
        # Ground truth: every DID of each person (their wallet's map).
        person_of = {did: p for p in (f"patient_{i}" for i in range(1, patients + 1))
                     for did in c.patient(p).dids()}
        every_did = {p: c.patient(p).dids() for p in enrollees}
        hospital_b = c.did("hospital_b")
    setup_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    documents = list(linkage.chain_documents(home / "node"))
    attributions = linkage.link(documents, list(by_insurer_pseudonym), RESOURCE_TYPES,
                                CATEGORIES)
    kinds = linkage.actor_kinds(documents)
    figures = linkage.summary(attributions, owner, by_insurer_pseudonym, kinds,
                              person_of=person_of, custodian=custodian, author=author)
    # Control: the same linker told every pseudonym of each enrollee (what one DID per
    # person across institutions gave it before issue 14) attributes every record.
    control = {"enrollee_records": 0, "linked": 0}
    for p in enrollees:
        known = linkage.link(documents, every_did[p], RESOURCE_TYPES, CATEGORIES)
        ids = set().union(*(a.identifiers for a in known.values()))
        own = {r for r, o in owner.items() if person_of.get(o) == p}
        control["enrollee_records"] += len(own)
        control["linked"] += len(own & ids)
    record_docs = _records_documents(documents)
    words = linkage.vocabulary_hits(record_docs, RESOURCE_TYPES | CATEGORIES)
    practitioners = {d for d, k in kinds.items() if k == "practitioner"}
    with_practitioner = sum(
        1 for doc in record_docs
        if practitioners & linkage.identifiers(str(doc.value)))
    figures["linked_at_b"] = sum(
        1 for a in attributions.values() for r in a.identifiers
        if custodian.get(r) == hospital_b)
    figures["documents_with_type_or_category"] = linkage.vocabulary_hits(
        documents, RESOURCE_TYPES | CATEGORIES)
    return Measured(figures, control, len(documents), len(owner), words, with_practitioner,
                    round(setup_s, 1), round(time.perf_counter() - t1, 2))
