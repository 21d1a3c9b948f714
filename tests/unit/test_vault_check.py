"""``phrchain.vault.check`` (what ``phrchain vault verify`` runs on a blob store) and the
read path's honest answers on a damaged store: each kind of damage named exactly, by
record, chunk index or reader, and a clean store clean."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from phrchain.core import keys
from phrchain.core.errors import ErrorCode
from phrchain.modules.records.messages import size_bucket
from phrchain.vault import crypto, errors
from phrchain.vault import gateway_errors as gw
from phrchain.vault.blobs import BlobStore
from phrchain.vault.check import Report, check_store
from phrchain.vault.errors import VaultError

PATIENT = keys.SigningKey(bytes([1]) * 32).did
READER = keys.SigningKey(bytes([2]) * 32).did
READER_ENC = keys.EncryptionKey(bytes(range(1, 33)))


def rid(n: int) -> bytes:
    return n.to_bytes(16, "big")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[BlobStore]:
    """Three records: 1 and 3 of 4 chunks (64-byte chunks), 2 of one chunk."""
    with BlobStore(tmp_path) as s:
        for n, length in ((1, 200), (2, 10), (3, 200)):
            sealed = crypto.seal(rid(n), PATIENT, bytes([n]) * length, chunk_size=64)
            s.put_sealed(sealed, {READER: crypto.wrap_key(sealed.data_key,
                                                          READER_ENC.public_key, rid(n),
                                                          READER),
                                  PATIENT: bytes(80)})
        yield s


def damage(store: BlobStore, sql: str, *args: Any) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute(sql, args).rowcount >= 1


def leaf(store: BlobStore, n: int, index: int) -> bytes:
    return store.leaf_hashes(rid(n))[index]


def names(report: Report) -> list[tuple[str, ErrorCode, str]]:
    return [(f.subject, f.error, f.detail) for f in report.findings]


def only(report: Report, subject: str, code: ErrorCode, *words: str) -> None:
    assert [(f.subject, f.error) for f in report.findings] == [(subject, code)], names(report)
    assert all(w in report.findings[0].detail for w in words), report.findings[0].detail


def test_a_clean_store_is_clean(store: BlobStore) -> None:
    report = check_store(store.path)
    assert report.ok and report.findings == []
    assert (report.records, report.chunks, report.wrapped_keys) == (3, 9, 6)


def test_a_flipped_blob_byte_is_named_by_record_and_chunk(store: BlobStore) -> None:
    data = bytearray(store.get_chunk(rid(3), 2).data)
    data[5] ^= 0xFF
    damage(store, "UPDATE chunks SET data = ? WHERE leaf = ?", bytes(data), leaf(store, 3, 2))
    only(check_store(store.path), f"record {rid(3).hex()}", errors.HASH_MISMATCH,
         "chunk 2", "leaf hash")


def test_a_truncated_blob_is_named(store: BlobStore) -> None:
    damage(store, "UPDATE chunks SET data = ? WHERE leaf = ?",
           store.get_chunk(rid(1), 0).data[:20], leaf(store, 1, 0))
    only(check_store(store.path), f"record {rid(1).hex()}", errors.BAD_LAYOUT,
         "chunk 0", "truncated")


def test_a_deleted_chunk_is_named(store: BlobStore) -> None:
    damage(store, "DELETE FROM chunks WHERE leaf = ?", leaf(store, 1, 3))
    only(check_store(store.path), f"record {rid(1).hex()}", errors.BAD_LAYOUT,
         "chunk 3 of 4 is missing")


def test_a_deleted_chunk_row_is_named(store: BlobStore) -> None:
    damage(store, "DELETE FROM record_chunks WHERE record = ? AND idx = 1", rid(3))
    report = check_store(store.path)
    assert names(report)[0][:2] == (f"record {rid(3).hex()}", errors.BAD_LAYOUT)
    assert "chunk 1 of 4 is missing (no chunk row)" in names(report)[0][2]
    assert names(report)[1] == ("store", errors.STORE_DAMAGED,
                                "1 stored chunk(s) belong to no record (an altered leaf hash)")


def test_a_swapped_leaf_hash_breaks_the_root(store: BlobStore) -> None:
    """Chunks 0 and 1 swapped with their leaves: each chunk matches its leaf, the root
    does not match the record's hash."""
    a, b = leaf(store, 1, 0), leaf(store, 1, 1)
    damage(store, "UPDATE record_chunks SET leaf = CASE idx WHEN 0 THEN ? ELSE ? END "
           "WHERE record = ? AND idx IN (0, 1)", b, a, rid(1))
    report = check_store(store.path)
    assert (f"record {rid(1).hex()}", errors.HASH_MISMATCH,
            "the RFC 9162 root of its chunks' leaf hashes is not the record's hash") \
        in names(report)


