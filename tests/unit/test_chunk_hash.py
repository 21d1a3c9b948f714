"""The chunk hash is selectable (SHA-256 or BLAKE3), recorded with the record (blob
store, upload meta, sealed descriptor), and records stored before the choice existed
still verify (issue 20)."""

from __future__ import annotations

import hashlib
import io
import random
import sqlite3
from pathlib import Path
from typing import Any

import blake3
import pytest

from phrchain.core import encoding, keys, rfc9162
from phrchain.vault import crypto, errors
from phrchain.vault.blobs import BlobStore
from phrchain.vault.check import check_store
from phrchain.vault.crypto import BLAKE3, SHA256, RecordMeta, StreamSealer
from phrchain.vault.descriptor import (
    DESCRIPTOR_TAG,
    PADDED_SIZE,
    Descriptor,
    descriptor_key,
    open_descriptor,
    seal_descriptor,
)
from phrchain.vault.errors import VaultError
from phrchain.vault.wire import decode_upload, encode_upload

PATIENT = "did:key:z6MkpatientPATIENTpatient"
READER = keys.EncryptionKey(bytes(range(1, 33)))
READER_DID = keys.SigningKey(bytes(range(32))).did
RID = bytes(range(16))
# The records table as every store before this change created it.
OLD_RECORDS_TABLE = """
CREATE TABLE records (
    record BLOB PRIMARY KEY, patient TEXT NOT NULL, hash BLOB NOT NULL,
    size INTEGER NOT NULL, chunks INTEGER NOT NULL, chunk_size INTEGER NOT NULL,
    commitment BLOB NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('pending', 'active'))) WITHOUT ROWID;
"""


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes, /) -> int:
        self.data += data
        return len(data)


def expect(code: Any) -> Any:
    return pytest.raises(VaultError, match=rf"\[vault/{code.code} {code.name}\]")


def test_leaf_hashes_are_h_of_zero_and_chunk() -> None:
    rng = random.Random(3)
    for size in (0, 1, 63, 64, 1 << 16, (1 << 20) + 16):
        chunk = rng.randbytes(size)
        assert crypto.leaf_hasher(SHA256)(chunk) == rfc9162.leaf_hash(chunk) == \
            hashlib.sha256(b"\0" + chunk).digest()
        assert crypto.leaf_hasher(BLAKE3)(chunk) == blake3.blake3(b"\0" + chunk).digest()
    # BLAKE3's published vector for the empty input: the package is the real thing.
    assert blake3.blake3(b"").hexdigest() == \
        "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"
    for bad in ("md5", "SHA256", "", None):
        with expect(errors.INVALID_ARGUMENT):
            crypto.leaf_hasher(bad)  # type: ignore[arg-type]


def test_each_hash_seals_and_opens_and_refuses_the_other() -> None:
    plaintext = random.Random(4).randbytes(5000)
    sealed = {alg: crypto.seal(RID, PATIENT, plaintext, data_key=bytes(32), salt=bytes(32),
                               chunk_size=1024, hash_alg=alg) for alg in (SHA256, BLAKE3)}
    assert sealed[SHA256].chunks == sealed[BLAKE3].chunks  # same ciphertext
    assert sealed[SHA256].hash != sealed[BLAKE3].hash
    for alg, other in ((SHA256, BLAKE3), (BLAKE3, SHA256)):
        s = sealed[alg]
        assert s.meta.hash_alg == alg
        assert crypto.open_sealed(RID, PATIENT, s.data_key, s.chunks, expected_hash=s.hash,
                                  expected_commitment=s.commitment, chunk_size=1024,
                                  hash_alg=alg) == plaintext
        with expect(errors.HASH_MISMATCH):
            crypto.open_sealed(RID, PATIENT, s.data_key, s.chunks, expected_hash=s.hash,
                               expected_commitment=s.commitment, chunk_size=1024,
                               hash_alg=other)
        layout = s.meta.layout()
        wanted = layout.covering(1500, 2000)
        parts = [crypto.ChunkPart(i, s.chunks[i], tuple(rfc9162.inclusion_proof(
            s.leaf_hashes, i, len(s.chunks)))) for i in wanted]
        assert crypto.read_range(RID, PATIENT, s.data_key, parts, start=1500, length=2000,
                                 expected_hash=s.hash, count=len(s.chunks), size=s.size,
                                 chunk_size=1024, hash_alg=alg) == plaintext[1500:3500]
        with expect(errors.BAD_PROOF):
            crypto.read_range(RID, PATIENT, s.data_key, parts, start=1500, length=2000,
                              expected_hash=s.hash, count=len(s.chunks), size=s.size,
                              chunk_size=1024, hash_alg=other)


