"""The only code that reads or writes the ``records/`` key prefix.

State layout (values canonical JSON unless noted)::

    records/r/<record id>            -> record descriptor (README "State")
    records/p/<patient>/<record id>  -> b"1"   a patient's records, by id
    records/h/<record id>/<org did>  -> b"1"   vaults holding the ciphertext
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, NotRequired, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes
from phrchain.modules.records.keys import holder_prefix, patient_prefix, record_key
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"



class Record(TypedDict):
    """A record descriptor at ``records/r/<id>`` (README "State layout"), or its
    tombstone after erasure: the tombstone drops what the record was about."""

    record: str
    patient: str
    author: str
    custodian: str
    status: str                    # active | superseded | erased
    height: int
    replaces: str | None
    superseded_by: str | None
    self_reported: bool
    # descriptor only
    resource: NotRequired[str]
    category: NotRequired[str]
    hash: NotRequired[str]
    size: NotRequired[int]
    chunks: NotRequired[int]
    commitment: NotRequired[str]
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
    """Note that ``org``'s vault holds the ciphertext; False if it already did."""
    key = holder_prefix(record_id) + org.encode()
    if state.get(key) is not None:
        return False
    state.set(key, _MARK)
    return True


def holders(state: Reader, record_id: str) -> list[str]:
    return list(suffixes(state, holder_prefix(record_id)))


def is_holder(state: Reader, record_id: str, org: str) -> bool:
    return state.get(holder_prefix(record_id) + org.encode()) is not None
