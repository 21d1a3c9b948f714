"""The only code that reads or writes the ``exchange/`` key prefix.

State layout::

    exchange/q/<request id>               -> pull request (README "State")
    exchange/p/<patient>/<request id>     -> b"1"   requests to a patient
    exchange/r/<requester>/<request id>   -> b"1"   requests by a provider
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes

_REQUEST: Final = b"exchange/q/"
_PATIENT: Final = b"exchange/p/"
_REQUESTER: Final = b"exchange/r/"

Request = dict[str, Any]


def request_key(request_id: str) -> bytes:
    return _REQUEST + request_id.encode()


def get(state: Reader, request_id: str) -> Request | None:
    raw = state.get(request_key(request_id))
    return None if raw is None else encoding.decode(raw)


def put(state: Overlay, request: Request) -> None:
    state.set(request_key(request["request"]), encoding.encode_trusted(request))


def index(state: Overlay, request: Request) -> None:
    rid = request["request"].encode()
    state.set(_PATIENT + request["patient"].encode() + b"/" + rid, b"1")
    state.set(_REQUESTER + request["requester"].encode() + b"/" + rid, b"1")


def _ids(state: Reader, prefix: bytes, after: str | None) -> Iterator[str]:
    return suffixes(state, prefix, after)


def to_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, _PATIENT + patient.encode() + b"/", after)


def by_requester(state: Reader, requester: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, _REQUESTER + requester.encode() + b"/", after)
