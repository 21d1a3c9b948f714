"""Sealed record descriptors (vault/descriptor.py): fixed vectors, a naive reference for
the plaintext and commitment, and systematic tampering, each refused with a stable code."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phrchain.vault import errors
from phrchain.vault.descriptor import (
    PADDED_SIZE,
    SEALED_SIZE,
    Descriptor,
    descriptor_key,
    open_descriptor,
    seal_descriptor,
)
from phrchain.vault.errors import VaultError

VECTORS = sorted((Path(__file__).parents[1] / "vectors" / "descriptor").glob("*.json"))
AUTHOR = "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"
KEY, RID = bytes(range(32)), bytes(range(100, 116))


def _descriptor(**kw: Any) -> Descriptor:
    fields = {"record": RID.hex(), "resource": "Condition", "category": "condition",
              "author": AUTHOR, "size": 700, "chunks": 1, "salt": "11" * 16, **kw}
    return Descriptor.new(**fields)


def test_there_are_vectors() -> None:
    assert len(VECTORS) >= 2


@pytest.mark.parametrize("path", VECTORS, ids=[p.stem for p in VECTORS])
def test_vector(path: Path) -> None:
    case = json.loads(path.read_text())
    assert case["description"] and case["source"]
    given, want = case["input"], case["expected"]
    d = given["descriptor"]
    descriptor = Descriptor(d["record"], d["resource"], d["category"], d["author"],
                            d["size"], d["chunks"], d["salt"])
    key, rid = bytes.fromhex(given["data_key"]), bytes.fromhex(given["record_id"])
    assert descriptor.plaintext().hex() == want["plaintext"]
    assert descriptor_key(key, rid).hex() == want["descriptor_key"]
    assert seal_descriptor(descriptor, key).hex() == want["sealed"]
    assert descriptor.commitment().hex() == want["commitment"]
    opened = open_descriptor(bytes.fromhex(want["sealed"]), key, rid,
                             bytes.fromhex(want["commitment"]))
    assert opened == descriptor


def test_naive_reference_of_plaintext_padding_and_commitment() -> None:
    """Independent of the module: sorted compact JSON, zero padding to 512 bytes,
    SHA-256 over tag || 0x00 || plaintext, AES-GCM under the derived key."""
    d = _descriptor()
    plaintext = json.dumps({"v": 1, **{k: getattr(d, k) for k in (
        "record", "resource", "category", "author", "size", "chunks", "salt")}},
        sort_keys=True, separators=(",", ":")).encode()
    assert d.plaintext() == plaintext
    assert d.commitment() == hashlib.sha256(
        b"phrchain/record/descriptor/v1\x00" + plaintext).digest()
    sealed = seal_descriptor(d, KEY)
    assert len(sealed) == SEALED_SIZE == PADDED_SIZE + 16
    padded = AESGCM(descriptor_key(KEY, RID)).decrypt(bytes(12), sealed, RID)
    assert padded == plaintext + bytes(PADDED_SIZE - len(plaintext))


def test_a_fresh_salt_hides_equal_descriptors() -> None:
    a = Descriptor.new(RID.hex(), "Condition", "condition", AUTHOR, 700, 1)
    b = Descriptor.new(RID.hex(), "Condition", "condition", AUTHOR, 700, 1)
    assert a.salt != b.salt and a.commitment() != b.commitment()
    assert len(seal_descriptor(a, KEY)) == len(seal_descriptor(
        Descriptor.new(RID.hex(), "DiagnosticReport", "diagnostic-report", AUTHOR,
                       5 << 20, 6), KEY))   # every sealed descriptor is the same length


def _sealed() -> tuple[Descriptor, bytes]:
    d = _descriptor()
    return d, seal_descriptor(d, KEY)


def _flip(data: bytes, i: int) -> bytes:
    return data[:i] + bytes([data[i] ^ 1]) + data[i + 1:]


@pytest.mark.parametrize(("name", "tamper", "code"), [
    ("wrong commitment", lambda d, s: (s, KEY, RID, _flip(d.commitment(), 0)),
     errors.DESCRIPTOR_INVALID),
    ("another record's commitment", lambda d, s: (s, KEY, RID,
                                                  _descriptor(size=701).commitment()),
     errors.DESCRIPTOR_INVALID),
    ("wrong record id", lambda d, s: (s, KEY, _flip(RID, 15), d.commitment()),
     errors.DESCRIPTOR_INVALID),
    ("wrong data key", lambda d, s: (s, _flip(KEY, 0), RID, d.commitment()),
     errors.DESCRIPTOR_INVALID),
    ("truncated", lambda d, s: (s[:-1], KEY, RID, d.commitment()),
     errors.DESCRIPTOR_INVALID),
    ("tag cut off", lambda d, s: (s[:PADDED_SIZE], KEY, RID, d.commitment()),
     errors.DESCRIPTOR_INVALID),
    ("trailing garbage", lambda d, s: (s + b"\0", KEY, RID, d.commitment()),
     errors.DESCRIPTOR_INVALID),
    ("empty", lambda d, s: (b"", KEY, RID, d.commitment()), errors.DESCRIPTOR_INVALID),
    ("flipped ciphertext bit", lambda d, s: (_flip(s, 3), KEY, RID, d.commitment()),
     errors.DESCRIPTOR_INVALID),
    ("flipped padding bit", lambda d, s: (_flip(s, 500), KEY, RID, d.commitment()),
     errors.DESCRIPTOR_INVALID),
    ("flipped tag bit", lambda d, s: (_flip(s, SEALED_SIZE - 1), KEY, RID, d.commitment()),
     errors.DESCRIPTOR_INVALID),
])
def test_tampering_is_refused_with_a_stable_code(name: str, tamper: Any, code: Any) -> None:
    d, sealed = _sealed()
    with pytest.raises(VaultError) as refused:
        open_descriptor(*tamper(d, sealed))
    assert refused.value.error is code, name


def test_a_descriptor_of_another_record_sealed_under_this_id_is_refused() -> None:
    """A custodian cannot pass off another record's descriptor: the record field must be
    the record's own id even when key, AAD and commitment were made to match."""
    other = _descriptor(record="ab" * 16)
    padded = other.plaintext().ljust(PADDED_SIZE, b"\0")
    sealed = AESGCM(descriptor_key(KEY, RID)).encrypt(bytes(12), padded, RID)
    with pytest.raises(VaultError) as refused:
        open_descriptor(sealed, KEY, RID, other.commitment())
    assert refused.value.error is errors.DESCRIPTOR_INVALID


def test_non_descriptor_plaintext_under_a_matching_commitment_is_refused() -> None:
    from phrchain.vault.descriptor import commitment_of

    junk = b'{"v":2}'
    sealed = AESGCM(descriptor_key(KEY, RID)).encrypt(
        bytes(12), junk.ljust(PADDED_SIZE, b"\0"), RID)
    with pytest.raises(VaultError) as refused:
        open_descriptor(sealed, KEY, RID, commitment_of(junk))
    assert refused.value.error is errors.DESCRIPTOR_INVALID


@pytest.mark.parametrize("bad", [
    {"resource": "observation"}, {"category": "secret"}, {"size": 0}, {"chunks": 0},
    {"salt": "zz" * 16}, {"salt": "11"}, {"record": "AB" * 16}, {"author": ""},
    {"author": "d" * 600}, {"size": 1.5},
])
def test_malformed_fields_are_invalid_arguments(bad: dict[str, Any]) -> None:
    with pytest.raises(VaultError) as refused:
        _descriptor(**bad)
    assert refused.value.error is errors.INVALID_ARGUMENT
