"""State keys of the records module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

RECORD: Final = b"records/r/"
PATIENT: Final = b"records/p/"
HOLDER: Final = b"records/h/"
HOLDS_ANY: Final = b"records/o/"


def record_key(record_id: str) -> bytes:
    """Where a record descriptor (or its tombstone) is kept."""
    return RECORD + record_id.encode()


def patient_prefix(patient: str) -> bytes:
    """Index of a patient's records (``<prefix><record id>``)."""
    return PATIENT + patient.encode() + b"/"


def holder_prefix(record_id: str) -> bytes:
    """Index of the organizations holding a record (``<prefix><org did>``)."""
    return HOLDER + record_id.encode() + b"/"


def holds_any_key(patient: str, org: str) -> bytes:
    """Marks that ``org``'s vault holds at least one record of ``patient`` (v2)."""
    return HOLDS_ANY + patient.encode() + b"/" + org.encode()
