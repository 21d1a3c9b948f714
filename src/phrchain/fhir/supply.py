"""Supply chain state as FHIR R4 ``Medication`` (with its batch), ``MedicationDispense``
and ``SupplyDelivery``.

The chain holds products (public master data), units (GTIN, serial, lot, expiry),
shipments and dispenses, whose patient and prescription are monitoring tags only. The
pharmacy that dispensed, which keeps the link in its vault, passes ``patient`` and
``prescription`` references to name them in the ``MedicationDispense``; without them the
resource carries no subject and the prescription as its tag (``urn:phrchain:rx-tag``).
Every output is validated against the R4 schema before it is returned."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from phrchain.fhir.errors import INVALID_SUPPLY, FhirError
from phrchain.fhir.mapping import _coding, _did_ref, _validate_output
from phrchain.modules.supply.gs1 import DAY_MS, expiry_day

RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
ATC: Final = "http://www.whocc.no/atc"
GTIN_SYSTEM: Final = "https://www.gs1.org/gtin"
UCUM: Final = "http://unitsofmeasure.org"
PHR_RX_TAG: Final = "urn:phrchain:rx-tag"
PHR_DISPENSE: Final = "urn:phrchain:dispense"
PHR_SHIPMENT: Final = "urn:phrchain:shipment"
SGTIN: Final = "https://id.gs1.org/01"
_SHIPMENT_STATUS: Final = {"in_transit": "in-progress", "received": "completed",
                           "discrepancy": "in-progress"}


def _date(day: int) -> str:
    from datetime import UTC, datetime

    return datetime.fromtimestamp(day * DAY_MS // 1000, tz=UTC).strftime("%Y-%m-%d")


def _checked(make: Any) -> dict[str, Any]:
    try:
        resource: dict[str, Any] = make()
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise FhirError(INVALID_SUPPLY, f"malformed supply input ({type(exc).__name__})",
                        rule="shape") from None
    _validate_output(resource, INVALID_SUPPLY)
    return resource


def medication(product: Mapping[str, Any], lot: str | None = None,
               expiry: str | None = None, resource_id: str | None = None) -> dict[str, Any]:
    """A product (``supply/product``) as a ``Medication``; with ``lot`` and ``expiry``
    (YYMMDD) its ``batch``."""

    def make() -> dict[str, Any]:
        out: dict[str, Any] = {
            "resourceType": "Medication",
            "identifier": [{"system": GTIN_SYSTEM, "value": product["gtin"]}],
            "code": {"coding": [_coding(RXNORM, i["rxnorm"]) for i in product["ingredients"]]
                     + [_coding(ATC, i["atc"]) for i in product["ingredients"]],
                     "text": product["name"]},
            "form": {"text": product["dose_form"]},
            "ingredient": [{
                "itemCodeableConcept": {"coding": [_coding(RXNORM, i["rxnorm"])]},
                "isActive": True,
                "strength": {"numerator": {"value": i["ug"], "unit": "ug", "system": UCUM,
                                           "code": "ug"},
                             "denominator": {"value": 1, "unit": product["dose_form"]}}}
                for i in product["ingredients"]]}
        if resource_id is not None:
            out["id"] = resource_id
        if lot is not None and expiry is not None:
            day = expiry_day(expiry)
            if day is None:
                raise ValueError("expiry")
            out["batch"] = {"lotNumber": lot, "expirationDate": _date(day)}
        return out

    return _checked(make)


def medication_dispense(dispense: Mapping[str, Any], units: Sequence[Mapping[str, Any]],
                        products: Mapping[str, Mapping[str, Any]], *,
                        patient: str | None = None,
                        prescription: str | None = None) -> dict[str, Any]:
    """A dispense (``supply/dispense``) with its units (``supply/unit``) and their
    products by GTIN. ``patient``/``prescription``: FHIR references the pharmacy knows
    (``Patient/…``, ``MedicationRequest/…``); never on chain."""

    def make() -> dict[str, Any]:
        batches = sorted({(u["unit"].split("/")[0], u["lot"], u["expiry"]) for u in units})
        contained = [medication(products[g], lot, exp, f"m{n}")
                     for n, (g, lot, exp) in enumerate(batches)]
        out: dict[str, Any] = {
            "resourceType": "MedicationDispense", "status": "completed",
            "identifier": [{"system": PHR_DISPENSE, "value": dispense["dispense"]}]
            + [{"system": SGTIN, "value": u["unit"]} for u in units],
            "contained": contained,
            "medicationReference": {"reference": "#m0"},
            "performer": [{"actor": _did_ref(dispense["pharmacist"], "Practitioner")}],
            "location": _did_ref(dispense["pharmacy"], "Location"),
            "quantity": {"value": len(units), "unit": "pack"},
            "daysSupply": {"value": dispense["days_supply"], "unit": "d", "system": UCUM,
                           "code": "d"},
            "whenHandedOver": _date(dispense["day"])}
        if len(contained) > 1:  # medication[x] names one; the others are contained too
            out["note"] = [{"text": f"{len(contained)} batches: contained m0 to "
                                    f"m{len(contained) - 1}"}]
        if patient is not None:
            out["subject"] = {"reference": patient}
        out["authorizingPrescription"] = [
            {"reference": prescription} if prescription is not None else
            {"identifier": {"system": PHR_RX_TAG, "value": dispense["rx"]}}]
        return out

    return _checked(make)


def supply_delivery(shipment: Mapping[str, Any]) -> dict[str, Any]:
    """A shipment (``supply/shipment``) as a ``SupplyDelivery``."""

    def make() -> dict[str, Any]:
        return {
            "resourceType": "SupplyDelivery",
            "identifier": [{"system": PHR_SHIPMENT, "value": shipment["shipment"]}],
            "status": _SHIPMENT_STATUS[shipment["status"]],
            "type": {"coding": [_coding(
                "http://terminology.hl7.org/CodeSystem/supply-item-type", "medication",
                "Medication")]},
            "suppliedItem": {"quantity": {"value": shipment["count"], "unit": "pack"}},
            "supplier": _did_ref(shipment["sender"], "Organization"),
            "destination": _did_ref(shipment["to"], "Location"),
        }

    return _checked(make)


