"""The only code that reads or writes the ``records/`` key prefix.

State layout (values canonical JSON unless noted)::

    records/r/<record id>            -> record descriptor (README "State")
    records/p/<patient>/<record id>  -> b"1"   a patient's records, by id
    records/h/<record id>/<org did>  -> b"1"   vaults holding the ciphertext
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes

_RECORD: Final = b"records/r/"
_PATIENT: Final = b"records/p/"
_HOLDER: Final = b"records/h/"
_MARK: Final = b"1"

Record = dict[str, Any]


def record_key(record_id: str) -> bytes:
    return _RECORD + record_id.encode()


def get(state: Reader, record_id: str) -> Record | None:
    raw = state.get(record_key(record_id))
    return None if raw is None else encoding.decode(raw)


def put(state: Overlay, record: Record) -> None:
    state.set(record_key(record["record"]), encoding.encode_trusted(record))


def index(state: Overlay, record: Record) -> None:
    state.set(_PATIENT + record["patient"].encode() + b"/" + record["record"].encode(), _MARK)


def of_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, _PATIENT + patient.encode() + b"/", after)


def add_holder(state: Overlay, record_id: str, org: str) -> bool:
    """Note that ``org``'s vault holds the ciphertext; False if it already did."""
    key = _HOLDER + record_id.encode() + b"/" + org.encode()
    if state.get(key) is not None:
        return False
    state.set(key, _MARK)
    return True


def holders(state: Reader, record_id: str) -> list[str]:
    return list(suffixes(state, _HOLDER + record_id.encode() + b"/"))


def is_holder(state: Reader, record_id: str, org: str) -> bool:
    return state.get(_HOLDER + record_id.encode() + b"/" + org.encode()) is not None
