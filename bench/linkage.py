"""What an insurer that runs a validator links to its enrollees from chain bytes (issue 14).

Patients act through per-relationship pseudonyms (the demo consortium's wallets): records
at hospital A are the patient's A-pseudonym's, at B the B-pseudonym's; enrolment and
claims are the insurer-pseudonym's, each claim linked by the A-pseudonym's signature. The
insurer knows its enrollees' insurer-pseudonyms (the DIDs that enrolled).

Setup, through the real SDK, node API and vaults of the demo's consortium
(``phrchain.demo.consortium``: hospitals A and B, an insurer, a regulator): ``--patients``
synthetic patients (``phrchain.fhir.synthetic``, seed ``--seed``), each with a bundle of
``--resources`` imported at hospital A by Dr Kim and a smaller one at hospital B by Dr Lee;
every odd patient grants hospital B read+push over encounters, labs and vital signs; Dr Lee
views one of those at A; Dr Kim pushes one to Dr Lee; Dr Lee pulls patient 2's conditions
after the patient approves; Dr Park (emergency, B) breaks the glass on one of patient 3's
records at A. The first half of the patients enrol with the insurer; each is billed by
hospital A, pays and files a claim naming ``--named`` of its hospital-A records; the
insurer's reviewer reads them. Vault audit outboxes are flushed and everything stops.

Measured: ``tests/linkage.py`` run as the insurer over every tx, event and state row
version of the node's stores, knowing its enrollees' DIDs. Figures, over all enrollees:
``enrollee_records`` (records they have), ``named`` (records they named in claims),
``linked`` (their records the linker attributes to them), ``linked_not_named`` (of those,
records they never named to the insurer: issue 14 wants 0), and of those how many show a
resource type, a category, a practitioner (author or accessor), a size, and a second
practitioner (an accessor other than the author); ``linked_at_b`` (linked records whose
custodian is hospital B); ``linked_identifiers`` (every id or hash joined to an
enrollee: records, consents, requests, bills, claims, audit request hashes, keys) and
``linked_actors`` (distinct institutions and practitioners seen with each enrollee's
identifiers, summed); ``documents_with_type_or_category`` (chain documents holding a
FHIR resource type name or a records category as a value or key segment: issue 14 wants
0 for records); ``merged_components`` and ``linked_wrong_patient`` (the linker's own
errors: both should be 0).
Last line: ``{"bench": "linkage", …}``.

    PYTHONPATH=src python bench/linkage.py [--patients 20] [--resources 12]
"""

from __future__ import annotations

import argparse
import json
import secrets
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import linkage

from phrchain.client.claims import ProductKey
from phrchain.demo.claims_step import COLONOSCOPY, CURRENCY, PRODUCT_RULES
from phrchain.demo.consortium import Consortium, running
from phrchain.fhir import RESOURCE_TYPES
from phrchain.fhir.synthetic import generate_patients
from phrchain.modules.records.messages import CATEGORIES

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


def populate(c: Consortium, n: int, seed: int, resources: int, person: dict[str, str]
             ) -> tuple[dict[str, str], dict[str, str], dict[str, list[str]]]:
    """Records at A and B, each under the patient's pseudonym there; returns (record →
    the person's DID as the insurer knows it, ``person``; record → custodian DID;
    patient name → its hospital-A record ids)."""
    owner: dict[str, str] = {}
    custodian: dict[str, str] = {}
    at_a: dict[str, list[str]] = {}
    for hospital, doctor, bundles in (
            ("hospital_a", "dr_kim", generate_patients(n, seed, resources)),
            ("hospital_b", "dr_lee", generate_patients(n, seed + 1, max(4, resources // 2)))):
        for i, bundle in enumerate(bundles, start=1):
            did = c.pseudonym(f"patient_{i}", hospital)
            ids = c.client(doctor).records.import_bundle(bundle, {_patient_id(bundle): did})
            for r in ids[did]:
                owner[r], custodian[r] = person[f"patient_{i}"], c.did(hospital)
            if hospital == "hospital_a":
                at_a[f"patient_{i}"] = ids[did]
    return owner, custodian, at_a


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--patients", type=int, default=20)
    ap.add_argument("--resources", type=int, default=12)
    ap.add_argument("--named", type=int, default=2, help="records named per claim")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--quick", action="store_true", help="4 patients, 6 resources each")
    args = ap.parse_args()
    if args.quick:
        args.patients, args.resources = 4, 6
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        with running(home, "bench-passphrase", patients=args.patients) as c:
            enrollees = [f"patient_{i}" for i in range(1, args.patients // 2 + 1)]
            # Ground truth: each person as the insurer knows them (an enrollee's
            # insurer-pseudonym); others by their wallet DID, which is never on chain.
            person = {f"patient_{i}": c.did(f"patient_{i}")
                      for i in range(1, args.patients + 1)}
            person.update({p: c.pseudonym(p, "insurer", "insurer") for p in enrollees})
            owner, custodian, at_a = populate(c, args.patients, args.seed, args.resources,
                                              person)
            care(c, args.patients, at_a)
            named = claims(c, enrollees, at_a, args.named)
            c.flush()
            hospital_b = c.did("hospital_b")
        setup_s = time.perf_counter() - t0
        t1 = time.perf_counter()
        documents = list(linkage.chain_documents(home / "node"))
        attributions = linkage.link(documents, list(named), RESOURCE_TYPES, CATEGORIES)
        kinds = linkage.actor_kinds(documents)
        vocabulary = linkage.vocabulary_hits(documents, RESOURCE_TYPES | CATEGORIES)
        link_s = time.perf_counter() - t1
    figures = linkage.summary(attributions, owner, named, kinds)
    figures["linked_at_b"] = sum(len(a.identifiers & {r for r, o in custodian.items()
                                                      if o == hospital_b})
                                 for a in attributions.values())
    figures["documents_with_type_or_category"] = vocabulary
    print(f"{len(documents)} chain documents (tx messages, events, state row versions); "
          f"{len(owner)} records of {args.patients} patients at 2 hospitals", file=sys.stderr)
    for name, value in figures.items():
        print(f"  {name}: {value}", file=sys.stderr)
    print(json.dumps({"bench": "linkage", "patients": args.patients, "records": len(owner),
                      "documents": len(documents), **figures, "setup_s": round(setup_s, 1),
                      "link_s": round(link_s, 2)}))


if __name__ == "__main__":
    main()
