"""Supply messages for products and custody (stateless checks): the parameter table,
product registration, commissioning, packing and unpacking cases, shipping, returning
and receiving, decommissioning and its reversal, recalls and EPCIS error declarations.
Every step that is an EPCIS event carries its CBV 2.0 event hash id (``event_hash``)."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from phrchain.modules import fields
from phrchain.modules.supply import gs1
from phrchain.modules.supply.errors import INVALID_FIELD
from phrchain.modules.supply.params import (
    ATC_RE,
    CONTROLLED_CLASSES,
    RXNORM_RE,
    Params,
    parse_params,
)
from phrchain.modules.supply.wire import (
    COMMISSION,
    DECLARE_ERROR,
    DECOMMISSION,
    DECOMMISSION_REASONS,
    DOSE_FORM_RE,
    ERROR_REASONS,
    EVENT_HASH_RE,
    MAX_DOSE_UNITS,
    MAX_INGREDIENTS,
    MAX_UG,
    MAX_UNITS,
    NAME_RE,
    PACK,
    RECALL,
    RECEIVE,
    REGISTER_PRODUCT,
    RETURN,
    REVERSE,
    SET_PARAMS,
    SHIP,
    UNPACK,
    event_hash_field,
    gtin_field,
    sorted_list,
    sscc_field,
    text_field,
    units_and_cases,
    units_field,
)


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
        return cls(text_field(entry, "rxnorm", RXNORM_RE, "an RxNorm ingredient id (digits)"),
                   text_field(entry, "atc", ATC_RE, "a 7-character ATC code"),
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
        return cls(gtin_field(msg), text_field(msg, "name", NAME_RE, "a product name"),
                   ingredients, text_field(msg, "dose_form", DOSE_FORM_RE, "a dose form code"),
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
        expiry = text_field(msg, "expiry", gs1.EXPIRY_RE, "a date YYMMDD")
        if gs1.expiry_day(expiry) is None:
            raise INVALID_FIELD("expiry is not a calendar date")
        return cls(gtin_field(msg), text_field(msg, "lot", gs1.LOT_RE, "a lot (AI 10)"), expiry,
                   sorted_list(msg, "serials",
                                lambda s: gs1.SERIAL_RE.fullmatch(s) is not None,
                                "serials (AI 21)", MAX_UNITS, 1),
                   event_hash_field(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "gtin": self.gtin, "lot": self.lot,
                "expiry": self.expiry, "serials": list(self.serials),
                "event_hash": self.event_hash}


@dataclass(frozen=True, slots=True)
class Pack:
    """``supply/pack``: units, or cases (into a pallet), into a case (AggregationEvent
    ADD, packing)."""

    sscc: str
    units: tuple[str, ...]
    event_hash: str
    cases: tuple[str, ...] = ()

    TYPE: ClassVar[str] = PACK

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Pack:
        fields.exact(msg, INVALID_FIELD, ("sscc", "event_hash"), ("units", "cases"))
        units, cases = units_and_cases(msg)
        return cls(sscc_field(msg), units, event_hash_field(msg), cases)

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "sscc": self.sscc,
                **({"units": list(self.units)} if self.units else {}),
                **({"cases": list(self.cases)} if self.cases else {}),
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
        units, cases = units_and_cases(msg)
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
        units, cases = units_and_cases(msg)
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
        return cls(gtin_field(msg), text_field(msg, "lot", gs1.LOT_RE, "a lot (AI 10)"),
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
                   sorted_list(msg, "corrective",
                                lambda v: EVENT_HASH_RE.fullmatch(v) is not None,
                                "event hash ids", 16))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "event": self.event, "reason": self.reason,
                **({"corrective": list(self.corrective)} if self.corrective else {})}
