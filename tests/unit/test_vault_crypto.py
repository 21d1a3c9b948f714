"""Tests for phrchain.vault.crypto (docs/records.md § "Record encryption").

Three layers:

1. Data vectors ``tests/vectors/vault_seal.json`` (fixed key, salt, record id, patient →
   chunk leaf hashes, root, size, commitment, AAD and first-chunk bytes) and
   ``tests/vectors/vault_wrap.json`` (a fixed HPKE wrapped key that must unwrap; HPKE
   output is randomized, but opening is deterministic). Both were generated once by the
   naive reference below (``python -m tests.unit.test_vault_crypto --force``); a change
   to them is a change of the on-chain contract.
2. A deliberately naive reference written straight from the contract text (plain
   ``json.dumps``, ``hashlib``, a recursive RFC 9162 MTH), compared with the fast code.
3. Systematic tampering: every chunk, the root, the commitment, every AAD field, chunk
   order and count, every byte of a wrapped key, proofs of a range read.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phrchain.core import keys, rfc9162
from phrchain.core.errors import REGISTRY, CodedError, ErrorCode, TxError
from phrchain.vault import crypto, errors
from phrchain.vault.crypto import CHUNK_SIZE, ChunkPart, Layout, StreamSealer
from phrchain.vault.errors import VaultError

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SEAL_VECTORS = VECTORS / "vault_seal.json"
WRAP_VECTORS = VECTORS / "vault_wrap.json"

RID = bytes(range(16))
PATIENT = "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"
KEY = bytes(range(32, 64))
SALT = bytes(range(64, 96))


def pattern(n: int) -> bytes:
    """Deterministic plaintext of any length: byte i is i mod 251."""
    return (bytes(range(251)) * (n // 251 + 1))[:n]


def expect(code: ErrorCode) -> Any:
    return pytest.raises(VaultError, match=rf"\[vault/{code.code} {code.name}\]")


# --- 2. naive reference, from the contract text alone ------------------------------------

def ref_mth(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively, over leaf *data*."""
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + ref_mth(leaves[:k]) + ref_mth(leaves[k:])).digest()


def ref_aad(record_id: bytes, patient: str, i: int, n: int) -> bytes:
    body = json.dumps({"chunk": i, "chunks": n, "patient": patient, "record": record_id.hex(),
                       "v": 1}, sort_keys=True, separators=(",", ":")).encode()
    return b"phrchain/record/aad/v1\x00" + body


def ref_seal(record_id: bytes, patient: str, plaintext: bytes, key: bytes, salt: bytes,
             chunk_size: int) -> dict[str, Any]:
    framed = salt + plaintext
    pieces = [framed[i:i + chunk_size] for i in range(0, len(framed), chunk_size)] or [b""]
    n = len(pieces)
    chunks = [AESGCM(key).encrypt(i.to_bytes(12, "big"), p, ref_aad(record_id, patient, i, n))
              for i, p in enumerate(pieces)]
    commitment = hashlib.sha256(b"phrchain/record/commitment/v1\x00" + framed).digest()
    return {"chunks": chunks, "hash": ref_mth(chunks), "size": sum(map(len, chunks)),
            "commitment": commitment}


SEAL_CASES: list[tuple[str, int, int]] = [  # description, plaintext length, chunk size
    ("empty plaintext: one chunk holding only the salt", 0, CHUNK_SIZE),
    ("small FHIR-sized record, one chunk", 300, CHUNK_SIZE),
    ("1000 bytes in 64-byte chunks, last chunk partial", 1000, 64),
    ("framed plaintext exactly two 64-byte chunks", 96, 64),
    ("16-byte chunks: the salt spans two chunks", 40, 16),
    ("3 MiB + 5 bytes in real 1 MiB chunks", 3 * CHUNK_SIZE + 5, CHUNK_SIZE),
]


