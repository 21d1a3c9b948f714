"""A small supply chain on the in-memory chain, shared by the supply tests and
``bench/supply.py``: a manufacturer, a wholesaler, two pharmacies with a pharmacist
each, a hospital and a clinic with physicians and a nurse, a regulator, and products
(an opioid, a benzodiazepine, zolpidem, appetite suppressants, antibiotics).

Event hash ids here are unique strings of the right shape (the chain checks only the
shape and uniqueness); ``tests/unit/test_supply_epcis.py`` checks the SDK's real ones."""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
from dataclasses import dataclass, field
from typing import Any

from phrchain.core import keys
from phrchain.modules.supply import gs1
from phrchain.modules.supply.messages import Prescribe
from phrchain.testing import CHAIN_ID, Chain, signing_key, supply_params

_COUNTER = itertools.count()


def event_hash(label: str = "") -> str:
    digest = hashlib.sha256(f"{label}/{next(_COUNTER)}".encode()).hexdigest()
    return f"ni:///sha-256;{digest}?ver=CBV2.0"


def gtin(body: str) -> str:
    """A GTIN-14 from 13 digits, with its check digit."""
    return body + str(gs1.check_digit(body))


def sscc(body: str) -> str:
    return body + str(gs1.check_digit(body))


def tag(label: str) -> str:
    """A stand-in monitoring tag (the SDK derives real ones under the monitoring key)."""
    return hashlib.sha256(label.encode()).hexdigest()


# RxNorm ingredient ids and ATC codes of the products.
MORPHINE = {"rxnorm": "7052", "atc": "N02AA01"}
OXYCODONE = {"rxnorm": "7804", "atc": "N02AA05"}
DIAZEPAM = {"rxnorm": "3322", "atc": "N05BA01"}
ZOLPIDEM = {"rxnorm": "39993", "atc": "N05CF02"}
PHENTERMINE = {"rxnorm": "8152", "atc": "A08AA01"}
PHENDIMETRAZINE = {"rxnorm": "8138", "atc": "A08AA12"}
AMOXICILLIN = {"rxnorm": "723", "atc": "J01CA04"}
LINEZOLID = {"rxnorm": "190376", "atc": "J01XX08"}
CEFTRIAXONE = {"rxnorm": "2193", "atc": "J01DD04"}

PRODUCTS: dict[str, dict[str, Any]] = {
    # name: (gtin, ingredients with ug per dose unit, dose units per pack, class)
    "morphine10": {"gtin": gtin("0880000000001"), "ingredients": [{**MORPHINE, "ug": 10_000}],
                   "dose_units": 30, "controlled": "narcotic", "dose_form": "tablet"},
    "oxycodone5": {"gtin": gtin("0880000000002"), "ingredients": [{**OXYCODONE, "ug": 5_000}],
                   "dose_units": 30, "controlled": "narcotic", "dose_form": "tablet"},
    "diazepam5": {"gtin": gtin("0880000000003"), "ingredients": [{**DIAZEPAM, "ug": 5_000}],
                  "dose_units": 30, "controlled": "psychotropic", "dose_form": "tablet"},
    "zolpidem10": {"gtin": gtin("0880000000004"), "ingredients": [{**ZOLPIDEM, "ug": 10_000}],
                   "dose_units": 30, "controlled": "psychotropic", "dose_form": "tablet"},
    "phentermine": {"gtin": gtin("0880000000005"),
                    "ingredients": [{**PHENTERMINE, "ug": 37_500}], "dose_units": 30,
                    "controlled": "psychotropic", "dose_form": "tablet"},
    "phendimetrazine": {"gtin": gtin("0880000000006"),
                        "ingredients": [{**PHENDIMETRAZINE, "ug": 35_000}], "dose_units": 30,
                        "controlled": "psychotropic", "dose_form": "tablet"},
    "amoxicillin": {"gtin": gtin("0880000000007"),
                    "ingredients": [{**AMOXICILLIN, "ug": 500_000}], "dose_units": 21,
                    "controlled": "none", "dose_form": "capsule"},
    "linezolid": {"gtin": gtin("0880000000008"), "ingredients": [{**LINEZOLID, "ug": 600_000}],
                  "dose_units": 10, "controlled": "none", "dose_form": "tablet"},
    "morphine50amp": {"gtin": gtin("0880000000010"),
                      "ingredients": [{**MORPHINE, "ug": 50_000}], "dose_units": 1,
                      "controlled": "narcotic", "dose_form": "injection"},
    "ceftriaxone": {"gtin": gtin("0880000000009"),
                    "ingredients": [{**CEFTRIAXONE, "ug": 1_000_000}], "dose_units": 1,
                    "controlled": "none", "dose_form": "injection"},
}


