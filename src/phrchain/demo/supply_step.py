"""The demo's drug supply story (M9): serialized packs from the manufacturer through the
wholesaler to the pharmacy and the patient, every step checked by the chain at commit;
a recall mid-route; a counterfeit serial refused; a dispense under monitoring tags and
an opioid + benzodiazepine alert the regulator sees and closes."""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Final

from phrchain.client.http import ApiError
from phrchain.client.supply import MonitoringKey, Prescription
from phrchain.modules.supply.gs1 import check_digit

if TYPE_CHECKING:
    from phrchain.demo.scenario import Scenario

RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _gtin(body12: str) -> str:
    """A KD-code-like GTIN-13 from 12 digits (the chain stores it as GTIN-14)."""
    return body12 + str(check_digit(body12))


def _sscc(n: int) -> str:
    body = f"08809770000{n:06d}"
    return body + str(check_digit(body))


def _request(patient_ref: str, rxnorm: str) -> dict[str, object]:
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": patient_ref},
            "medicationCodeableConcept": {"coding": [{"system": RXNORM, "code": rxnorm}]},
            "dispenseRequest": {"numberOfRepeatsAllowed": 0}}


def _code(unit: str, lot: str) -> str:
    gtin, serial = unit.split("/")
    return f"(01){gtin}(17)301231(10){lot}(21){serial}"


def supply_chain(s: Scenario) -> None:
    c = s.c
    s.title("Drug supply: serialized packs from factory to patient, checked at each step")
    maker, trader = c.client("manufacturer").supply, c.client("wholesaler").supply
    pharmacy = c.client("ph_choi").supply
    morphine = maker.register_product(_gtin("880977000001"), "Morphine sulfate 10 mg",
                                      [{"rxnorm": "7052", "atc": "N02AA01", "ug": 10_000}],
                                      "tablet", 30, "narcotic")
    diazepam = maker.register_product(_gtin("880977000002"), "Diazepam 5 mg",
                                      [{"rxnorm": "3322", "atc": "N05BA01", "ug": 5_000}],
                                      "tablet", 30, "psychotropic")
    packs = maker.commission(morphine, "M1", "301231", [f"M{n:04d}" for n in range(4)])
    recalled = maker.commission(morphine, "M2", "301231", ["R0001", "R0002"])
    benzo = maker.commission(diazepam, "D1", "301231", ["D0001"])
    case = _sscc(1)
    maker.pack(case, packs)
    s.say(f"{s.who('manufacturer')} registered 2 products (KD code → GTIN-14), "
          f"commissioned {len(packs) + len(recalled) + len(benzo)} serialized packs and "
          f"packed 4 into case {case}")
    first = maker.ship(c.did("wholesaler"), [*recalled, *benzo], [case])
    trader.receive(first, [*recalled, *benzo], [case])
    maker.recall(morphine, "M2")
    try:
        trader.ship(c.did("pharmacy"), recalled)
        raise RuntimeError("a recalled lot was shipped on")
    except ApiError as exc:
        s.say(f"lot M2 recalled mid-route: the wholesaler's onward shipment is refused "
              f"({exc.name}); it returns the packs to the manufacturer")
    back = trader.return_units(c.did("manufacturer"), recalled)
    maker.receive(back, recalled)
    onward = trader.ship(c.did("pharmacy"), benzo, [case])
    pharmacy.receive(onward, benzo, [case])
    pharmacy.unpack(case)
    s.say(f"one scan moved the case: manufacturer → {s.who('wholesaler')} → "
          f"{s.who('pharmacy')}; each step's CBV 2.0 event hash id is on chain, the "
          f"EPCIS documents stay with their senders")

    key = MonitoringKey.create()  # the regulator's, given to pharmacies and prescribers
    patient = s.patient(1)
    # The patient shows every pharmacy the same monitoring pseudonym (derived towards the
    # regulator, never registered: only its tag reaches the chain), so dispenses group
    # under one tag; the prescriptions are records of the patient's pseudonym at each
    # hospital.
    monitored = c.wallets[patient].pseudonym_did(c.did("regulator"), "monitoring")
    rx1 = c.client("dr_kim").records.add_resource(_request("Patient/p1", "7052"),
                                                  c.pseudonym(patient, "hospital_a"))
    opioid = Prescription(rx1, quantity=1, refills=0, days_supply=10,
                          salt=secrets.token_hex(16))
    kim = c.client("dr_kim").supply
    prior = kim.prescriber_history(key, monitored)   # statutory read before an opioid
    signed = kim.prescribe(key, monitored, opioid)
    s.say(f"{s.who('dr_kim')} read the patient's past year of controlled dispenses "
          f"({len(prior)}) before prescribing morphine — a statutory read the patient is "
          f"shown — and signed the prescription as a salted commitment (no record id on "
          f"chain), registered by the pharmacy with its first fill")
    try:
        pharmacy.dispense(key, monitored, opioid,
                          [f"(01){morphine}(17)301231(10)M1(21)FAKE0001"], c.did("dr_kim"),
                          authorization=signed)
        raise RuntimeError("a counterfeit serial was dispensed")
    except ApiError as exc:
        s.say(f"a counterfeit pack (serial never commissioned) is refused at the counter: "
              f"{exc.name}")
    pharmacy.dispense(key, monitored, opioid, [_code(packs[0], "M1")], c.did("dr_kim"),
                      authorization=signed)
    rx2 = c.client("dr_lee").records.add_resource(_request("Patient/p1", "3322"),
                                                  c.pseudonym(patient, "hospital_b"))
    benzo_rx = Prescription(rx2, 1, 0, 30, secrets.token_hex(16))
    dispensed = pharmacy.dispense(
        key, monitored, benzo_rx, [_code(benzo[0], "D1")], c.did("dr_lee"),
        authorization=c.client("dr_lee").supply.prescribe(key, monitored, benzo_rx))
    alerts = c.client("auditor").supply.open_alerts()
    found = [c.client("auditor").supply.alert(a) for a in alerts]
    kinds = sorted({a["kind"] for a in found if a and a["dispense"] == dispensed})
    s.say(f"{s.who('ph_choi')} dispensed morphine, then diazepam to the same patient from "
          f"another prescriber: the chain names the patient only by a monitoring tag, and "
          f"its rules raised {', '.join(kinds) or 'no alert'}")
    for alert in alerts:
        c.client("auditor").supply.close_alert(alert, "referred")
    s.say(f"the regulator's board showed {len(alerts)} open alert(s); its auditor closed "
          f"them as referred to the prescribers")
    s.outcome.extra["supply_alerts"] = kinds
