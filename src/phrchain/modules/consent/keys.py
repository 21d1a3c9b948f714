"""State keys of the consent module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

CONSENT: Final = b"consent/c/"
PATIENT: Final = b"consent/p/"
GRANTEE: Final = b"consent/g/"


def consent_key(consent_id: str) -> bytes:
    """Where a consent is kept."""
    return CONSENT + consent_id.encode()


def patient_prefix(patient: str) -> bytes:
    """Index of a patient's consents (``<prefix><consent id>``)."""
    return PATIENT + patient.encode() + b"/"


def grantee_prefix(grantee_key: str) -> bytes:
    """Index of the consents naming a grantee (``<prefix><consent id>``)."""
    return GRANTEE + grantee_key.encode() + b"/"
