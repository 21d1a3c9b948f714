"""The only code that reads or writes the ``exchange/`` key prefix.

State layout::

    exchange/q/<request id>               -> pull request (README "State")
    exchange/p/<patient>/<request id>     -> b"1"   requests to a patient
    exchange/r/<requester>/<request id>   -> b"1"   requests by a provider
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.exchange.keys import patient_prefix, request_key, requester_prefix
from phrchain.modules.paging import suffixes
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"



class Request(TypedDict):
    """A pull request at ``exchange/q/<id>`` (README "State")."""

    request: str
    patient: str
    requester: str
    requester_kind: str            # practitioner | organization
    scope: dict[str, Any]          # Scope.to_json()
    purpose: str
    status: str                    # pending | approved | denied
    consent: str | None            # the consent that approved it
    height: int
    answered_height: int | None


def get(state: Reader, request_id: str) -> Request | None:
    found: Request | None = json_get(state, request_key(request_id))
    return found


def put(state: Overlay, request: Request) -> None:
    json_put(state, request_key(request["request"]), request)


def index(state: Overlay, request: Request) -> None:
    rid = request["request"].encode()
    state.set(patient_prefix(request["patient"]) + rid, _MARK)
    state.set(requester_prefix(request["requester"]) + rid, _MARK)


def _ids(state: Reader, prefix: bytes, after: str | None) -> Iterator[str]:
    return suffixes(state, prefix, after)


def to_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, patient_prefix(patient), after)


def by_requester(state: Reader, requester: str, after: str | None = None) -> Iterator[str]:
    return _ids(state, requester_prefix(requester), after)
