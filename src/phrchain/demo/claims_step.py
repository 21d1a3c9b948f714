"""The demo's insurance story (M8, M15): a visit today, a bill paid in the settlement
ledger, a claim filed by choosing records, adjudicated and paid by the contract; a
second claim for the same bill denied as a duplicate; the regulator's view.

With pseudonyms (issue 14): the bill is Hanbit's to the patient's Hanbit pseudonym, paid
from that pseudonym's balance; enrolment and claims are the insurer-pseudonym's, each
claim linked (signed) by the Hanbit pseudonym to exactly that claim."""

from __future__ import annotations

import secrets
import time
import uuid
from typing import TYPE_CHECKING, Any, Final

from phrchain.client.claims import Code, ProductKey, Rules
from phrchain.client.http import ApiError
from phrchain.fhir.synthetic import SNOMED
from phrchain.web.filing import invoice

if TYPE_CHECKING:
    from phrchain.demo.scenario import Scenario

CURRENCY: Final = "KRW"
ICD10: Final = "http://hl7.org/fhir/sid/icd-10"
COLONOSCOPY: Final = Code(SNOMED, "73761001", "Colonoscopy (procedure)")
CHECKUP: Final = Code(SNOMED, "185349003", "Encounter for check up (procedure)")
COSMETIC: Final = Code(SNOMED, "243136001", "Cosmetic procedure (procedure)")
PRODUCT_RULES: Final = Rules(
    name="Dasom Basic Care", currency=CURRENCY, covered=(COLONOSCOPY, CHECKUP),
    excluded=(COSMETIC,), deductible=50_000, copay_bps=2_000, per_claim_limit=1_000_000,
    yearly_limit=5_000_000, refer_above=2_000_000)


def _visit(when: str, patient_ref: str) -> list[dict[str, Any]]:
    """Today's visit as FHIR R4: the Encounter, the Procedure done, the diagnosis."""
    enc = str(uuid.uuid4())
    encounter = {"resourceType": "Encounter", "id": enc, "status": "finished",
                 "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                           "code": "AMB", "display": "ambulatory"},
                 "type": [{"coding": [{"system": SNOMED, "code": CHECKUP.code,
                                       "display": CHECKUP.display}]}],
                 "subject": {"reference": patient_ref}, "period": {"start": when}}
    procedure = {"resourceType": "Procedure", "status": "completed",
                 "code": {"coding": [{"system": SNOMED, "code": COLONOSCOPY.code,
                                      "display": COLONOSCOPY.display}]},
                 "subject": {"reference": patient_ref},
                 "encounter": {"reference": f"Encounter/{enc}"}, "performedDateTime": when}
    condition = {"resourceType": "Condition",
                 "code": {"coding": [{"system": ICD10, "code": "Z12.11",
                                      "display": "Encounter for screening for malignant "
                                                 "neoplasm of colon"}]},
                 "subject": {"reference": patient_ref},
                 "encounter": {"reference": f"Encounter/{enc}"}, "recordedDate": when}
    return [encounter, procedure, condition]


def _won(amount: int) -> str:
    return f"₩{amount:,}"