@pytest.mark.parametrize(("sql", "code", "words"), [
    ("UPDATE wrapped_keys SET wrapped = substr(wrapped, 1, 79) WHERE reader = ?",
     errors.MALFORMED_WRAPPED_KEY, ("79 bytes, not 80",)),
    ("UPDATE wrapped_keys SET reader = replace(reader, 'z6Mk', 'z6M!') WHERE reader = ?",
     errors.UNKNOWN_READER, ("not a well-formed did:key",)),
])
def test_a_corrupt_wrapped_key_is_named(store: BlobStore, sql: str, code: ErrorCode,
                                        words: tuple[str, ...]) -> None:
    damage(store, sql + " AND record = ?", READER, rid(2))
    only(check_store(store.path), f"record {rid(2).hex()}", code, *words)


def test_rows_left_by_an_altered_record_id_are_named(store: BlobStore) -> None:
    damage(store, "UPDATE wrapped_keys SET record = ? WHERE record = ? AND reader = ?",
           rid(9), rid(2), READER)
    report = check_store(store.path)
    assert (f"record {rid(9).hex()}", errors.STORE_DAMAGED,
            "wrapped keys of a record the store does not hold (an altered id)") \
        in names(report)


def test_a_raw_byte_flip_in_the_file_is_found(store: BlobStore) -> None:
    """Outside SQLite: one byte of the file, inside a chunk's ciphertext."""
    chunk = store.get_chunk(rid(2), 0).data
    store.close()
    data = bytearray(store.path.read_bytes())
    at = data.find(chunk)
    assert at > 0 and data.count(chunk) == 1
    data[at + 7] ^= 0x01
    store.path.write_bytes(bytes(data))
    only(check_store(store.path), f"record {rid(2).hex()}", errors.HASH_MISMATCH,
         "chunk 0")


class _Chain:
    def __init__(self, descriptors: Mapping[str, dict[str, Any]], dids: set[str]) -> None:
        self.descriptors, self.dids = descriptors, dids

    def descriptor(self, record_hex: str) -> Mapping[str, Any] | None:
        return self.descriptors.get(record_hex)

    def is_identity(self, did: str) -> bool:
        return did in self.dids


def test_against_the_chain(store: BlobStore) -> None:
    on_chain = {}
    for n in (1, 2, 3):
        meta = store.get_meta(rid(n))
        fields = meta.descriptor_fields()   # v2: the chain holds the size bucket
        on_chain[rid(n).hex()] = {"status": "active", **fields, "size": size_bucket(meta.size)}
        del on_chain[rid(n).hex()]["chunks"]
    assert check_store(store.path, _Chain(on_chain, {PATIENT, READER})).ok
    on_chain[rid(1).hex()] = {**on_chain[rid(1).hex()], "size": 1}
    on_chain[rid(2).hex()] = {"status": "erased", "record": rid(2).hex()}
    del on_chain[rid(3).hex()]
    report = check_store(store.path, _Chain(on_chain, {PATIENT}))
    assert sorted((s, e.code) for s, e, _ in names(report)) == sorted(
        [(f"record {rid(1).hex()}", gw.NOT_REGISTERED.code),
         (f"record {rid(2).hex()}", gw.ERASED.code),
         (f"record {rid(3).hex()}", gw.NOT_REGISTERED.code)]
        + [(f"record {rid(n).hex()}", errors.UNKNOWN_READER.code) for n in (1, 2, 3)])
    assert "the on-chain descriptor differs in size" in [d for _, _, d in names(report)]
    assert f"reader {READER} is no identity on chain" in [d for _, _, d in names(report)]


def test_no_store_is_an_error_not_a_clean_report(tmp_path: Path) -> None:
    with pytest.raises(VaultError, match="store_damaged"):
        check_store(tmp_path / "blobs.sqlite3")
    assert not (tmp_path / "blobs.sqlite3").exists()


# -- the read path: the real reason, not "the patient must share the key" -----------------
def test_a_key_row_with_an_altered_reader_is_store_damaged_not_no_key(
        store: BlobStore) -> None:
    """A flipped byte in the caller's own wrapped-key row made the lookup miss, and the
    gateway answered ``no_key_for_caller`` ("the patient must share it")."""
    damage(store, "UPDATE wrapped_keys SET reader = replace(reader, 'z6Mk', 'z6M!') "
           "WHERE reader = ? AND record = ?", READER, rid(2))
    with pytest.raises(VaultError) as caught:
        store.get_wrapped_key(rid(2), READER)
    assert caught.value.error is errors.STORE_DAMAGED
    assert rid(2).hex() in caught.value.detail
    with pytest.raises(VaultError) as caught:  # an intact record: the reader is just absent
        store.get_wrapped_key(rid(1), keys.SigningKey(bytes([3]) * 32).did)
    assert caught.value.error is errors.READER_NOT_FOUND


