"""Supply state as FHIR R4 Medication (with batch), MedicationDispense and
SupplyDelivery: schema-valid, the batch and quantities from the chain, and no patient
or prescription unless the pharmacy names them."""

from __future__ import annotations

import json

import pytest

from phrchain.fhir.errors import INVALID_SUPPLY, FhirError
from phrchain.fhir.supply import (
    PHR_RX_TAG,
    medication,
    medication_dispense,
    supply_delivery,
)
from tests.supplyworld import PRODUCTS, World


@pytest.fixture(scope="module")
def world() -> World:
    w = World.build()
    w.units = w.stock("morphine10", 3, expiry="301200")  # type: ignore[attr-defined]
    assert w.dispense(w.units[:2], patient="p", days=10).ok  # type: ignore[attr-defined]
    return w


def _dispense(w: World) -> dict:  # type: ignore[type-arg]
    unit = w.q("supply/unit", unit=w.units[0])  # type: ignore[attr-defined]
    return w.q("supply/dispense", dispense=unit["dispense"])


def test_medication_carries_codes_strength_and_batch(world: World) -> None:
    product = world.q("supply/product", gtin=PRODUCTS["morphine10"]["gtin"])
    med = medication(product, "L1", "301200")
    assert med["batch"] == {"lotNumber": "L1", "expirationDate": "2030-12-31"}
    codes = {(c["system"], c["code"]) for c in med["code"]["coding"]}
    assert ("http://www.nlm.nih.gov/research/umls/rxnorm", "7052") in codes
    assert ("http://www.whocc.no/atc", "N02AA01") in codes
    assert med["ingredient"][0]["strength"]["numerator"]["value"] == 10_000
    assert "batch" not in medication(product)


def test_dispense_names_no_patient_unless_the_pharmacy_does(world: World) -> None:
    dispense = _dispense(world)
    units = [world.q("supply/unit", unit=u) for u in dispense["units"]]
    products = {PRODUCTS["morphine10"]["gtin"]:
                world.q("supply/product", gtin=PRODUCTS["morphine10"]["gtin"])}
    bare = medication_dispense(dispense, units, products)
    assert "subject" not in bare
    assert bare["authorizingPrescription"] == [
        {"identifier": {"system": PHR_RX_TAG, "value": dispense["rx"]}}]
    assert bare["quantity"]["value"] == 2 and bare["daysSupply"]["value"] == 10
    assert bare["contained"][0]["batch"]["lotNumber"] == "L1"
    assert "Patient" not in json.dumps(bare)
    named = medication_dispense(dispense, units, products, patient="Patient/p1",
                                prescription="MedicationRequest/r1")
    assert named["subject"] == {"reference": "Patient/p1"}
    assert named["authorizingPrescription"] == [{"reference": "MedicationRequest/r1"}]


def test_shipment_as_supply_delivery(world: World) -> None:
    _, units = world.commission("morphine10", 2)
    assert world.ship(world.manufacturer, world.wholesaler, "5a" * 16, units).ok
    delivery = supply_delivery(world.q("supply/shipment", shipment="5a" * 16))
    assert delivery["status"] == "in-progress"
    assert delivery["suppliedItem"]["quantity"]["value"] == 2
    assert world.receive(world.wholesaler, "5a" * 16, units).ok
    assert supply_delivery(world.q("supply/shipment", shipment="5a" * 16))["status"] \
        == "completed"


def test_malformed_input_is_refused_with_its_code() -> None:
    with pytest.raises(FhirError) as exc:
        supply_delivery({"shipment": "x"})
    assert exc.value.error is INVALID_SUPPLY
