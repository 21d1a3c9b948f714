"""Supply parties on a running consortium (``tests/consortium.py``), shared by the
supply end-to-end and web tests: an authority sets the parameters and admits a
manufacturer, a wholesaler and a pharmacy with its pharmacist."""

from __future__ import annotations

from phrchain.client import builder
from phrchain.client.wallet import Wallet
from phrchain.modules.supply.gs1 import check_digit
from phrchain.modules.supply.messages import SetParams
from phrchain.testing import supply_params
from tests.consortium import AUTHORITY, CHAIN, Consortium

MANUFACTURER = Wallet.from_secrets(bytes([41]) * 32, bytes([141]) * 32, "Pharma Co")
WHOLESALER = Wallet.from_secrets(bytes([42]) * 32, bytes([142]) * 32, "Distributor")
PHARMACY = Wallet.from_secrets(bytes([43]) * 32, bytes([143]) * 32, "Corner pharmacy")
PHARMACIST = Wallet.from_secrets(bytes([44]) * 32, bytes([144]) * 32, "pharmacist")
GTIN = "0880000000001" + str(check_digit("0880000000001"))
ZOLPIDEM_GTIN = "0880000000004" + str(check_digit("0880000000004"))
AMOXICILLIN_GTIN = "0880000000007" + str(check_digit("0880000000007"))
CASE_BODY = "08800000000000077"
CASE = CASE_BODY + str(check_digit(CASE_BODY))
MEDICATION_REQUEST = {
    "resourceType": "MedicationRequest", "status": "active", "intent": "order",
    "subject": {"reference": "Patient/p"},
    "medicationCodeableConcept": {"coding": [{
        "system": "http://www.nlm.nih.gov/research/umls/rxnorm", "code": "7052"}]},
    "dispenseRequest": {"numberOfRepeatsAllowed": 0}}


def admit(c: Consortium) -> None:
    with c.client(AUTHORITY) as authority:
        authority.session.send([SetParams.parse({"params": supply_params()}).to_msg()])
        for org, kind in ((MANUFACTURER, "manufacturer"), (WHOLESALER, "wholesaler"),
                          (PHARMACY, "pharmacy")):
            req = builder.join_request(org, CHAIN, AUTHORITY.did)
            authority.session.send([builder.admit_organization(
                org.did, kind, org.label, req["enc_key"], req["pop"])])
    with c.client(PHARMACY) as pharmacy:
        req = builder.join_request(PHARMACIST, CHAIN, PHARMACY.did)
        pharmacy.session.send([builder.admit_practitioner(
            PHARMACIST.did, ["pharmacist"], req["enc_key"], req["pop"])])