@dataclass
class World:
    chain: Chain
    manufacturer: keys.SigningKey = field(default_factory=lambda: signing_key(501))
    wholesaler: keys.SigningKey = field(default_factory=lambda: signing_key(502))
    pharmacy: keys.SigningKey = field(default_factory=lambda: signing_key(503))
    pharmacy2: keys.SigningKey = field(default_factory=lambda: signing_key(504))
    pharmacy3: keys.SigningKey = field(default_factory=lambda: signing_key(505))
    hospital: keys.SigningKey = field(default_factory=lambda: signing_key(506))
    clinic: keys.SigningKey = field(default_factory=lambda: signing_key(507))
    regulator: keys.SigningKey = field(default_factory=lambda: signing_key(508))
    insurer: keys.SigningKey = field(default_factory=lambda: signing_key(509))
    pharmacist: keys.SigningKey = field(default_factory=lambda: signing_key(511))
    pharmacist2: keys.SigningKey = field(default_factory=lambda: signing_key(512))
    pharmacist3: keys.SigningKey = field(default_factory=lambda: signing_key(513))
    physician: keys.SigningKey = field(default_factory=lambda: signing_key(521))
    physician2: keys.SigningKey = field(default_factory=lambda: signing_key(522))
    physician3: keys.SigningKey = field(default_factory=lambda: signing_key(523))
    nurse: keys.SigningKey = field(default_factory=lambda: signing_key(524))
    serials: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    events: itertools.count[int] = field(default_factory=lambda: itertools.count(1))

    def event_hash(self, label: str = "") -> str:
        """A unique event hash id of this world (the same sequence in every run)."""
        digest = hashlib.sha256(f"world/{label}/{next(self.events)}".encode()).hexdigest()
        return f"ni:///sha-256;{digest}?ver=CBV2.0"

    @classmethod
    def build(cls, products: bool = True) -> World:
        world = cls(Chain.new(supply=supply_params()))
        world.populate(products)
        return world

    def populate(self, products: bool = True) -> None:
        """Admit the world's organizations and staff (and register its products)."""
        world, c = self, self.chain
        for org, kind in ((world.manufacturer, "manufacturer"), (world.wholesaler, "wholesaler"),
                          (world.pharmacy, "pharmacy"), (world.pharmacy2, "pharmacy"),
                          (world.pharmacy3, "pharmacy"), (world.hospital, "hospital"),
                          (world.clinic, "clinic"), (world.regulator, "regulator"),
                          (world.insurer, "insurer")):
            assert c.admit_org(org, kind).ok
        for org, who, roles in ((world.pharmacy, world.pharmacist, ("pharmacist",)),
                                (world.pharmacy2, world.pharmacist2, ("pharmacist",)),
                                (world.pharmacy3, world.pharmacist3, ("pharmacist",)),
                                (world.hospital, world.physician, ("physician",)),
                                (world.clinic, world.physician2, ("physician",)),
                                (world.hospital, world.physician3, ("physician",)),
                                (world.hospital, world.nurse, ("nurse",))):
            assert c.admit_practitioner(org, who, roles).ok
        if products:
            for name in PRODUCTS:
                assert world.register(name).ok

    def register(self, name: str, by: keys.SigningKey | None = None) -> Any:
        p = PRODUCTS[name]
        return self.run(by or self.manufacturer, {
            "type": "supply/register_product", "gtin": p["gtin"], "name": name,
            "ingredients": p["ingredients"], "dose_form": p["dose_form"],
            "dose_units": p["dose_units"], "controlled": p["controlled"]})

    def commission(self, name: str, count: int, lot: str = "L1", expiry: str = "301231",
                   by: keys.SigningKey | None = None) -> tuple[Any, list[str]]:
        g = PRODUCTS[name]["gtin"]
        serials = sorted(f"S{next(self.serials):06d}" for _ in range(count))
        result = self.run(by or self.manufacturer, {
            "type": "supply/commission", "gtin": g, "lot": lot, "expiry": expiry,
            "serials": serials, "event_hash": self.event_hash("commission")})
        return result, [f"{g}/{s}" for s in serials]

    def ship(self, by: keys.SigningKey, to: keys.SigningKey, shipment: str,
             units: list[str] = (), cases: list[str] = (), kind: str = "ship") -> Any:  # type: ignore[assignment]
        msg: dict[str, Any] = {"type": f"supply/{kind}", "shipment": shipment, "to": to.did,
                               "event_hash": self.event_hash(kind)}
        if units:
            msg["units"] = sorted(units)
        if cases:
            msg["cases"] = sorted(cases)
        return self.run(by, msg)

    def receive(self, by: keys.SigningKey, shipment: str, units: list[str] = (),  # type: ignore[assignment]
                cases: list[str] = ()) -> Any:  # type: ignore[assignment]
        msg: dict[str, Any] = {"type": "supply/receive", "shipment": shipment,
                               "event_hash": self.event_hash("receive")}
        if units:
            msg["units"] = sorted(units)
        if cases:
            msg["cases"] = sorted(cases)
        return self.run(by, msg)

    def stock(self, name: str, count: int, to: keys.SigningKey | None = None,
              lot: str = "L1", expiry: str = "301231") -> list[str]:
        """Commission ``count`` packs and move them manufacturer → wholesaler → ``to``."""
        to = to or self.pharmacy
        result, units = self.commission(name, count, lot, expiry)
        assert result.ok, result.log
        sid1, sid2 = tag(f"s1{units[0]}")[:32], tag(f"s2{units[0]}")[:32]
        assert self.ship(self.manufacturer, self.wholesaler, sid1, units).ok
        assert self.receive(self.wholesaler, sid1, units).ok
        assert self.ship(self.wholesaler, to, sid2, units).ok
        assert self.receive(to, sid2, units).ok
        return units

    def scans(self, units: list[str]) -> list[dict[str, str]]:
        out = []
        for ref in sorted(units):
            found = self.chain.app.query("supply/unit", {"unit": ref})["value"]
            g, _, serial = ref.partition("/")
            out.append({"gtin": g, "serial": serial, "lot": found["lot"],
                        "expiry": found["expiry"]})
        return out

    def dispense_msg(self, units: list[str], patient: str = "alice", rx: str | None = None,
                     prescriber: keys.SigningKey | None = None, days: int = 30,
                     quantity: int | None = None, refills: int = 0,
                     dispense: str | None = None, register: bool = True,
                     **extra: Any) -> dict[str, Any]:
        """A dispense message; with ``register`` its prescription is registered first
        (by ``prescriber``, for ``patient``) unless it already is."""
        rx = rx or f"rx-{units[0]}"
        if register and self.q("supply/rx", rx=tag(rx)) is None:
            assert self.prescribe(rx, patient, prescriber or self.physician,
                                  quantity or len(units), refills).ok
        return {"type": "supply/dispense",
                "dispense": dispense or tag(f"d/{units[0]}/{rx}")[:32],
                "scans": self.scans(units), "patient": tag(patient), "rx": tag(rx),
                "rx_commitment": tag("commit/" + rx),
                "prescriber": (prescriber or self.physician).did,
                "quantity": quantity or len(units), "refills": refills, "days_supply": days,
                "event_hash": self.event_hash("dispense"), **extra}

    def prescription(self, rx: str, patient: str = "alice",
                     prescriber: keys.SigningKey | None = None, quantity: int = 1,
                     refills: int = 0, valid_days: int = 366,
                     issued_day: int | None = None) -> Prescribe:
        """Prescription ``rx`` signed by its prescriber (its commitment a stand-in)."""
        who = prescriber or self.physician
        day = gs1.day_of(self.chain.time_ms) if issued_day is None else issued_day
        unsigned = Prescribe(tag(rx), tag(patient), tag("commit/" + rx), quantity, refills,
                             day, valid_days, who.did, "00" * 64)
        signature = who.sign(unsigned.signed_bytes(CHAIN_ID)).hex()
        return dataclasses.replace(unsigned, signature=signature)

    def prescribe(self, rx: str, patient: str = "alice",
                  prescriber: keys.SigningKey | None = None, quantity: int = 1,
                  refills: int = 0, valid_days: int = 366,
                  by: keys.SigningKey | None = None) -> Any:
        """The prescriber signs prescription ``rx``; ``by`` (default: the prescriber)
        registers it."""
        who = prescriber or self.physician
        return self.run(by or who, self.prescription(
            rx, patient, who, quantity, refills, valid_days).to_msg())

    def dispense(self, units: list[str], by: keys.SigningKey | None = None,
                 **kw: Any) -> Any:
        return self.run(by or self.pharmacist, self.dispense_msg(units, **kw))

    def run(self, key: keys.SigningKey, *msgs: Any) -> Any:
        """One tx in its own block; a refused tx uses no nonce, so the next may reuse it."""
        result = self.chain.run(key, *msgs)
        if not result.ok:
            self.chain.nonces[key.did] -= 1
        return result

    def q(self, path: str, **data: Any) -> Any:
        return self.chain.app.query(path, data)["value"]
