"""The only code that reads or writes the ``consent/`` key prefix.

State layout (values canonical JSON unless noted)::

    consent/c/<consent id>               -> consent (README "State")
    consent/p/<patient>/<consent id>     -> b"1"   a patient's consents
    consent/g/<grantee key>/<consent id> -> patient DID   consents naming a grantee
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes

_CONSENT: Final = b"consent/c/"
_PATIENT: Final = b"consent/p/"
_GRANTEE: Final = b"consent/g/"
_MARK: Final = b"1"

Consent = dict[str, Any]


def consent_key(consent_id: str) -> bytes:
    return _CONSENT + consent_id.encode()


def get(state: Reader, consent_id: str) -> Consent | None:
    raw = state.get(consent_key(consent_id))
    return None if raw is None else encoding.decode(raw)


def put(state: Overlay, consent: Consent) -> None:
    state.set(consent_key(consent["consent"]), encoding.encode_trusted(consent))


def index(state: Overlay, consent: Consent, grantee_key: str) -> None:
    cid = consent["consent"].encode()
    state.set(_PATIENT + consent["patient"].encode() + b"/" + cid, _MARK)
    state.set(_GRANTEE + grantee_key.encode() + b"/" + cid, consent["patient"].encode())


def _ids(state: Reader, prefix: bytes, after: str | None) -> Iterator[str]:
    return suffixes(state, prefix, after)


def of_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, _PATIENT + patient.encode() + b"/", after)


def of_grantee(state: Reader, grantee_key: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, _GRANTEE + grantee_key.encode() + b"/", after)
