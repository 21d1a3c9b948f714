"""State keys of the claims module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

PRODUCT: Final = b"claims/p/"
CURRENT: Final = b"claims/pc/"
ENROLMENT: Final = b"claims/n/"
USAGE: Final = b"claims/u/"
CLAIM: Final = b"claims/c/"
BY_PATIENT: Final = b"claims/cp/"
BY_INSURER: Final = b"claims/ci/"
BY_STATUS: Final = b"claims/cs/"
BY_REASON: Final = b"claims/r/"
BILL: Final = b"claims/db/"
ENCOUNTER: Final = b"claims/de/"


def path(*parts: str | int) -> bytes:
    """``a/b/c`` of the parts (a trailing ``""`` part makes a prefix ending in ``/``)."""
    return "/".join(map(str, parts)).encode()


def product_key(insurer: str, product: str, version: int) -> bytes:
    return PRODUCT + path(insurer, product, version)


def current_key(insurer: str, product: str) -> bytes:
    return CURRENT + path(insurer, product)


def enrolment_prefix(patient: str, insurer: str, product: str) -> bytes:
    return ENROLMENT + path(patient, insurer, product, "")


def enrolment_key(patient: str, insurer: str, product: str, seq: int) -> bytes:
    return enrolment_prefix(patient, insurer, product) + f"{seq:06d}".encode()


def usage_key(patient: str, insurer: str, product: str, year: int) -> bytes:
    return USAGE + path(patient, insurer, product, year)


def claim_key(claim_id: str) -> bytes:
    return CLAIM + claim_id.encode()


def bill_claimed_key(bill_id: str) -> bytes:
    return BILL + bill_id.encode()


def encounter_claimed_key(encounter: str) -> bytes:
    return ENCOUNTER + encounter.encode()