def test_a_blake3_stream_is_stored_with_its_hash_and_verifies(tmp_path: Path) -> None:
    plaintext = random.Random(5).randbytes(300_000)
    sealer = StreamSealer(RID, PATIENT, io.BytesIO(plaintext), len(plaintext),
                          chunk_size=65536, hash_alg=BLAKE3)
    wrapped = {READER_DID: crypto.wrap_key(sealer.data_key, READER.public_key, RID,
                                           READER_DID)}
    with BlobStore(tmp_path) as store:
        meta = store.put_stream(sealer, wrapped)
        assert meta.hash_alg == BLAKE3 and store.get_meta(RID) == meta
        sink = Sink()
        crypto.open_stream(RID, PATIENT, sealer.data_key, store.iter_chunks(RID), sink,
                           leaf_hashes=store.leaf_hashes(RID), expected_hash=meta.hash,
                           expected_commitment=meta.commitment, chunk_size=65536,
                           hash_alg=BLAKE3)
        assert bytes(sink.data) == plaintext
        chunks = list(store.iter_chunks(RID))
        # The same record again (chunks from elsewhere: hashed again by the store) is the
        # same record; under the other hash it is refused, as a different record.
        store.put(meta, chunks, wrapped)
        other = RecordMeta(bytes(16), PATIENT, meta.hash, meta.size, meta.chunks,
                           meta.commitment, 65536, SHA256)
        with expect(errors.HASH_MISMATCH):
            store.put(other, chunks, wrapped)
    assert check_store(tmp_path / "blobs.sqlite3").ok


def test_a_store_from_before_the_choice_still_verifies(tmp_path: Path) -> None:
    """A store with the old records table and a SHA-256 record written into it the old
    way: the checker passes it as it is, the vault opens it (adding the column), reads
    the record as SHA-256, and it verifies and opens."""
    plaintext = random.Random(6).randbytes(3000)
    s = crypto.seal(RID, PATIENT, plaintext, chunk_size=1024)
    wrapped = crypto.wrap_key(s.data_key, READER.public_key, RID, READER_DID)
    from phrchain.vault.blobs import SCHEMA

    path = tmp_path / "blobs.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA page_size = 65536")
        new_table = SCHEMA.split(";")[0]
        db.executescript(SCHEMA.replace(new_table, OLD_RECORDS_TABLE.rstrip().rstrip(";")))
        db.execute("INSERT INTO records VALUES (?, ?, ?, ?, ?, ?, ?, 'active')",
                   (RID, PATIENT, s.hash, s.size, len(s.chunks), 1024, s.commitment))
        for i, chunk in enumerate(s.chunks):
            leaf = rfc9162.leaf_hash(chunk)
            db.execute("INSERT INTO chunks VALUES (?, ?)", (leaf, chunk))
            db.execute("INSERT INTO record_chunks VALUES (?, ?, ?)", (RID, i, leaf))
        db.execute("INSERT INTO wrapped_keys VALUES (?, ?, ?)", (RID, READER_DID, wrapped))
    db.close()
    with BlobStore(tmp_path) as store:
        meta = store.get_meta(RID)
        assert meta.hash_alg == SHA256 and meta.hash == s.hash
        parts = store.get_chunks(RID, range(meta.chunks))
        data_key = crypto.unwrap_key(store.get_wrapped_key(RID, READER_DID), READER, RID,
                                     READER_DID)
        assert crypto.open_sealed(RID, PATIENT, data_key, [p.data for p in parts],
                                  expected_hash=s.hash, expected_commitment=s.commitment,
                                  chunk_size=1024) == plaintext
    report = check_store(path)
    assert report.ok, str(report)


def test_descriptors_carry_the_hash_only_when_not_sha256() -> None:
    key, rid = bytes(range(32)), RID.hex()
    old = Descriptor.new(rid, "Observation", "laboratory", PATIENT, 1100, 2, salt="ab" * 16)
    assert "hash_alg" not in old.to_json()  # byte for byte what it was: same commitment
    new = Descriptor.new(rid, "Observation", "laboratory", PATIENT, 1100, 2, salt="ab" * 16,
                         hash_alg=BLAKE3)
    assert new.to_json()["hash_alg"] == BLAKE3 and new.commitment() != old.commitment()
    for d in (old, new):
        assert open_descriptor(seal_descriptor(d, key), key, RID, d.commitment()) == d
    # "sha256" said explicitly is not canonical (absent means it): refused.
    explicit = encoding.encode({**old.to_json(), "hash_alg": SHA256})
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    from phrchain.core.hashing import tagged_hash

    sealed = AESGCM(descriptor_key(key, RID)).encrypt(
        bytes(12), explicit.ljust(PADDED_SIZE, b"\0"), RID)
    with expect(errors.DESCRIPTOR_INVALID):
        open_descriptor(sealed, key, RID, tagged_hash(DESCRIPTOR_TAG, explicit))
    with expect(errors.INVALID_ARGUMENT):
        Descriptor.new(rid, "Observation", "laboratory", PATIENT, 1100, 2, hash_alg="md5")


def test_uploads_carry_the_hash_only_when_not_sha256() -> None:
    plaintext = random.Random(7).randbytes(2000)
    for alg in (SHA256, BLAKE3):
        s = crypto.seal(RID, PATIENT, plaintext, hash_alg=alg)
        body = encode_upload(s.meta, {}, s.chunks)
        assert (b'"hash_alg"' in body) == (alg == BLAKE3)
        assert decode_upload(body).meta == s.meta