def make_seal_vectors() -> dict[str, Any]:
    cases = []
    for description, length, chunk_size in SEAL_CASES:
        ref = ref_seal(RID, PATIENT, pattern(length), KEY, SALT, chunk_size)
        cases.append({
            "description": description,
            "input": {"record_id": RID.hex(), "patient": PATIENT, "data_key": KEY.hex(),
                      "salt": SALT.hex(), "chunk_size": chunk_size,
                      "plaintext": {"pattern": "byte i = i mod 251", "length": length}},
            "expected": {
                "chunks": len(ref["chunks"]), "size": ref["size"], "hash": ref["hash"].hex(),
                "commitment": ref["commitment"].hex(),
                "leaf_hashes": [rfc9162.leaf_hash(c).hex() for c in ref["chunks"]],
                "chunk0_aad": ref_aad(RID, PATIENT, 0, len(ref["chunks"])).hex(),
                "chunk0_head": ref["chunks"][0][:64].hex(),
            },
        })
    return {"source": "generated once by the naive reference in "
                      "tests/unit/test_vault_crypto.py; never regenerate",
            "cases": cases}


def make_wrap_vectors() -> dict[str, Any]:
    reader = keys.EncryptionKey(bytes(range(100, 132)))
    reader_did = PATIENT
    wrapped = crypto.wrap_key(KEY, reader.public_key, RID, reader_did)
    return {"source": "wrapped once with cryptography 48.0.0 HPKE; unwrapping is "
                      "deterministic",
            "description": "HPKE base X25519/HKDF-SHA256/ChaCha20-Poly1305 wrap of a data key",
            "input": {"reader_secret": reader.secret.hex(), "reader_did": reader_did,
                      "record_id": RID.hex(), "wrapped": wrapped.hex(),
                      "info": (b"phrchain/record/wrap/v1\x00" + json.dumps(
                          {"reader": reader_did, "record": RID.hex()},
                          separators=(",", ":")).encode()).hex()},
            "expected": {"data_key": KEY.hex()}}


# --- 1. vectors ----------------------------------------------------------------------------

def seal_cases() -> list[dict[str, Any]]:
    if not SEAL_VECTORS.exists():  # only while generating them
        return []
    return list(json.loads(SEAL_VECTORS.read_text())["cases"])


@pytest.mark.parametrize("case", seal_cases(), ids=lambda c: c["description"][:40])
def test_seal_matches_vectors(case: dict[str, Any]) -> None:
    inp, exp = case["input"], case["expected"]
    plaintext = pattern(inp["plaintext"]["length"])
    sealed = crypto.seal(bytes.fromhex(inp["record_id"]), inp["patient"], plaintext,
                         data_key=bytes.fromhex(inp["data_key"]), salt=bytes.fromhex(inp["salt"]),
                         chunk_size=inp["chunk_size"])
    assert [rfc9162.leaf_hash(c).hex() for c in sealed.chunks] == exp["leaf_hashes"]
    assert list(sealed.leaf_hashes) == [bytes.fromhex(h) for h in exp["leaf_hashes"]]
    assert (sealed.hash.hex(), sealed.size, len(sealed.chunks), sealed.commitment.hex()) == (
        exp["hash"], exp["size"], exp["chunks"], exp["commitment"])
    assert crypto.chunk_aad(sealed.record_id, sealed.patient, 0, exp["chunks"]).hex() == \
        exp["chunk0_aad"]
    assert sealed.chunks[0][:64].hex() == exp["chunk0_head"]
    assert sealed.meta.descriptor_fields() == {
        "record": inp["record_id"], "patient": inp["patient"], "hash": exp["hash"],
        "size": exp["size"], "chunks": exp["chunks"], "commitment": exp["commitment"]}


def test_vectors_are_what_the_naive_reference_computes() -> None:
    assert json.loads(SEAL_VECTORS.read_text()) == make_seal_vectors()


