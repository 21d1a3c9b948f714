"""State keys of the audit module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

HEAD: Final = b"audit/head/"
LEAF: Final = b"audit/leaf/"
REQ: Final = b"audit/req/"


def head_key(patient: str) -> bytes:
    """Where a patient's log head (size, root, frontier) is kept."""
    return HEAD + patient.encode()


def leaf_prefix(patient: str) -> bytes:
    return LEAF + patient.encode() + b"/"


def leaf_key(patient: str, index: int) -> bytes:
    return leaf_prefix(patient) + f"{index:016x}".encode()


def request_key(request: str) -> bytes:
    return REQ + request.encode()
