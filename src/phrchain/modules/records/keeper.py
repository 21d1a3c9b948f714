"""The only code that reads or writes the ``records/`` key prefix.

State layout (values canonical JSON unless noted)::

    records/r/<record id>            -> record descriptor (README "State")
    records/p/<patient>/<record id>  -> b"1"   a patient's records, by id
    records/h/<record id>/<org did>  -> b"1"   vaults holding the ciphertext
    records/o/<patient>/<org did>    -> b"1"   the org holds some record of the patient
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, NotRequired, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes
from phrchain.modules.records.keys import (
    holder_prefix,
    holds_any_key,
    patient_prefix,
    record_key,
)
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"


class Record(TypedDict):
    """A record at ``records/r/<id>`` (README "State layout"), or its tombstone after
    erasure. Nothing says what the record is about: that is in the sealed descriptor
    ``descriptor`` commits to (v2)."""

    record: str
    patient: str
    custodian: str
    status: str                    # active | superseded | erased
    height: int
    replaces: str | None
    superseded_by: str | None
    self_reported: bool
    # active or superseded record only
    hash: NotRequired[str]
    size: NotRequired[int]         # the ciphertext size's bucket (a power of two)
    commitment: NotRequired[str]
    descriptor: NotRequired[str]   # commitment to the sealed descriptor
    time_ms: NotRequired[int]
    # tombstone only
    erased_height: NotRequired[int]
    erased_by: NotRequired[str]
    reason: NotRequired[str]


def get(state: Reader, record_id: str) -> Record | None:
    found: Record | None = json_get(state, record_key(record_id))
    return found


def put(state: Overlay, record: Record) -> None:
    json_put(state, record_key(record["record"]), record)


def index(state: Overlay, record: Record) -> None:
    state.set(patient_prefix(record["patient"]) + record["record"].encode(), _MARK)


def of_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, patient_prefix(patient), after)


def add_holder(state: Overlay, record_id: str, org: str) -> bool:
    """Note that ``org``'s vault holds the ciphertext, and so holds some record of the
    record's patient (``records/o/``); False if it already held this one."""
    key = holder_prefix(record_id) + org.encode()
    if state.get(key) is not None:
        return False
    state.set(key, _MARK)
    record = get(state, record_id)
    if record is not None:
        state.set(holds_any_key(record["patient"], org), _MARK)
    return True


def holds_any(state: Reader, patient: str, org: str) -> bool:
    return state.get(holds_any_key(patient, org)) is not None


def holders(state: Reader, record_id: str) -> list[str]:
    return list(suffixes(state, holder_prefix(record_id)))


def is_holder(state: Reader, record_id: str, org: str) -> bool:
    return state.get(holder_prefix(record_id) + org.encode()) is not None