def test_aad_bytes_are_the_contract() -> None:
    assert crypto.chunk_aad(RID, "did:x", 2, 5) == (
        b'phrchain/record/aad/v1\x00{"chunk":2,"chunks":5,"patient":"did:x",'
        b'"record":"000102030405060708090a0b0c0d0e0f","v":1}')


def test_wrap_vector_unwraps() -> None:
    vec = json.loads(WRAP_VECTORS.read_text())
    inp = vec["input"]
    reader = keys.EncryptionKey(bytes.fromhex(inp["reader_secret"]))
    rid = bytes.fromhex(inp["record_id"])
    assert crypto.wrap_info(rid, inp["reader_did"]).hex() == inp["info"]
    got = crypto.unwrap_key(bytes.fromhex(inp["wrapped"]), reader, rid, inp["reader_did"])
    assert got.hex() == vec["expected"]["data_key"]


# --- 2. fast code against the reference, streaming against in-memory ----------------------

@pytest.mark.parametrize("chunk_size", [1, 7, 31, 32, 33, 64, 1000])
def test_seal_and_stream_agree_with_reference(chunk_size: int) -> None:
    rng = random.Random(chunk_size)
    for length in [0, 1, chunk_size - 1, chunk_size, chunk_size + 1, rng.randrange(3000)]:
        if length < 0:
            continue
        plaintext = rng.randbytes(length)
        ref = ref_seal(RID, PATIENT, plaintext, KEY, SALT, chunk_size)
        sealed = crypto.seal(RID, PATIENT, plaintext, data_key=KEY, salt=SALT,
                             chunk_size=chunk_size)
        assert sealed.chunks == ref["chunks"]
        assert (sealed.hash, sealed.size, sealed.commitment) == (
            ref["hash"], ref["size"], ref["commitment"])
        assert Layout.of_plaintext(length, chunk_size).count == len(ref["chunks"])
        sealer = StreamSealer(RID, PATIENT, io.BytesIO(plaintext), length, data_key=KEY,
                              salt=SALT, chunk_size=chunk_size)
        assert list(sealer) == ref["chunks"]
        assert sealer.meta == sealed.meta
        assert crypto.open_sealed(RID, PATIENT, KEY, sealed.chunks, expected_hash=sealed.hash,
                                  expected_commitment=sealed.commitment,
                                  chunk_size=chunk_size) == plaintext
        out = io.BytesIO()
        assert crypto.open_stream(RID, PATIENT, KEY, sealed.chunks, out,
                                  leaf_hashes=sealed.leaf_hashes, expected_hash=sealed.hash,
                                  expected_commitment=sealed.commitment,
                                  chunk_size=chunk_size, size=sealed.size) == length
        assert out.getvalue() == plaintext


def test_commitment_is_the_tagged_hash() -> None:
    from phrchain.core.hashing import tagged_hash
    assert crypto.commitment(SALT, b"abc") == tagged_hash("phrchain/record/commitment/v1",
                                                          SALT + b"abc")


def test_fresh_key_and_salt_each_time() -> None:
    a, b = crypto.seal(RID, PATIENT, b"same"), crypto.seal(RID, PATIENT, b"same")
    assert a.data_key != b.data_key and a.salt != b.salt
    assert a.commitment != b.commitment and a.hash != b.hash


def test_stream_length_must_match_the_announcement() -> None:
    with expect(errors.STREAM_LENGTH):
        list(StreamSealer(RID, PATIENT, io.BytesIO(b"x" * 99), 100, chunk_size=16))
    with expect(errors.STREAM_LENGTH):
        list(StreamSealer(RID, PATIENT, io.BytesIO(b"x" * 101), 100, chunk_size=16))
    sealer = StreamSealer(RID, PATIENT, io.BytesIO(b""), 0)
    with expect(errors.INVALID_ARGUMENT):
        _ = sealer.meta  # not sealed yet