def test_an_altered_chunk_count_is_store_damaged_not_bad_range(store: BlobStore) -> None:
    damage(store, "UPDATE records SET chunks = 0 WHERE record = ?", rid(2))
    with pytest.raises(VaultError) as caught:
        store.get_chunks(rid(2), range(1))
    assert caught.value.error is errors.STORE_DAMAGED


def test_an_altered_schema_is_store_damaged_not_an_internal_error(store: BlobStore) -> None:
    """SQLite's ``no such column`` after a byte flip in a table's definition."""
    store.close()
    data = bytearray(store.path.read_bytes())
    at = data.find(b"wrapped BLOB NOT NULL")
    assert at > 0
    data[at] ^= 0x01  # "vrapped"
    store.path.write_bytes(bytes(data))
    with BlobStore(store.directory, recover=False) as reopened:
        with pytest.raises(VaultError) as caught:
            reopened.get_wrapped_key(rid(1), READER)
    assert caught.value.error is errors.STORE_DAMAGED
    assert not check_store(store.path).ok


def test_an_altered_table_definition_is_found_though_integrity_check_passes(
        store: BlobStore) -> None:
    """A flipped byte in the CHECK constraint's column name: SQLite's integrity_check
    and read-only SELECTs pass, the vault cannot open the file; the schema check sees it."""
    store.close()
    data = bytearray(store.path.read_bytes())
    at = data.find(b"CHECK (status IN")
    assert at > 0
    data[at + len("CHECK (")] ^= 0x01  # "rtatus"
    store.path.write_bytes(bytes(data))
    with pytest.raises(sqlite3.DatabaseError):
        BlobStore(store.directory, recover=False)
    report = check_store(store.path)
    assert [(f.subject, f.error) for f in report.findings][:1] == [
        ("store", errors.STORE_DAMAGED)]
    assert "definition is altered" in report.findings[0].detail


def test_no_byte_flip_makes_the_check_fail_otherwise_than_with_a_report(
        store: BlobStore, tmp_path: Path) -> None:
    """Found by flipping every byte of a real vault's file: an altered serial type made
    a table definition a blob and the schema check raised TypeError. A sample of 300
    single-bit flips (every flip inside a chunk's ciphertext among them found)."""
    import random

    chunk = store.get_chunk(rid(2), 0).data
    store.close()
    good = store.path.read_bytes()
    inside = range(good.find(chunk), good.find(chunk) + len(chunk))
    nonzero = [i for i, b in enumerate(good) if b]
    sample = random.Random(9).sample(nonzero, 300) + list(inside)[::4]
    work = tmp_path / "flipped.sqlite3"
    for at in sample:
        data = bytearray(good)
        data[at] ^= 1 << (at % 8)
        work.write_bytes(bytes(data))
        report = check_store(work)  # a Report, whatever the damage
        if at in inside:
            assert (f"record {rid(2).hex()}", errors.HASH_MISMATCH) in [
                (f.subject, f.error) for f in report.findings], at


@pytest.mark.parametrize(("sql", "subject", "code"), [
    # a flipped serial type: the same bytes, now TEXT (and not UTF-8)
    ("UPDATE chunks SET data = CAST(x'ff00ff00' || data AS TEXT) WHERE leaf = "
     "(SELECT leaf FROM record_chunks WHERE record = :r AND idx = 0)", "record",
     errors.STORE_DAMAGED),
    ("UPDATE wrapped_keys SET record = CAST(x'ff' || substr(record, 2) AS TEXT) "
     "WHERE record = :r AND reader = :reader", "record", errors.STORE_DAMAGED),
])
def test_a_blob_turned_text_is_found(store: BlobStore, sql: str, subject: str,
                                     code: ErrorCode) -> None:
    with sqlite3.connect(store.path) as db:
        assert db.execute(sql, {"r": rid(2), "reader": READER}).rowcount == 1
    report = check_store(store.path)
    assert any(f.subject.startswith(subject) and f.error is code for f in report.findings), \
        names(report)
    if "chunks" in sql:  # the read path says so too, quoting no byte of the value
        with BlobStore(store.directory, recover=False) as reopened, \
                pytest.raises(VaultError) as caught:
            reopened.get_chunks(rid(2), range(1))
        assert caught.value.error is errors.STORE_DAMAGED
        assert caught.value.detail == "SQLite: Could not decode to UTF-8 column 'data'"
