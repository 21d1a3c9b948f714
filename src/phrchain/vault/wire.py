"""The vault's upload framing (shared by the gateway and the SDK, nothing else).

An upload body is a 4-byte big-endian header length, the header as canonical JSON
``{"meta": {record, patient, hash, size, chunks, commitment}, "keys": {reader DID:
wrapped key hex}, ["descriptor": sealed descriptor hex], ["register": records/register
message]}``, then the ciphertext chunks back to back (their sizes follow from ``size``
and ``chunks``, the exact ciphertext size and chunk count, known off chain only). A
batch is several upload bodies, each prefixed by its length. ``descriptor`` is the
record's sealed descriptor (``vault/descriptor.py``, 528 bytes); ``register`` is the
message the custodian's vault registers the record with, signed by the institution
(staff uploads; ``docs/records.md`` "Registration by the vault").

The key routes carry canonical JSON: ``{"records": [record hex, …]}`` asks for the
caller's own wrapped keys; ``{"keys": [[record hex, reader DID, wrapped key hex], …]}``
adds readers' keys. Either holds at most :data:`MAX_KEY_ITEMS` items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.errors import EncodingError
from phrchain.vault import gateway_errors as e
from phrchain.vault.crypto import HASH_ALGS, SHA256, Layout, RecordMeta

MAX_KEY_ITEMS: Final = 4096  # records (or record-reader pairs) per key request


@dataclass(frozen=True, slots=True)
class Upload:
    """One decoded upload: the record's meta, readers' wrapped keys, the ciphertext
    chunks, its sealed descriptor and (custody uploads by staff) its register message."""

    meta: RecordMeta
    wrapped: dict[str, bytes]
    chunks: list[bytes] = field(repr=False)
    descriptor: bytes | None = None
    register: dict[str, Any] | None = None


def encode_upload(meta: RecordMeta, wrapped_keys: dict[str, bytes], chunks: list[bytes],
                  descriptor: bytes | None = None,
                  register: dict[str, Any] | None = None) -> bytes:
    fields: dict[str, Any] = {"meta": meta.descriptor_fields(),
                              "keys": {r: w.hex() for r, w in sorted(wrapped_keys.items())}}
    if meta.hash_alg != SHA256:  # absent: SHA-256, as every upload before the choice
        fields["meta"]["hash_alg"] = meta.hash_alg
    if descriptor is not None:
        fields["descriptor"] = descriptor.hex()
    if register is not None:
        fields["register"] = dict(register)
    header = encoding.encode(fields)
    return len(header).to_bytes(4, "big") + header + b"".join(chunks)


def decode_upload(body: bytes) -> Upload:
    try:
        n = int.from_bytes(body[:4], "big")
        header = encoding.decode(body[4:4 + n])
        if set(header) - {"meta", "keys", "descriptor", "register"}:
            raise KeyError("unknown field")
        m, keys_ = header["meta"], header["keys"]
        hash_alg = m.get("hash_alg", SHA256)
        if hash_alg not in HASH_ALGS:
            raise ValueError("hash_alg")
        meta = RecordMeta(bytes.fromhex(m["record"]), m["patient"], bytes.fromhex(m["hash"]),
                          int(m["size"]), int(m["chunks"]), bytes.fromhex(m["commitment"]),
                          hash_alg=hash_alg)
        wrapped = {str(r): bytes.fromhex(w) for r, w in keys_.items()}
        descriptor = bytes.fromhex(header["descriptor"]) if "descriptor" in header else None
        register = header.get("register")
        if register is not None and not isinstance(register, dict):
            raise TypeError("register")
        layout = Layout.of_record(meta.size, meta.chunks)
    except (EncodingError, KeyError, TypeError, ValueError, AttributeError) as exc:
        raise e.MALFORMED_REQUEST(f"upload body: {type(exc).__name__}") from None
    data = memoryview(body)[4 + n:]
    if len(data) != meta.size:
        raise e.MALFORMED_REQUEST(f"upload carries {len(data)} ciphertext bytes, meta says "
                                  f"{meta.size}")
    chunks, offset = [], 0
    for i in range(meta.chunks):
        length = layout.plain_len(i) + 16
        chunks.append(bytes(data[offset:offset + length]))
        offset += length
    return Upload(meta, wrapped, chunks, descriptor, register)


def encode_batch(frames: list[bytes]) -> bytes:
    """Several upload bodies in one: each prefixed by its 4-byte big-endian length."""
    return b"".join(len(f).to_bytes(4, "big") + f for f in frames)


def decode_batch(body: bytes) -> list[Upload]:
    out, offset = [], 0
    while offset < len(body):
        n = int.from_bytes(body[offset:offset + 4], "big")
        if n < 4 or offset + 4 + n > len(body):
            raise e.MALFORMED_REQUEST("batch frame length runs past the body")
        out.append(decode_upload(body[offset + 4:offset + 4 + n]))
        offset += 4 + n
    return out


def encode_records(records: Sequence[str]) -> bytes:
    return encoding.encode({"records": list(records)})


def decode_records(body: bytes) -> list[str]:
    try:
        records = encoding.decode(body)["records"]
        if not isinstance(records, list) or not all(isinstance(r, str) for r in records):
            raise TypeError("records")
    except (EncodingError, KeyError, TypeError) as exc:
        raise e.MALFORMED_REQUEST(f"key request body: {type(exc).__name__}") from None
    _check_count(len(records))
    return records


def encode_keys(items: Sequence[tuple[str, str, bytes]]) -> bytes:
    return encoding.encode({"keys": [[record, reader, wrapped.hex()]
                                     for record, reader, wrapped in items]})


def decode_keys(body: bytes) -> list[tuple[str, str, bytes]]:
    try:
        items = []
        for item in encoding.decode(body)["keys"]:
            record, reader, wrapped = item
            if not all(isinstance(x, str) for x in item):
                raise TypeError("key item")
            items.append((record, reader, bytes.fromhex(wrapped)))
    except (EncodingError, KeyError, TypeError, ValueError) as exc:
        raise e.MALFORMED_REQUEST(f"key batch body: {type(exc).__name__}") from None
    _check_count(len(items))
    return items


def _check_count(n: int) -> None:
    if not 0 < n <= MAX_KEY_ITEMS:
        raise e.MALFORMED_REQUEST(f"a key request names 1..{MAX_KEY_ITEMS} items, not {n}")