def insurance_claim(s: Scenario) -> None:
    from datetime import UTC, datetime

    from phrchain.demo.scenario import now_ms, short

    c, p = s.c, s.patient(1)
    s.title("Insurance: a visit, a bill paid, a claim filed by choosing records, paid by "
            "the contract")
    at_hanbit, cover = c.as_patient(p, "hospital_a"), c.as_patient(p, "insurer", "insurer")
    governance = c.client("authority").claims
    governance.mint(c.did("insurer"), 100_000_000, CURRENCY)
    governance.mint(at_hanbit.wallet.did, 1_000_000, CURRENCY)
    s.say(f"settlement: the insurer funded its claims account with {_won(100_000_000)}; "
          f"patient 1 topped up {_won(1_000_000)} on their Hanbit pseudonym "
          f"{short(at_hanbit.wallet.did)}, which pays Hanbit's bills (integer won, minted "
          "by governance)")

    insurer = c.client("reviewer").claims
    key = ProductKey.create()
    product, version = insurer.publish("basic-care", PRODUCT_RULES, key)
    s.say(f"Dasom published '{PRODUCT_RULES.name}' v{version}: deductible "
          f"{_won(PRODUCT_RULES.deductible)}, co-pay 20%, limits per claim/year; its "
          f"covered codes are on chain only as HMAC tags under the insurer's product key")

    patient = cover.claims
    start = now_ms() + 2_000   # no backdating: after the enrol tx's block
    patient.enrol(c.did("insurer"), product, start, 365)

    when = datetime.now(tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    doctor = c.client("dr_kim")
    visit = [doctor.records.add_resource(r, at_hanbit.wallet.did)
             for r in _visit(when, "Patient/demo")]
    hospital = doctor.claims
    encounter_no = f"E-{secrets.token_hex(4)}"
    bill = hospital.bill(at_hanbit.wallet.did, 350_000, CURRENCY, encounter_no)
    at_hanbit.claims.pay_bill(bill)
    s.say(f"patient 1 enrolled for a year as their insurer-pseudonym "
          f"{short(cover.wallet.did)}, had a colonoscopy at Hanbit today; Hanbit billed "
          f"{_won(350_000)} on chain to the Hanbit pseudonym, which paid it")

    lines = [(COLONOSCOPY, 300_000), (COSMETIC, 50_000)]
    while now_ms() < start + 700:   # the visit happens once the coverage has started
        time.sleep(0.05)
    service_ms = now_ms() - 500
    me = c.patient(p)
    filed = me.file_claim(c.did("insurer"), product, bill, visit, lines, key,
                          service_ms=service_ms, at=c.did("hospital_a"))
    s.outcome.extra["claim"] = filed
    s.say(f"patient 1 chose 3 records (Encounter, Procedure, Condition) and filed claim "
          f"{filed['claim'][:8]}… for {_won(filed['amount'])} as the insurer-pseudonym, "
          f"linked by the Hanbit pseudonym's signature to this claim only (no other "
          "pseudonym of patient 1 is named)")
    s.say(f"contract decision: {filed['status']} — payout {_won(filed['payout'])}, "
          f"payment {filed['payment']}; reasons: {', '.join(filed['reasons']) or 'none'}")
    s.say(f"  (300,000 covered - 50,000 deductible = 250,000; insurer pays 80% = "
          f"{_won(200_000)}; the cosmetic line is excluded)")
    s.say(f"the payout went to the insurer-pseudonym: its balance is now "
          f"{_won(patient.balance(CURRENCY))}")

    opened = insurer.read_claim_records(filed["claim"])
    other = next(r for r in s.outcome.records[p] if r not in visit)
    try:
        c.client("reviewer").records.open(other, purpose="HPAYMT")
        raise RuntimeError("the insurer read a record the patient did not choose")
    except ApiError as exc:
        s.say(f"the insurer's reviewer opened exactly the {len(opened)} chosen records "
              f"(purpose HPAYMT); any other record of the patient: {exc.status} {exc.name}")

    again = me.file_claim(c.did("insurer"), product, bill, visit[:1], lines[:1], key,
                          service_ms=service_ms, at=c.did("hospital_a"))
    s.say(f"a second claim for the same bill: {again['status']} "
          f"({', '.join(again['reasons'])}) — nothing paid")
    regulator = c.client("auditor").claims
    flagged = regulator.claims_by_reason("duplicate_claim")
    s.say(f"the regulator lists claims by reason code: duplicate_claim → {len(flagged)}")
    # Left for the web UI (Claims → File a claim): a check-up billed, itemized, paid.
    follow_up = hospital.bill(at_hanbit.wallet.did, 120_000, CURRENCY,
                              f"E-{secrets.token_hex(4)}")
    doctor.records.add_resource(invoice(follow_up, [(CHECKUP, 120_000)], CURRENCY,
                                        "Patient/demo"), at_hanbit.wallet.did)
    at_hanbit.claims.pay_bill(follow_up)
    s.outcome.extra["product_key"] = key
    s.say(f"Hanbit billed a check-up ({_won(120_000)}) with its itemized bill as one of "
          f"patient 1's records; patient 1 paid it and can claim it in the web UI")
    fhir = patient.fhir(filed["claim"], key)
    eob = fhir["ExplanationOfBenefit"]
    s.say(f"exported as FHIR R4 Claim, ClaimResponse and ExplanationOfBenefit (outcome "
          f"{eob['outcome']}, benefit {eob['total'][1]['amount']['value']} "
          f"{eob['total'][1]['amount']['currency']})")
