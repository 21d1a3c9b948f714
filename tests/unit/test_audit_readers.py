"""Who a vault seals audit entries to (``gateway/audit_readers.py``): the patient, the
institution and every active regulator, read from the identity module once and cached
until identity changes (the erasure follower tells it); and the sender's batches of
sealed entries stay under the tx size limit."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from phrchain.core import encoding
from phrchain.core.errors import CodedError
from phrchain.core.tx import MAX_TX_BYTES
from phrchain.gateway.audit_readers import AuditReaders, identity_changed_in
from phrchain.gateway.erasures import ErasureFollower
from phrchain.gateway.journal import Journal
from phrchain.gateway.sender import ENTRIES_PER_TX, TX_ENTRY_BYTES, _fitting
from phrchain.modules.audit.messages import Entry
from tests.audit_entries import READER, sealed
from tests.world import signing_key

ORG, PATIENT = signing_key(11).did, signing_key(12).did
REG_1, REG_2, RETIRED = signing_key(13).did, signing_key(14).did, signing_key(15).did


class Identities:
    """The identity queries a vault asks, counted."""

    def __init__(self) -> None:
        self.asked = 0
        self.ids: dict[str, dict[str, Any]] = {
            PATIENT: {"status": "active", "enc_key": "11" * 32},
            REG_1: {"status": "active", "enc_key": "21" * 32},
            REG_2: {"status": "active", "enc_key": "22" * 32},
            RETIRED: {"status": "revoked", "enc_key": "23" * 32}}
        self.regulators = [REG_1, REG_2, RETIRED]

    def query(self, path: str, data: Mapping[str, Any]) -> Any:
        self.asked += 1
        if path == "identity/kind":
            assert data["kind"] == "organization/regulator"
            start = self.regulators.index(data["after"]) + 1 if "after" in data else 0
            page = self.regulators[start:start + 2]  # small pages: paging is followed
            more = start + 2 < len(self.regulators)
            return {"dids": page, "next": page[-1] if more else None}
        assert path == "identity/did"
        return self.ids.get(data["did"])


def test_an_entry_is_sealed_to_the_patient_the_institution_and_active_regulators() -> None:
    ids = Identities()
    readers = AuditReaders(ids.query, ORG, b"\x07" * 32)
    assert readers.readers(PATIENT) == {PATIENT: b"\x11" * 32, ORG: b"\x07" * 32,
                                        REG_1: b"\x21" * 32, REG_2: b"\x22" * 32}


def test_the_directory_is_read_once_until_identity_changes() -> None:
    ids, now = Identities(), [0.0]
    readers = AuditReaders(ids.query, ORG, b"\x07" * 32, max_age_s=300, clock=lambda: now[0])
    readers.readers(PATIENT)
    asked = ids.asked
    for _ in range(5):
        readers.readers(PATIENT)
    assert ids.asked == asked  # cached
    ids.ids[REG_2]["status"] = "revoked"
    readers.identity_changed()
    assert REG_2 not in readers.readers(PATIENT) and ids.asked > asked
    ids.ids[REG_2]["status"] = "active"
    asked = ids.asked
    now[0] = 301.0  # too old: read again even without a notice
    assert REG_2 in readers.readers(PATIENT) and ids.asked > asked


def test_a_patient_without_an_identity_refuses_to_seal() -> None:
    readers = AuditReaders(Identities().query, ORG, b"\x07" * 32)
    with pytest.raises(CodedError):
        readers.readers(signing_key(99).did)


def _block(*types: str, ok: bool = True) -> list[dict[str, Any]]:
    return [{"code": 0 if ok else 5, "events": [{"type": t, "attributes": []} for t in types]}]


def test_identity_changes_are_read_from_block_results() -> None:
    assert identity_changed_in(_block("identity.admitted"))
    assert identity_changed_in(_block("records.registered", "identity.key_rotated"))
    assert identity_changed_in(_block("identity.revoked"))
    assert not identity_changed_in(_block("identity.admitted", ok=False))
    assert not identity_changed_in(_block("records.registered", "audit.appended"))


class Blocks:
    def __init__(self) -> None:
        self.blocks: list[list[dict[str, Any]]] = []

    def height(self) -> int:
        return len(self.blocks)

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        return None if height > len(self.blocks) else self.blocks[height - 1]


def test_the_erasure_follower_tells_the_cache_of_identity_changes(tmp_path: Path) -> None:
    chain, told = Blocks(), []
    follower = ErasureFollower(chain, Journal(tmp_path), lambda r: False,  # type: ignore[arg-type]
                               lambda: [], identity_changed=lambda: told.append(1))
    follower.sync()  # the first pass scans, and whatever changed before is unknown
    assert told == [1]
    chain.blocks += [_block("records.registered"), _block("audit.appended")]
    follower.sync()
    assert told == [1]
    chain.blocks += [_block("identity.admitted")]
    follower.sync()
    assert told == [1, 1]


def test_sender_batches_of_sealed_entries_fit_in_a_tx() -> None:
    many = {signing_key(500 + i).did: READER.public_key for i in range(12)}
    entries = [(i, Entry.parse(sealed(PATIENT, ORG, "ab" * 16, PATIENT, readers=many)))
               for i in range(60)]
    runs = _fitting(entries)
    assert [s for run in runs for s, _ in run] == list(range(60))  # all, in order
    assert len(runs) > 1
    for run in runs:
        body = encoding.encode([e.to_json() for _, e in run])
        assert len(run) <= ENTRIES_PER_TX and len(body) <= TX_ENTRY_BYTES + len(run)
        assert len(body) + 2048 < MAX_TX_BYTES  # room for the envelope and signature
    small = [(i, Entry.parse(sealed(PATIENT, ORG, "ab" * 16, PATIENT))) for i in range(70)]
    sizes = [len(r) for r in _fitting(small)]
    assert sum(sizes) == 70 and max(sizes) <= ENTRIES_PER_TX
