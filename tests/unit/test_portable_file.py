"""The portable record's container (``client/portable_file.py``): what is sealed opens
to the same payload, and every structural fault is refused with a clear error. Whether
the content is true is checked in ``tests/integration/test_portable.py``."""

from __future__ import annotations

import dataclasses

import pytest

from phrchain.client.portable_file import (
    CarriedRecord,
    Payload,
    PortableError,
    open_bytes,
    read,
    seal,
    split_chunks,
    write,
)
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.core import encoding
from phrchain.vault import crypto

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)
PASSPHRASE = "container passphrase"


def fixed(n: int) -> bytes:
    return bytes([n]) * 32


def payload() -> Payload:
    wallet = Wallet.from_secrets(fixed(1), fixed(2), "patient")
    sealed = [crypto.seal(bytes([i]) * 16, wallet.did, b"x" * (100 * i), chunk_size=64)
              for i in (1, 2)]
    records = tuple(CarriedRecord(s.record_id.hex(), {"height": 5}, s.leaf_hashes,
                                  bytes(80), b"".join(s.chunks)) for s in sealed)
    return Payload(wallet, {"engine": "solo", "chain_id": "c", "validator": "v"}, 5,
                   {"header": {}, "signature": ""}, {"height": 5}, records, (),
                   ({"consent": "ab" * 16, "proof": {}},), {"height": 5}, 1234)


def sealed_bytes(p: Payload | None = None) -> bytes:
    return seal(p or payload(), PASSPHRASE, FAST, lambda n: bytes(range(n)))


def test_round_trip_and_a_new_private_file(tmp_path) -> None:  # type: ignore[no-untyped-def]
    original = payload()
    path = tmp_path / "p.phr"
    write(path, sealed_bytes(original))
    assert path.stat().st_mode & 0o777 == 0o600
    assert read(path, PASSPHRASE) == original
    with pytest.raises(PortableError, match="already exists"):
        write(path, b"")
    header = encoding.decode(path.read_bytes().split(b"\n", 1)[0])
    assert set(header) == {"format", "version", "kdf", "cipher"}  # nothing about the patient


def test_chunks_split_by_the_descriptor_layout() -> None:
    s = crypto.seal(bytes(16), "did:key:x", b"y" * (3 << 20))
    assert split_chunks(b"".join(s.chunks), s.size, len(s.chunks)) == s.chunks


@pytest.mark.parametrize(("mangle", "message"), [
    (lambda b: b"{" * 5000 + b, "no header line"),
    (lambda b: b.replace(b'"version":1', b'"version":2', 1), "unsupported portable record"),
    (lambda b: b.replace(b"phrchain-portable", b"phrchain-wallet", 1), "is not a phrchain"),
    (lambda b: b.replace(b'"iterations":1', b'"iterations":99', 1), "iterations=99 is outside"),
    (lambda b: b[:-1], "wrong passphrase or corrupted portable record"),
    (lambda b: b + b"\0", "wrong passphrase or corrupted portable record"),
    (lambda b: b" " + b, "not canonical JSON"),
])
def test_a_damaged_file_is_refused(mangle, message) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PortableError, match=message):
        open_bytes(mangle(sealed_bytes()), PASSPHRASE)


def test_a_payload_whose_records_do_not_fill_the_ciphertext_section_is_refused() -> None:
    p = payload()
    data = bytearray(p.to_bytes())
    with pytest.raises(PortableError, match="trailing bytes"):
        Payload.from_bytes(bytes(data) + b"\0")
    with pytest.raises(PortableError, match="outside the ciphertext section"):
        Payload.from_bytes(bytes(data[:-1]))
    short = dataclasses.replace(p, records=(dataclasses.replace(p.records[0],
                                                                record="AB" * 16),))
    with pytest.raises(PortableError, match="malformed payload"):
        Payload.from_bytes(short.to_bytes())
    with pytest.raises(PortableError, match="bad manifest length"):
        Payload.from_bytes(b"\xff" * 8 + bytes(data[8:]))


def _with_manifest(p: Payload, change) -> bytes:  # type: ignore[no-untyped-def]
    """The payload's bytes with its manifest changed by ``change`` (a dict edit)."""
    data = p.to_bytes()
    size = int.from_bytes(data[:8], "big")
    manifest = encoding.decode(data[8:8 + size])
    change(manifest)
    encoded = encoding.encode(manifest)
    return len(encoded).to_bytes(8, "big") + encoded + data[8 + size:]


def test_the_pseudonym_root_and_map_travel_and_old_files_still_open() -> None:
    """Issue 14: the file carries the wallet's root and map (docs/portable.md)."""
    patient = Wallet.create("patient")
    counterpart = Wallet.create().did
    patient.remember(counterpart, "custodian", registered_height=3)
    original = dataclasses.replace(payload(), wallet=dataclasses.replace(
        payload().wallet, root=patient.root, pseudonym_map=dict(patient.pseudonym_map)))
    opened = open_bytes(sealed_bytes(original), PASSPHRASE)
    assert opened.wallet.root == patient.root
    assert opened.wallet.pseudonyms() == patient.pseudonyms()
    assert opened.wallet.pseudonym(counterpart, "custodian") == \
        patient.pseudonym(counterpart, "custodian")

    def legacy(m):  # type: ignore[no-untyped-def]
        del m["patient"]["root"], m["patient"]["pseudonyms"]

    old = Payload.from_bytes(_with_manifest(original, legacy))
    assert old.wallet.root == Wallet.from_secrets(fixed(1), fixed(2)).root  # legacy rule
    assert old.wallet.pseudonyms() == []

    def foreign(m):  # type: ignore[no-untyped-def]
        m["patient"]["root"] = "00" * 32  # the map no longer derives from the root

    with pytest.raises(PortableError, match="not derived from this root"):
        Payload.from_bytes(_with_manifest(original, foreign))

    def extra(m):  # type: ignore[no-untyped-def]
        m["patient"]["nickname"] = "x"

    with pytest.raises(PortableError, match="patient has fields"):
        Payload.from_bytes(_with_manifest(original, extra))
