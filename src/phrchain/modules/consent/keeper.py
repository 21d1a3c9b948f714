"""The only code that reads or writes the ``consent/`` key prefix.

State layout (values canonical JSON unless noted)::

    consent/c/<consent id>               -> consent (README "State")
    consent/p/<patient>/<consent id>     -> b"1"   a patient's consents
    consent/g/<grantee key>/<consent id> -> patient DID   consents naming a grantee
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.consent.keys import consent_key, grantee_prefix, patient_prefix
from phrchain.modules.paging import suffixes
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"



class Period(TypedDict):
    start_ms: int
    end_ms: int


class Consent(TypedDict):
    """A consent at ``consent/c/<id>`` (README "State layout")."""

    consent: str
    patient: str
    grantee: dict[str, Any]        # Grantee.to_json()
    actions: list[str]
    scope: dict[str, Any]          # Scope.to_json()
    purposes: list[str]
    period: Period
    status: str                    # active | revoked
    granted_height: int
    revoked_height: int | None


def get(state: Reader, consent_id: str) -> Consent | None:
    found: Consent | None = json_get(state, consent_key(consent_id))
    return found


def put(state: Overlay, consent: Consent) -> None:
    json_put(state, consent_key(consent["consent"]), consent)


def index(state: Overlay, consent: Consent, grantee_key: str) -> None:
    cid = consent["consent"].encode()
    state.set(patient_prefix(consent["patient"]) + cid, _MARK)
    state.set(grantee_prefix(grantee_key) + cid, consent["patient"].encode())


def _ids(state: Reader, prefix: bytes, after: str | None) -> Iterator[str]:
    return suffixes(state, prefix, after)


def of_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, patient_prefix(patient), after)


def of_grantee(state: Reader, grantee_key: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, grantee_prefix(grantee_key), after)
