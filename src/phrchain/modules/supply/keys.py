"""State keys of the supply module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

PARAMS_VERSION: Final = b"supply/pv"
PARAMS: Final = b"supply/p/"
PRODUCT: Final = b"supply/g/"
UNIT: Final = b"supply/u/"
CASE: Final = b"supply/c/"
CASE_UNIT: Final = b"supply/cu/"
CASE_CASE: Final = b"supply/cc/"
SHIPMENT: Final = b"supply/s/"
RECALL: Final = b"supply/r/"
EVENT: Final = b"supply/e/"
ERROR: Final = b"supply/x/"
DISPENSE: Final = b"supply/d/"
RX: Final = b"supply/rx/"
MONITOR: Final = b"supply/m/"
HISTORY: Final = b"supply/h/"
ALERT: Final = b"supply/a/"
OPEN_ALERT: Final = b"supply/ao/"
ANTIBIOTICS: Final = b"supply/ab/"
HISTORY_READ: Final = b"supply/hr/"


def params_key(version: int) -> bytes:
    return PARAMS + f"{version:08d}".encode()


def product_key(gtin: str) -> bytes:
    return PRODUCT + gtin.encode()


def unit_key(unit: str) -> bytes:
    """``unit`` is ``<GTIN-14>/<serial>``."""
    return UNIT + unit.encode()


def case_key(sscc: str) -> bytes:
    return CASE + sscc.encode()


def case_prefix(sscc: str) -> bytes:
    return CASE_UNIT + sscc.encode() + b"/"


def case_cases_prefix(sscc: str) -> bytes:
    """Cases packed in a case (a pallet)."""
    return CASE_CASE + sscc.encode() + b"/"


def shipment_key(shipment: str) -> bytes:
    return SHIPMENT + shipment.encode()


def recall_key(gtin: str, lot: str) -> bytes:
    return RECALL + gtin.encode() + b"/" + lot.encode()


def event_key(digest: str) -> bytes:
    """``digest``: the 64 hex characters of an event hash id."""
    return EVENT + digest.encode()


def error_key(digest: str) -> bytes:
    return ERROR + digest.encode()


def dispense_key(dispense: str) -> bytes:
    return DISPENSE + dispense.encode()


def rx_key(rx: str) -> bytes:
    return RX + rx.encode()


def monitor_key(patient: str) -> bytes:
    return MONITOR + patient.encode()


def history_prefix(patient: str) -> bytes:
    return HISTORY + patient.encode() + b"/"


def alert_key(alert: str) -> bytes:
    return ALERT + alert.encode()


def open_alert_key(alert: str) -> bytes:
    return OPEN_ALERT + alert.encode()


def antibiotics_key(party: str) -> bytes:
    return ANTIBIOTICS + party.encode()


def history_read_prefix(patient: str) -> bytes:
    return HISTORY_READ + patient.encode() + b"/"
