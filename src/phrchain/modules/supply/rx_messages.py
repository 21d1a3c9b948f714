"""Supply messages for dispensing (stateless checks): scanned packs dispensed against a
prescription, the prescription's registration (signed by its prescriber) and
cancellation, and the monitoring's alert closing and statutory history reads."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from phrchain.core import encoding
from phrchain.core.hashing import domain_prefix
from phrchain.modules import fields
from phrchain.modules.supply import gs1
from phrchain.modules.supply.errors import INVALID_FIELD
from phrchain.modules.supply.wire import (
    ALERT_OUTCOMES,
    CANCEL_RX,
    CLOSE_ALERT,
    DISPENSE,
    HISTORY_PURPOSES,
    MAX_DAY,
    MAX_VALID_DAYS,
    PRESCRIBE,
    READ_HISTORY,
    SIGNATURE_RE,
    code_field,
    event_hash_field,
    gtin_field,
    text_field,
)


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
                   text_field(entry, "serial", gs1.SERIAL_RE, "a serial (AI 21)"),
                   text_field(entry, "lot", gs1.LOT_RE, "a lot (AI 10)"),
                   text_field(entry, "expiry", gs1.EXPIRY_RE, "a date YYMMDD"))

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
                   text_field(msg, "signature", SIGNATURE_RE, "an Ed25519 signature (128 hex)"))

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