class _Trickle(io.RawIOBase):
    """A source that returns at most 5 bytes per read."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        return self._data.read(min(n, 5) if n >= 0 else 5)


def test_stream_handles_short_reads() -> None:
    plaintext = pattern(500)
    sealer = StreamSealer(RID, PATIENT, _Trickle(plaintext), 500, data_key=KEY, salt=SALT,
                          chunk_size=64)
    chunks = list(sealer)
    assert chunks == crypto.seal(RID, PATIENT, plaintext, data_key=KEY, salt=SALT,
                                 chunk_size=64).chunks


@pytest.mark.parametrize("bad", [
    {"record_id": bytes(15)}, {"patient": ""}, {"data_key": bytes(31)}, {"salt": bytes(33)},
    {"chunk_size": 0}, {"patient": "x" * 257}, {"patient": "\ud800"},
])
def test_malformed_arguments(bad: dict[str, Any]) -> None:
    args: dict[str, Any] = {"record_id": RID, "patient": PATIENT, "data_key": KEY,
                            "salt": SALT, "chunk_size": 64, **bad}
    with expect(errors.INVALID_ARGUMENT):
        crypto.seal(args.pop("record_id"), args.pop("patient"), b"data", **args)


def test_layout_arithmetic_and_impossible_records() -> None:
    layout = Layout.of_plaintext(3 * CHUNK_SIZE + 5)  # framed = 3 MiB + 37
    assert (layout.count, layout.size, layout.plaintext_len) == (
        4, 3 * CHUNK_SIZE + 37 + 4 * 16, 3 * CHUNK_SIZE + 5)
    assert Layout.of_record(layout.size, 4) == layout
    assert layout.covering(CHUNK_SIZE - 33, 2) == range(0, 2)  # salt offset: 32
    assert layout.covering(CHUNK_SIZE - 32, 1) == range(1, 2)
    for size, count in ((layout.size, 3), (layout.size, 5), (47, 1), (48 + 1, 2), (0, 0)):
        with expect(errors.BAD_LAYOUT):
            Layout.of_record(size, count)


def test_errors_are_registered_vault_codes() -> None:
    # codes 1-19 are vault.errors' (20-39 belong to the gateway, vault/gateway_errors.py)
    codes = {k: v for k, v in REGISTRY.items() if k[0] == "vault" and k[1] < 20}
    assert codes
    assert {v.name for v in codes.values()} == {
        e.name for e in vars(errors).values() if isinstance(e, ErrorCode)}
    err = VaultError(errors.HASH_MISMATCH, "x")
    assert isinstance(err, CodedError) and err.codespace == "vault" and err.code == 2
    assert not isinstance(err, TxError)  # off chain: never a consensus code
    with pytest.raises(ValueError, match="not a vault error"):
        VaultError(REGISTRY[("tx", 1)])


# --- 3. tampering ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def multi() -> crypto.Sealed:
    return crypto.seal(RID, PATIENT, pattern(1000), data_key=KEY, salt=SALT, chunk_size=64)


def _open(chunks: Sequence[bytes], *, record_id: bytes = RID, patient: str = PATIENT,
          key: bytes = KEY, expected_hash: bytes | None = None,
          expected_commitment: bytes | None = None, sealed: crypto.Sealed) -> bytes:
    return crypto.open_sealed(
        record_id, patient, key, chunks,
        expected_hash=rfc9162.root_from_leaf_hashes([rfc9162.leaf_hash(c) for c in chunks])
        if expected_hash is None else expected_hash,
        expected_commitment=sealed.commitment if expected_commitment is None
        else expected_commitment, chunk_size=64)


def _flip(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1:]


def test_flipped_byte_in_any_chunk(multi: crypto.Sealed) -> None:
    for i, chunk in enumerate(multi.chunks):
        for at in (0, len(chunk) // 2, len(chunk) - 1):  # body and GCM tag
            chunks = list(multi.chunks)
            chunks[i] = _flip(chunk, at)
            with expect(errors.HASH_MISMATCH):  # against the registered root
                _open(chunks, expected_hash=multi.hash, sealed=multi)
            with expect(errors.CHUNK_AUTH_FAILED):  # even with a root that matches
                _open(chunks, sealed=multi)


def test_flipped_root_or_commitment(multi: crypto.Sealed) -> None:
    for at in (0, 31):
        with expect(errors.HASH_MISMATCH):
            _open(multi.chunks, expected_hash=_flip(multi.hash, at), sealed=multi)
        with expect(errors.COMMITMENT_MISMATCH):
            _open(multi.chunks, expected_commitment=_flip(multi.commitment, at), sealed=multi)
    assert _open(multi.chunks, expected_hash=multi.hash, sealed=multi) == pattern(1000)


def test_wrong_key_patient_or_record(multi: crypto.Sealed) -> None:
    for kwargs in ({"key": bytes(32)}, {"patient": PATIENT + "x"},
                   {"record_id": _flip(RID, 15)}):
        with expect(errors.CHUNK_AUTH_FAILED):
            _open(multi.chunks, expected_hash=multi.hash, sealed=multi, **kwargs)


def test_aad_binds_index_and_count(multi: crypto.Sealed) -> None:
    n = len(multi.chunks)
    assert crypto.open_chunk(RID, PATIENT, KEY, 3, n, multi.chunks[3]) == \
        (SALT + pattern(1000))[3 * 64:4 * 64]
    for index, count in ((2, n), (4, n), (3, n - 1), (3, n + 1)):
        with expect(errors.CHUNK_AUTH_FAILED):
            crypto.open_chunk(RID, PATIENT, KEY, index, count, multi.chunks[3])
    with expect(errors.BAD_LAYOUT):
        crypto.open_chunk(RID, PATIENT, KEY, n, n, multi.chunks[3])


def test_reordered_truncated_or_extended_chunks(multi: crypto.Sealed) -> None:
    swapped = list(multi.chunks)
    swapped[0], swapped[1] = swapped[1], swapped[0]
    with expect(errors.HASH_MISMATCH):
        _open(swapped, expected_hash=multi.hash, sealed=multi)
    with expect(errors.CHUNK_AUTH_FAILED):  # a root recomputed by the attacker
        _open(swapped, sealed=multi)
    truncated = multi.chunks[:-1]  # now ends on a full chunk: layout is plausible
    with expect(errors.HASH_MISMATCH):
        _open(truncated, expected_hash=multi.hash, sealed=multi)
    with expect(errors.CHUNK_AUTH_FAILED):  # count is in the AAD
        _open(truncated, sealed=multi)
    with expect(errors.BAD_LAYOUT):  # a short chunk in the middle
        _open([*multi.chunks, multi.chunks[0]], sealed=multi)
    with expect(errors.BAD_LAYOUT):
        _open([], sealed=multi)
    with expect(errors.BAD_LAYOUT):
        _open([multi.chunks[0] + b"x", *multi.chunks[1:]], sealed=multi)


def test_open_stream_tampering(multi: crypto.Sealed) -> None:
    def run(chunks: Sequence[bytes], leaves: Sequence[bytes] = multi.leaf_hashes,
            commitment: bytes = multi.commitment) -> None:
        crypto.open_stream(RID, PATIENT, KEY, chunks, io.BytesIO(), leaf_hashes=leaves,
                           expected_hash=multi.hash, expected_commitment=commitment,
                           chunk_size=64)

    run(multi.chunks)
    chunks = list(multi.chunks)
    chunks[5] = _flip(chunks[5], 3)
    with expect(errors.HASH_MISMATCH):
        run(chunks)
    with expect(errors.HASH_MISMATCH):  # leaves that are not the registered ones
        run(multi.chunks, leaves=[rfc9162.leaf_hash(c) for c in chunks])
    with expect(errors.BAD_LAYOUT):
        run(multi.chunks[:-1])
    with expect(errors.BAD_LAYOUT):
        run([*multi.chunks, multi.chunks[-1]])
    with expect(errors.COMMITMENT_MISMATCH):
        run(multi.chunks, commitment=bytes(32))


def test_commitment_catches_a_lying_author() -> None:
    sealed = crypto.seal(RID, PATIENT, b"real", data_key=KEY, salt=SALT)
    claimed = crypto.commitment(SALT, b"claimed")
    with expect(errors.COMMITMENT_MISMATCH):
        crypto.open_sealed(RID, PATIENT, KEY, sealed.chunks, expected_hash=sealed.hash,
                           expected_commitment=claimed)


# --- range reads --------------------------------------------------------------------------

def _parts(sealed: crypto.Sealed, indices: range) -> list[ChunkPart]:
    n = len(sealed.chunks)
    return [ChunkPart(i, sealed.chunks[i],
                      tuple(rfc9162.inclusion_proof(sealed.leaf_hashes, i, n)))
            for i in indices]


def _read(sealed: crypto.Sealed, start: int, length: int, parts: Sequence[ChunkPart] | None = None,
          chunk_size: int = 64) -> bytes:
    layout = sealed.meta.layout()
    if parts is None:
        parts = _parts(sealed, layout.covering(start, length))
    return crypto.read_range(RID, PATIENT, sealed.data_key, parts, start=start, length=length,
                             expected_hash=sealed.hash, count=len(sealed.chunks),
                             size=sealed.size, chunk_size=chunk_size)


def test_range_reads_everywhere(multi: crypto.Sealed) -> None:
    plaintext = pattern(1000)
    points = [0, 1, 31, 32, 33, 63, 64, 65, 95, 96, 97, 500, 990, 999, 1000]
    for start in points:
        for end in points:
            if start <= end:
                assert _read(multi, start, end - start) == plaintext[start:end], (start, end)


def test_range_refusals(multi: crypto.Sealed) -> None:
    layout = multi.meta.layout()
    covering = layout.covering(100, 100)  # plaintext 100..200 → framed 132..232: chunks 2..3
    assert covering == range(2, 4)
    good = _parts(multi, covering)
    bad_proof = [good[0], ChunkPart(3, good[1].data, (_flip(good[1].proof[0], 0),
                                                      *good[1].proof[1:]))]
    with expect(errors.BAD_PROOF):
        _read(multi, 100, 100, bad_proof)
    with expect(errors.BAD_PROOF):  # proof of another leaf
        _read(multi, 100, 100, [good[0], ChunkPart(3, good[1].data, good[0].proof)])
    with expect(errors.BAD_PROOF):  # altered chunk
        _read(multi, 100, 100, [good[0], ChunkPart(3, _flip(good[1].data, 9), good[1].proof)])
    with expect(errors.BAD_PROOF):  # truncated proof
        _read(multi, 100, 100, [good[0], ChunkPart(3, good[1].data, good[1].proof[:-1])])
    with expect(errors.BAD_RANGE):  # a chunk missing
        _read(multi, 100, 100, good[:1])
    with expect(errors.BAD_RANGE):  # reordered
        _read(multi, 100, 100, good[::-1])
    for start, length in ((-1, 5), (999, 2), (0, 1001), (1001, 0)):
        with expect(errors.BAD_RANGE):
            _read(multi, start, length, good)
    other = crypto.seal(RID, PATIENT, pattern(1000), data_key=bytes(32), salt=SALT,
                        chunk_size=64)
    with expect(errors.CHUNK_AUTH_FAILED):  # right proofs, wrong key
        crypto.read_range(RID, PATIENT, KEY, _parts(other, covering), start=100, length=100,
                          expected_hash=other.hash, count=len(other.chunks), size=other.size,
                          chunk_size=64)


def test_real_chunks_multi_mib_range_across_boundaries() -> None:
    length = 3 * CHUNK_SIZE + 12345
    plaintext = random.Random(7).randbytes(length)
    sealer = StreamSealer(RID, PATIENT, io.BytesIO(plaintext), length)
    chunks = list(sealer)
    meta = sealer.meta
    assert meta.chunks == 4 and [len(c) for c in chunks[:3]] == [CHUNK_SIZE + 16] * 3
    sealed = crypto.Sealed(RID, PATIENT, sealer.data_key, sealer.salt, chunks, meta.hash,
                           meta.size, meta.commitment, CHUNK_SIZE, sealer.leaf_hashes)
    boundary = CHUNK_SIZE - 32  # first plaintext byte of chunk 1
    for start, n in ((boundary - 10, 20), (0, length), (2 * CHUNK_SIZE - 40, CHUNK_SIZE + 50),
                     (length - 1, 1)):
        assert _read(sealed, start, n, chunk_size=CHUNK_SIZE) == plaintext[start:start + n]
    parts = _parts(sealed, range(0, 2))
    parts[1] = ChunkPart(1, parts[1].data, parts[0].proof)
    with expect(errors.BAD_PROOF):
        _read(sealed, boundary - 10, 20, parts, chunk_size=CHUNK_SIZE)
    assert crypto.open_sealed(RID, PATIENT, sealer.data_key, chunks, expected_hash=meta.hash,
                              expected_commitment=meta.commitment) == plaintext


# --- wrapping -----------------------------------------------------------------------------------

READER = keys.EncryptionKey(bytes(range(200, 232)))
READER_DID = "did:key:z6MkreaderREADERreader"


def test_wrap_round_trip_and_randomized() -> None:
    a = crypto.wrap_key(KEY, READER.public_key, RID, READER_DID)
    b = crypto.wrap_key(KEY, READER.public_key, RID, READER_DID)
    assert len(a) == crypto.WRAPPED_KEY_SIZE == 80 and a != b
    assert crypto.unwrap_key(a, READER, RID, READER_DID) == KEY
    assert crypto.unwrap_key(b, READER, RID, READER_DID) == KEY


def test_wrap_binds_record_reader_and_key() -> None:
    wrapped = crypto.wrap_key(KEY, READER.public_key, RID, READER_DID)
    with expect(errors.UNWRAP_FAILED):
        crypto.unwrap_key(wrapped, READER, _flip(RID, 0), READER_DID)
    with expect(errors.UNWRAP_FAILED):
        crypto.unwrap_key(wrapped, READER, RID, PATIENT)
    with expect(errors.UNWRAP_FAILED):
        crypto.unwrap_key(wrapped, keys.EncryptionKey(bytes(32)), RID, READER_DID)
    for at in range(len(wrapped)):
        with expect(errors.UNWRAP_FAILED):
            crypto.unwrap_key(_flip(wrapped, at), READER, RID, READER_DID)
    for bad in (wrapped[:-1], wrapped + b"\x00", b""):
        with expect(errors.MALFORMED_WRAPPED_KEY):
            crypto.unwrap_key(bad, READER, RID, READER_DID)


def test_wrap_refuses_bad_reader_keys() -> None:
    for bad in (bytes(32), (1).to_bytes(32, "little"), bytes(31), b"\xff" * 32):
        with expect(errors.BAD_READER_KEY):
            crypto.wrap_key(KEY, bad, RID, READER_DID)
    with expect(errors.INVALID_ARGUMENT):
        crypto.wrap_key(bytes(16), READER.public_key, RID, READER_DID)
    with expect(errors.INVALID_ARGUMENT):
        crypto.wrap_key(KEY, READER.public_key, RID, "")


if __name__ == "__main__":
    if "--force" not in sys.argv and (SEAL_VECTORS.exists() or WRAP_VECTORS.exists()):
        sys.exit("vectors exist: they are the contract; pass --force to overwrite")
    SEAL_VECTORS.write_text(json.dumps(make_seal_vectors(), indent=2) + "\n")
    WRAP_VECTORS.write_text(json.dumps(make_wrap_vectors(), indent=2) + "\n")
    sys.stdout.write(f"wrote {SEAL_VECTORS} and {WRAP_VECTORS}\n")
