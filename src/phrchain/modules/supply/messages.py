"""Supply messages (stateless checks): products, serialized units, custody, dispense,
alerts and the parameter table. Every step that is an EPCIS event carries its CBV 2.0
event hash id (``event_hash``), computed off chain from the sender's EPCIS document."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.core import encoding
from phrchain.core.hashing import domain_prefix
from phrchain.modules import fields
from phrchain.modules.supply import gs1
from phrchain.modules.supply.errors import INVALID_FIELD
from phrchain.modules.supply.params import (
    ATC_RE,
    CODE_RE,
    CONTROLLED_CLASSES,
    RXNORM_RE,
    Params,
    parse_params,
)

SET_PARAMS: Final = "supply/set_params"
REGISTER_PRODUCT: Final = "supply/register_product"
COMMISSION: Final = "supply/commission"
PACK: Final = "supply/pack"
UNPACK: Final = "supply/unpack"
SHIP: Final = "supply/ship"
RETURN: Final = "supply/return"
RECEIVE: Final = "supply/receive"
DECOMMISSION: Final = "supply/decommission"
REVERSE: Final = "supply/reverse"
RECALL: Final = "supply/recall"
DECLARE_ERROR: Final = "supply/declare_error"
DISPENSE: Final = "supply/dispense"
CLOSE_ALERT: Final = "supply/close_alert"
READ_HISTORY: Final = "supply/read_history"
PRESCRIBE: Final = "supply/prescribe"
CANCEL_RX: Final = "supply/cancel_rx"

# Events the handlers emit (``Event.type``), for clients that filter events.
SUPPLY_PARAMS_SET: Final = "supply.params_set"
SUPPLY_PRODUCT_REGISTERED: Final = "supply.product_registered"
SUPPLY_COMMISSIONED: Final = "supply.commissioned"
SUPPLY_PACKED: Final = "supply.packed"
SUPPLY_UNPACKED: Final = "supply.unpacked"
SUPPLY_SHIPPED: Final = "supply.shipped"
SUPPLY_RECEIVED: Final = "supply.received"
SUPPLY_DISCREPANCY: Final = "supply.discrepancy"
SUPPLY_DECOMMISSIONED: Final = "supply.decommissioned"
SUPPLY_REVERSED: Final = "supply.reversed"
SUPPLY_RECALLED: Final = "supply.recalled"
SUPPLY_ERROR_DECLARED: Final = "supply.error_declared"
SUPPLY_DISPENSED: Final = "supply.dispensed"
SUPPLY_ALERT: Final = "supply.alert"
SUPPLY_ALERT_CLOSED: Final = "supply.alert_closed"
SUPPLY_HISTORY_READ: Final = "supply.history_read"
SUPPLY_PRESCRIBED: Final = "supply.prescribed"
SUPPLY_RX_CANCELLED: Final = "supply.rx_cancelled"
EVENTS: Final = frozenset({
    SUPPLY_PARAMS_SET, SUPPLY_PRODUCT_REGISTERED, SUPPLY_COMMISSIONED, SUPPLY_PACKED,
    SUPPLY_UNPACKED, SUPPLY_SHIPPED, SUPPLY_RECEIVED, SUPPLY_DISCREPANCY,
    SUPPLY_DECOMMISSIONED, SUPPLY_REVERSED, SUPPLY_RECALLED, SUPPLY_ERROR_DECLARED,
    SUPPLY_DISPENSED, SUPPLY_ALERT, SUPPLY_ALERT_CLOSED, SUPPLY_HISTORY_READ,
    SUPPLY_PRESCRIBED, SUPPLY_RX_CANCELLED})

DECOMMISSION_REASONS: Final = frozenset({"destroyed", "stolen", "sample", "exported"})
ALERT_OUTCOMES: Final = frozenset({"false_positive", "justified", "intervened", "referred"})
ERROR_REASONS: Final = frozenset({"did_not_occur", "incorrect_data"})
HISTORY_PURPOSES: Final = frozenset({"strong_opioid", "controlled_prescription"})
EVENT_HASH_RE: Final = re.compile(r"ni:///sha-256;([0-9a-f]{64})\?ver=CBV2\.0")
DOSE_FORM_RE: Final = re.compile(r"[a-z][a-z_]{0,31}")
NAME_RE: Final = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
MAX_VALID_DAYS: Final = 366  # days a registered prescription may be valid
MAX_UNITS: Final = 200      # units per message (a tx writes at most 512 keys)
MAX_CASES: Final = 20
MAX_INGREDIENTS: Final = 8
# Strengths in micrograms per dose unit (at most 100 g) and dose units per pack: their
# products over a dispense (8 ingredients, 50 packs) stay below 2**53 (canonical JSON).
MAX_UG: Final = 10**8
MAX_DOSE_UNITS: Final = 10_000


def _text(msg: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    return fields.matching(msg, name, pattern, INVALID_FIELD, what)


def gtin_field(msg: Mapping[str, Any], name: str = "gtin") -> str:
    """A GTIN-14 with a valid check digit; a GTIN-13 (the Korean KD code), -12 or -8 is
    accepted and normalised to 14 digits."""
    value = msg.get(name)
    normal = gs1.normalize_gtin(value) if isinstance(value, str) else None
    if normal is None:
        raise INVALID_FIELD(f"{name} must be a GTIN (8, 12, 13 or 14 digits) with a valid "
                            f"check digit")
    return normal


def event_hash_field(msg: Mapping[str, Any], name: str = "event_hash") -> str:
    return _text(msg, name, EVENT_HASH_RE,
                 "a CBV 2.0 event hash id ni:///sha-256;<64 hex>?ver=CBV2.0")


def is_sgtin(value: str) -> bool:
    """``<GTIN-14>/<serial>``: the unit references of every message and state key."""
    gtin, sep, serial = value.partition("/")
    return bool(sep) and gs1.valid_key(gtin, 14) and gs1.SERIAL_RE.fullmatch(serial) is not None


def _sorted_list(msg: Mapping[str, Any], name: str, ok: Any, what: str, high: int,
                 low: int = 0) -> tuple[str, ...]:
    return fields.sorted_set(msg, name, INVALID_FIELD, ok, what, high, low)


def units_field(msg: Mapping[str, Any], name: str = "units", low: int = 0) -> tuple[str, ...]:
    return _sorted_list(msg, name, is_sgtin, "units <GTIN-14>/<serial>", MAX_UNITS, low)


def cases_field(msg: Mapping[str, Any]) -> tuple[str, ...]:
    return _sorted_list(msg, "cases", gs1.valid_sscc, "SSCCs (18 digits)", MAX_CASES)


def sscc_field(msg: Mapping[str, Any]) -> str:
    value = msg.get("sscc")
    if not isinstance(value, str) or not gs1.valid_sscc(value):
        raise INVALID_FIELD("sscc must be an SSCC: 18 digits with a valid check digit")
    return value


def code_field(msg: Mapping[str, Any], name: str) -> str | None:
    if name not in msg:
        return None
    return _text(msg, name, CODE_RE, "a code [a-z][a-z0-9_]{0,31}")


def _units_and_cases(msg: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    units, cases = units_field(msg), cases_field(msg)
    if not units and not cases:
        raise INVALID_FIELD("name at least one unit or case")
    return units, cases


@dataclass(frozen=True, slots=True)
class SetParams:
    """``supply/set_params``: governance (an active authority) stores the next version
    of the parameter table."""

    params: Params

    TYPE: ClassVar[str] = SET_PARAMS

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> SetParams:
        fields.exact(msg, INVALID_FIELD, ("params",))
        return cls(parse_params(msg.get("params"), INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "params": self.params}


@dataclass(frozen=True, slots=True)
class Ingredient:
    rxnorm: str
    atc: str
    ug: int                     # micrograms per dose unit

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> Ingredient:
        fields.exact(entry, INVALID_FIELD, ("rxnorm", "atc", "ug"))
        return cls(_text(entry, "rxnorm", RXNORM_RE, "an RxNorm ingredient id (digits)"),
                   _text(entry, "atc", ATC_RE, "a 7-character ATC code"),
                   fields.integer(entry, "ug", INVALID_FIELD, 1, MAX_UG))

    def to_json(self) -> dict[str, Any]:
        return {"rxnorm": self.rxnorm, "atc": self.atc, "ug": self.ug}


@dataclass(frozen=True, slots=True)
class RegisterProduct:
    """``supply/register_product``: an admitted manufacturer registers a GTIN's master
    data (public: what a product is, never who takes it)."""

    gtin: str
    name: str
    ingredients: tuple[Ingredient, ...]
    dose_form: str
    dose_units: int             # dose units (tablets, ampoules) per serialized pack
    controlled: str

    TYPE: ClassVar[str] = REGISTER_PRODUCT

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> RegisterProduct:
        fields.exact(msg, INVALID_FIELD, ("gtin", "name", "ingredients", "dose_form",
                                          "dose_units", "controlled"))
        raw = msg.get("ingredients")
        if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_INGREDIENTS:
            raise INVALID_FIELD(f"ingredients must be a list of 1 to {MAX_INGREDIENTS}")
        ingredients = tuple(fields.apply(Ingredient.parse, e, INVALID_FIELD, "ingredient")
                            for e in raw)
        if any(a.rxnorm >= b.rxnorm for a, b in itertools.pairwise(ingredients)):
            raise INVALID_FIELD("ingredients must be sorted by rxnorm, without repeats")
        return cls(gtin_field(msg), _text(msg, "name", NAME_RE, "a product name"),
                   ingredients, _text(msg, "dose_form", DOSE_FORM_RE, "a dose form code"),
                   fields.integer(msg, "dose_units", INVALID_FIELD, 1, MAX_DOSE_UNITS),
                   fields.choice(msg, "controlled", CONTROLLED_CLASSES, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "gtin": self.gtin, "name": self.name,
                "ingredients": [i.to_json() for i in self.ingredients],
                "dose_form": self.dose_form, "dose_units": self.dose_units,
                "controlled": self.controlled}


@dataclass(frozen=True, slots=True)
class Commission:
    """``supply/commission``: serials of one lot (ObjectEvent ADD, commissioning, with
    lot and expiry as ILMD)."""

    gtin: str
    lot: str
    expiry: str
    serials: tuple[str, ...]
    event_hash: str

    TYPE: ClassVar[str] = COMMISSION

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Commission:
        fields.exact(msg, INVALID_FIELD, ("gtin", "lot", "expiry", "serials", "event_hash"))
        expiry = _text(msg, "expiry", gs1.EXPIRY_RE, "a date YYMMDD")
        if gs1.expiry_day(expiry) is None:
            raise INVALID_FIELD("expiry is not a calendar date")
        return cls(gtin_field(msg), _text(msg, "lot", gs1.LOT_RE, "a lot (AI 10)"), expiry,
                   _sorted_list(msg, "serials",
                                lambda s: gs1.SERIAL_RE.fullmatch(s) is not None,
                                "serials (AI 21)", MAX_UNITS, 1),
                   event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "gtin": self.gtin, "lot": self.lot,
                "expiry": self.expiry, "serials": list(self.serials),
                "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Pack:
    """``supply/pack``: units into a case (AggregationEvent ADD, packing)."""

    sscc: str
    units: tuple[str, ...]
    event_hash: str

    TYPE: ClassVar[str] = PACK

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Pack:
        fields.exact(msg, INVALID_FIELD, ("sscc", "units", "event_hash"))
        return cls(sscc_field(msg), units_field(msg, low=1), event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "sscc": self.sscc, "units": list(self.units),
                "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Unpack:
    """``supply/unpack``: every unit out of a case (AggregationEvent DELETE, unpacking)."""

    sscc: str
    event_hash: str

    TYPE: ClassVar[str] = UNPACK

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Unpack:
        fields.exact(msg, INVALID_FIELD, ("sscc", "event_hash"))
        return cls(sscc_field(msg), event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "sscc": self.sscc, "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Ship:
    """``supply/ship``: units and cases to another organization (ObjectEvent OBSERVE,
    shipping, in transit). ``supply/return`` has the same shape (returning): to the
    units' manufacturer, and allowed for recalled units."""

    shipment: str
    to: str
    units: tuple[str, ...]
    cases: tuple[str, ...]
    event_hash: str

    TYPE: ClassVar[str] = SHIP

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Ship:
        fields.exact(msg, INVALID_FIELD, ("shipment", "to", "event_hash"), ("units", "cases"))
        units, cases = _units_and_cases(msg)
        return cls(fields.object_id(msg, "shipment", INVALID_FIELD),
                   fields.did(msg, "to", INVALID_FIELD), units, cases, event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "shipment": self.shipment, "to": self.to,
                **({"units": list(self.units)} if self.units else {}),
                **({"cases": list(self.cases)} if self.cases else {}),
                "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Return(Ship):
    TYPE: ClassVar[str] = RETURN


@dataclass(frozen=True, slots=True)
class Receive:
    """``supply/receive``: what the receiver scanned of a shipment (ObjectEvent OBSERVE,
    receiving). Scans that miss part of the shipment leave it a discrepancy."""

    shipment: str
    units: tuple[str, ...]
    cases: tuple[str, ...]
    event_hash: str

    TYPE: ClassVar[str] = RECEIVE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Receive:
        fields.exact(msg, INVALID_FIELD, ("shipment", "event_hash"), ("units", "cases"))
        units, cases = _units_and_cases(msg)
        return cls(fields.object_id(msg, "shipment", INVALID_FIELD), units, cases,
                   event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "shipment": self.shipment,
                **({"units": list(self.units)} if self.units else {}),
                **({"cases": list(self.cases)} if self.cases else {}),
                "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Decommission:
    """``supply/decommission``: units leave the supply chain (ObjectEvent OBSERVE with
    disposition destroyed, stolen, sample or exported)."""

    units: tuple[str, ...]
    reason: str
    event_hash: str

    TYPE: ClassVar[str] = DECOMMISSION

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Decommission:
        fields.exact(msg, INVALID_FIELD, ("units", "reason", "event_hash"))
        return cls(units_field(msg, low=1),
                   fields.choice(msg, "reason", DECOMMISSION_REASONS, INVALID_FIELD),
                   event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "units": list(self.units), "reason": self.reason,
                "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Reverse:
    """``supply/reverse``: undo a decommissioning (same party, within the window)."""

    units: tuple[str, ...]
    event_hash: str

    TYPE: ClassVar[str] = REVERSE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Reverse:
        fields.exact(msg, INVALID_FIELD, ("units", "event_hash"))
        return cls(units_field(msg, low=1), event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "units": list(self.units), "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Recall:
    """``supply/recall``: the manufacturer recalls a lot (ObjectEvent OBSERVE, holding,
    disposition recalled)."""

    gtin: str
    lot: str
    event_hash: str

    TYPE: ClassVar[str] = RECALL

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Recall:
        fields.exact(msg, INVALID_FIELD, ("gtin", "lot", "event_hash"))
        return cls(gtin_field(msg), _text(msg, "lot", gs1.LOT_RE, "a lot (AI 10)"),
                   event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "gtin": self.gtin, "lot": self.lot,
                "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class DeclareError:
    """``supply/declare_error``: an EPCIS errorDeclaration on an event its recorder sent,
    naming the corrective events (append-only: the event itself is never edited)."""

    event: str
    reason: str
    corrective: tuple[str, ...]

    TYPE: ClassVar[str] = DECLARE_ERROR

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> DeclareError:
        fields.exact(msg, INVALID_FIELD, ("event", "reason"), ("corrective",))
        return cls(event_hash_field(msg, "event"),
                   fields.choice(msg, "reason", ERROR_REASONS, INVALID_FIELD),
                   _sorted_list(msg, "corrective",
                                lambda v: EVENT_HASH_RE.fullmatch(v) is not None,
                                "event hash ids", 16))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "event": self.event, "reason": self.reason,
                **({"corrective": list(self.corrective)} if self.corrective else {})}


@dataclass(frozen=True, slots=True)
class Scan:
    """A pack as the pharmacy's scanner reads it: GTIN, serial, lot and expiry."""

    gtin: str
    serial: str
    lot: str
    expiry: str

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> Scan:
        fields.exact(entry, INVALID_FIELD, ("gtin", "serial", "lot", "expiry"))
        return cls(gtin_field(entry),
                   _text(entry, "serial", gs1.SERIAL_RE, "a serial (AI 21)"),
                   _text(entry, "lot", gs1.LOT_RE, "a lot (AI 10)"),
                   _text(entry, "expiry", gs1.EXPIRY_RE, "a date YYMMDD"))

    @property
    def unit(self) -> str:
        return f"{self.gtin}/{self.serial}"

    def to_json(self) -> dict[str, Any]:
        return {"gtin": self.gtin, "serial": self.serial, "lot": self.lot,
                "expiry": self.expiry}


@dataclass(frozen=True, slots=True)
class Dispense:
    """``supply/dispense``: a pharmacist dispenses scanned packs against a prescription.

    The patient and the prescription are named only by *monitoring tags* (keyed
    HMAC-SHA256 under the monitoring key that pharmacies, prescribers and the regulator
    hold: ``client/supply.py``); ``rx_commitment`` commits to the prescription record
    id, quantity and refills the pharmacist read from the sealed MedicationRequest."""

    dispense: str
    scans: tuple[Scan, ...]
    patient: str
    rx: str
    rx_commitment: str
    prescriber: str
    quantity: int               # packs per fill, as prescribed
    refills: int
    days_supply: int
    event_hash: str
    stewardship: str | None = None
    exemption: str | None = None

    TYPE: ClassVar[str] = DISPENSE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Dispense:
        fields.exact(msg, INVALID_FIELD,
                     ("dispense", "scans", "patient", "rx", "rx_commitment", "prescriber",
                      "quantity", "refills", "days_supply", "event_hash"),
                     ("stewardship", "exemption"))
        raw = msg.get("scans")
        if not isinstance(raw, list) or not 1 <= len(raw) <= 50:
            raise INVALID_FIELD("scans must be a list of 1 to 50 scanned packs")
        scans = tuple(fields.apply(Scan.parse, e, INVALID_FIELD, "scan") for e in raw)
        if any(a.unit >= b.unit for a, b in itertools.pairwise(scans)):
            raise INVALID_FIELD("scans must be sorted by unit, without repeats")
        return cls(fields.object_id(msg, "dispense", INVALID_FIELD), scans,
                   fields.digest(msg, "patient", INVALID_FIELD),
                   fields.digest(msg, "rx", INVALID_FIELD),
                   fields.digest(msg, "rx_commitment", INVALID_FIELD),
                   fields.did(msg, "prescriber", INVALID_FIELD),
                   fields.integer(msg, "quantity", INVALID_FIELD, 1, 1000),
                   fields.integer(msg, "refills", INVALID_FIELD, 0, 99),
                   fields.integer(msg, "days_supply", INVALID_FIELD, 1, 366),
                   event_hash_field(msg), code_field(msg, "stewardship"),
                   code_field(msg, "exemption"))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "dispense": self.dispense,
                "scans": [s.to_json() for s in self.scans], "patient": self.patient,
                "rx": self.rx, "rx_commitment": self.rx_commitment,
                "prescriber": self.prescriber, "quantity": self.quantity,
                "refills": self.refills, "days_supply": self.days_supply,
                "event_hash": self.event_hash,
                **fields.present(stewardship=self.stewardship, exemption=self.exemption)}


@dataclass(frozen=True, slots=True)
class CloseAlert:
    """``supply/close_alert``: a notified party (or a regulator) closes an alert."""

    alert: str
    outcome: str

    TYPE: ClassVar[str] = CLOSE_ALERT

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> CloseAlert:
        fields.exact(msg, INVALID_FIELD, ("alert", "outcome"))
        return cls(fields.object_id(msg, "alert", INVALID_FIELD),
                   fields.choice(msg, "outcome", ALERT_OUTCOMES, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "alert": self.alert, "outcome": self.outcome}




@dataclass(frozen=True, slots=True)
class ReadHistory:
    """``supply/read_history``: a prescriber records, before prescribing, that it reads a
    patient tag's controlled-substance dispenses (a statutory read without consent):
    the record is what audits it and what the patient's client shows them."""

    patient: str
    purpose: str

    TYPE: ClassVar[str] = READ_HISTORY

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> ReadHistory:
        fields.exact(msg, INVALID_FIELD, ("patient", "purpose"))
        return cls(fields.digest(msg, "patient", INVALID_FIELD),
                   fields.choice(msg, "purpose", HISTORY_PURPOSES, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "patient": self.patient, "purpose": self.purpose}


SIGNATURE_RE: Final = re.compile(r"[0-9a-f]{128}")
MAX_DAY: Final = 10**6      # UTC day numbers (year 4707)


def prescription_bytes(chain_id: str, body: Mapping[str, Any]) -> bytes:
    """What the prescriber signs (Ed25519, its current signing key): the prescription's
    tags, commitment, limits, issue day and the prescriber's DID on ``chain_id``."""
    fields_ = {k: body[k] for k in ("rx", "patient", "commitment", "quantity", "refills",
                                    "issued_day", "valid_days", "prescriber")}
    return domain_prefix("phrchain/supply/prescription/v1") + encoding.encode(
        {"chain_id": chain_id, **fields_})


@dataclass(frozen=True, slots=True)
class Prescribe:
    """``supply/prescribe``: a prescription's registration, **signed by its prescriber
    off chain** and submitted by the pharmacy with its first fill (or by the prescriber).
    ``commitment`` is SHA-256 over the record id, packs per fill, refills and a salt
    (``client/supply.py`` ``Prescription.commitment``), under the prescription tag
    ``rx`` for the patient tag ``patient``; pharmacies dispense against it at most
    ``refills + 1`` times, at most ``quantity`` packs a time, from ``issued_day`` for
    ``valid_days`` days. Submitted at the first fill, it shows on chain when the patient
    comes to the pharmacy, not when the prescriber wrote the record."""

    rx: str
    patient: str
    commitment: str
    quantity: int
    refills: int
    issued_day: int
    valid_days: int
    prescriber: str
    signature: str

    TYPE: ClassVar[str] = PRESCRIBE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Prescribe:
        fields.exact(msg, INVALID_FIELD, ("rx", "patient", "commitment", "quantity",
                                          "refills", "issued_day", "valid_days",
                                          "prescriber", "signature"))
        return cls(fields.digest(msg, "rx", INVALID_FIELD),
                   fields.digest(msg, "patient", INVALID_FIELD),
                   fields.digest(msg, "commitment", INVALID_FIELD),
                   fields.integer(msg, "quantity", INVALID_FIELD, 1, 1000),
                   fields.integer(msg, "refills", INVALID_FIELD, 0, 99),
                   fields.integer(msg, "issued_day", INVALID_FIELD, 0, MAX_DAY),
                   fields.integer(msg, "valid_days", INVALID_FIELD, 1, MAX_VALID_DAYS),
                   fields.did(msg, "prescriber", INVALID_FIELD),
                   _text(msg, "signature", SIGNATURE_RE, "an Ed25519 signature (128 hex)"))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "rx": self.rx, "patient": self.patient,
                "commitment": self.commitment, "quantity": self.quantity,
                "refills": self.refills, "issued_day": self.issued_day,
                "valid_days": self.valid_days, "prescriber": self.prescriber,
                "signature": self.signature}

    def signed_bytes(self, chain_id: str) -> bytes:
        return prescription_bytes(chain_id, self.to_msg())


@dataclass(frozen=True, slots=True)
class CancelRx:
    """``supply/cancel_rx``: the prescriber withdraws a registered prescription."""

    rx: str

    TYPE: ClassVar[str] = CANCEL_RX

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> CancelRx:
        fields.exact(msg, INVALID_FIELD, ("rx",))
        return cls(fields.digest(msg, "rx", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "rx": self.rx}
