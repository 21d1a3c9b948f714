"""State keys of the settlement module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

BALANCE: Final = b"settlement/b/"
SUPPLY: Final = b"settlement/s/"
BILL: Final = b"settlement/bill/"
PATIENT: Final = b"settlement/bp/"
PROVIDER: Final = b"settlement/bo/"


def balance_key(did: str, currency: str) -> bytes:
    return BALANCE + did.encode() + b"/" + currency.encode()


def supply_key(currency: str) -> bytes:
    return SUPPLY + currency.encode()


def bill_key(bill_id: str) -> bytes:
    return BILL + bill_id.encode()


def patient_prefix(patient: str) -> bytes:
    return PATIENT + patient.encode() + b"/"


def provider_prefix(org: str) -> bytes:
    return PROVIDER + org.encode() + b"/"
