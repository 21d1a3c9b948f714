"""State keys of the exchange module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

REQUEST: Final = b"exchange/q/"
PATIENT: Final = b"exchange/p/"
REQUESTER: Final = b"exchange/r/"


def request_key(request_id: str) -> bytes:
    """Where a pull request is kept."""
    return REQUEST + request_id.encode()


def patient_prefix(patient: str) -> bytes:
    return PATIENT + patient.encode() + b"/"


def requester_prefix(requester: str) -> bytes:
    return REQUESTER + requester.encode() + b"/"
