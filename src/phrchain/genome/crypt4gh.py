"""GA4GH crypt4gh, version 1 (the GA4GH "File Encryption Standard"), with pyca/cryptography.

Layout (spec §3, all integers little-endian)::

    header   = "crypt4gh" ‖ version u32 (1) ‖ packet count u32 ‖ packet…
    packet   = packet length u32 (itself included) ‖ header encryption method u32 (0)
               ‖ writer public key (32) ‖ nonce (12) ‖ ChaCha20-Poly1305(payload) ‖ MAC (16)
    payload  = packet type u32: 0 data encryption parameters ‖ data method u32 (0) ‖ key (32)
                               1 data edit list (refused here, see below)
    segment  = nonce (12) ‖ ChaCha20-Poly1305(key, nonce, ≤ 64 KiB of plaintext) ‖ MAC (16)

The packet key (spec §3.2.1, X25519 with the libsodium key-exchange derivation):
``BLAKE2b-512(X25519(sk, pk) ‖ reader public key ‖ writer public key)``, first 32 bytes;
writer and reader arrive at the same bytes from their own secret key. A header holds one
data-key packet per reader, so granting a reader adds a packet and revoking one drops
it: the data segments are never touched. Edit lists (packet type 1) are refused with
``unsupported_method``: phrchain never writes them and serves ranges with proofs instead.
"""

from __future__ import annotations

import hashlib
import os
import struct
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import BinaryIO, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from phrchain.core.rfc9162 import LEAF_PREFIX
from phrchain.genome import errors

MAGIC: Final = b"crypt4gh"
VERSION: Final = 1
X25519_CHACHA20_IETF_POLY1305: Final = 0  # header encryption method (§3.2)
CHACHA20_IETF_POLY1305: Final = 0  # data encryption method (§3.3)
PACKET_DATA_ENC: Final = 0
PACKET_EDIT_LIST: Final = 1
SEGMENT_SIZE: Final = 1 << 16  # plaintext bytes per segment (§3.4)
NONCE_SIZE: Final = 12
MAC_SIZE: Final = 16
KEY_SIZE: Final = 32
CIPHER_SEGMENT_SIZE: Final = NONCE_SIZE + SEGMENT_SIZE + MAC_SIZE
MAX_PACKETS: Final = 1024  # a header with more readers than this is refused
MAX_PACKET_SIZE: Final = 1 << 16
_PREFIX: Final = struct.Struct("<8sII")
_U32: Final = struct.Struct("<I")


def public_key_of(secret: bytes) -> bytes:
    return X25519PrivateKey.from_private_bytes(_key32(secret, "secret")).public_key() \
        .public_bytes_raw()


def _key32(key: bytes, what: str) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise errors.BAD_PUBLIC_KEY(f"a {what} key is {KEY_SIZE} bytes")
    return key


def packet_key(secret: bytes, peer_public: bytes, *, reader_public: bytes,
               writer_public: bytes) -> bytes:
    """The shared ChaCha20-Poly1305 key of a header packet (§3.2.1)."""
    try:
        point = X25519PrivateKey.from_private_bytes(_key32(secret, "secret")).exchange(
            X25519PublicKey.from_public_bytes(_key32(peer_public, "public")))
    except ValueError:  # a low-order point: the shared secret would be all zeros
        raise errors.BAD_PUBLIC_KEY("the X25519 exchange gives no shared secret") from None
    return hashlib.blake2b(point + reader_public + writer_public).digest()[:KEY_SIZE]


def seal_packet(payload: bytes, reader_public: bytes, *, writer_secret: bytes | None = None,
                nonce: bytes | None = None) -> bytes:
    """One encrypted header packet of ``payload`` for ``reader_public``; the writer key is
    a fresh one unless given (the spec allows either; a fresh key links no two files)."""
    writer_secret = os.urandom(KEY_SIZE) if writer_secret is None else writer_secret
    writer_public = public_key_of(writer_secret)
    key = packet_key(writer_secret, reader_public, reader_public=reader_public,
                     writer_public=writer_public)
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    body = _U32.pack(X25519_CHACHA20_IETF_POLY1305) + writer_public + nonce \
        + ChaCha20Poly1305(key).encrypt(nonce, payload, None)
    return _U32.pack(4 + len(body)) + body


def open_packet(packet: bytes, reader_secret: bytes) -> bytes | None:
    """The payload of a packet meant for ``reader_secret``, None if it is someone else's."""
    if len(packet) < 4 + 4 + KEY_SIZE + NONCE_SIZE + MAC_SIZE:
        raise errors.MALFORMED_HEADER(f"a packet of {len(packet)} bytes is too short")
    (method,) = _U32.unpack_from(packet, 4)
    if method != X25519_CHACHA20_IETF_POLY1305:
        return None  # another method: not readable by us, may be someone else's
    writer_public = packet[8:40]
    nonce = packet[40:52]
    reader_public = public_key_of(reader_secret)
    try:
        key = packet_key(reader_secret, writer_public, reader_public=reader_public,
                         writer_public=writer_public)
        return ChaCha20Poly1305(key).decrypt(nonce, packet[52:], None)
    except (InvalidTag, errors.GenomeError):
        return None


def data_key_payload(data_key: bytes) -> bytes:
    return _U32.pack(PACKET_DATA_ENC) + _U32.pack(CHACHA20_IETF_POLY1305) \
        + _key32(data_key, "data")


def _data_key_of(payload: bytes, index: int) -> bytes:
    if len(payload) < 4:
        raise errors.MALFORMED_HEADER(f"packet {index}: payload too short")
    (kind,) = _U32.unpack_from(payload, 0)
    if kind == PACKET_EDIT_LIST:
        raise errors.UNSUPPORTED_METHOD(f"packet {index}: a data edit list")
    if kind != PACKET_DATA_ENC:
        raise errors.UNSUPPORTED_METHOD(f"packet {index}: packet type {kind}")
    if len(payload) != 8 + KEY_SIZE:
        raise errors.MALFORMED_HEADER(f"packet {index}: data encryption parameters of "
                                      f"{len(payload)} bytes")
    (method,) = _U32.unpack_from(payload, 4)
    if method != CHACHA20_IETF_POLY1305:
        raise errors.UNSUPPORTED_METHOD(f"packet {index}: data encryption method {method}")
    return payload[8:]


@dataclass(frozen=True, slots=True)
class Header:
    """A parsed header: its packets (each whole, length prefix included)."""

    packets: tuple[bytes, ...]

    def to_bytes(self) -> bytes:
        return build_header(self.packets)

    def data_keys(self, reader_secret: bytes) -> list[bytes]:
        """The data keys in the packets this reader opens; ``no_readable_packet`` if none."""
        keys = []
        for index, packet in enumerate(self.packets):
            payload = open_packet(packet, reader_secret)
            if payload is not None:
                keys.append(_data_key_of(payload, index))
        if not keys:
            raise errors.NO_READABLE_PACKET(f"{len(self.packets)} packet(s)")
        return keys


def build_header(packets: Sequence[bytes]) -> bytes:
    if not 0 < len(packets) <= MAX_PACKETS:
        raise errors.MALFORMED_HEADER(f"a header has 1 to {MAX_PACKETS} packets")
    return _PREFIX.pack(MAGIC, VERSION, len(packets)) + b"".join(packets)


def new_header(data_key: bytes, readers: Iterable[bytes]) -> bytes:
    """A header with one data-key packet per reader public key."""
    return build_header([seal_packet(data_key_payload(data_key), pk) for pk in readers])


def read_header(source: BinaryIO) -> Header:
    """Read a header from the start of ``source``, leaving it at the first segment."""
    prefix = source.read(_PREFIX.size)
    if len(prefix) != _PREFIX.size:
        raise errors.NOT_CRYPT4GH("shorter than a header")
    magic, version, count = _PREFIX.unpack(prefix)
    if magic != MAGIC:
        raise errors.NOT_CRYPT4GH("no crypt4gh magic")
    if version != VERSION:
        raise errors.NOT_CRYPT4GH(f"version {version}")
    if not 0 < count <= MAX_PACKETS:
        raise errors.MALFORMED_HEADER(f"{count} packets")
    packets = []
    for index in range(count):
        raw = source.read(4)
        if len(raw) != 4:
            raise errors.MALFORMED_HEADER(f"packet {index}: truncated")
        (length,) = _U32.unpack(raw)
        if not 4 + 4 + KEY_SIZE + NONCE_SIZE + MAC_SIZE <= length <= MAX_PACKET_SIZE:
            raise errors.MALFORMED_HEADER(f"packet {index}: length {length}")
        rest = source.read(length - 4)
        if len(rest) != length - 4:
            raise errors.MALFORMED_HEADER(f"packet {index}: truncated")
        packets.append(raw + rest)
    return Header(tuple(packets))


def parse_header(data: bytes) -> tuple[Header, int]:
    """A header at the start of ``data`` and its length in bytes."""
    import io

    stream = io.BytesIO(data)
    header = read_header(stream)
    return header, stream.tell()


def reencrypt_header(header: Header, reader_secret: bytes,
                     new_readers: Iterable[bytes], *, keep: bool = True) -> Header:
    """Grant: a header that also (or, ``keep=False``, only) carries the data keys this
    reader opens, for each of ``new_readers``. The segments stay as they are."""
    keys = header.data_keys(reader_secret)
    added = [seal_packet(data_key_payload(k), pk) for pk in new_readers for k in keys]
    return Header((header.packets if keep else ()) + tuple(added))


def encrypt_segment(data_key: bytes, plaintext: bytes, nonce: bytes | None = None) -> bytes:
    nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
    return nonce + ChaCha20Poly1305(data_key).encrypt(nonce, plaintext, None)


class SegmentCipher:
    """The data segments of one object, encrypted a batch at a time into one buffer:
    segment ``k`` at ``k * CIPHER_SEGMENT_SIZE``, each ``nonce ‖ ciphertext ‖ MAC`` as
    :func:`encrypt_segment` makes it, with no copy of the ciphertext."""

    def __init__(self, data_key: bytes) -> None:
        self.aead = ChaCha20Poly1305(_key32(data_key, "data"))

    def encrypt_batch(self, plaintext: bytes, out: memoryview | None = None
                      ) -> tuple[memoryview, list[bytes]]:
        """``plaintext`` cut into segments (all whole but the last), encrypted with a
        fresh nonce each, drawn in order, into ``out`` (at least ``cipher_size`` bytes;
        a new buffer if None); and each one's RFC 9162 leaf hash."""
        size = cipher_size(len(plaintext))
        if out is not None and len(out) < size:
            raise ValueError(f"{size} bytes do not fit in {len(out)}")
        view = memoryview(bytearray(size)) if out is None \
            else out if len(out) == size else out[:size]
        plain = memoryview(plaintext)
        leaves = []
        for at in range(0, len(plaintext), SEGMENT_SIZE):
            piece = plain[at:at + SEGMENT_SIZE]
            start = at // SEGMENT_SIZE * CIPHER_SEGMENT_SIZE
            end = start + NONCE_SIZE + len(piece) + MAC_SIZE
            nonce = os.urandom(NONCE_SIZE)
            view[start:start + NONCE_SIZE] = nonce
            self.aead.encrypt_into(nonce, piece, None, view[start + NONCE_SIZE:end])
            leaf = hashlib.sha256(LEAF_PREFIX)  # rfc9162.leaf_hash, without a copy
            leaf.update(view[start:end])
            leaves.append(leaf.digest())
        return view, leaves


def decrypt_segment(data_keys: Sequence[bytes], segment: bytes, index: int = 0) -> bytes:
    if len(segment) < NONCE_SIZE + MAC_SIZE or len(segment) > CIPHER_SEGMENT_SIZE:
        raise errors.TRUNCATED(f"segment {index}: {len(segment)} bytes")
    for key in data_keys:
        try:
            return ChaCha20Poly1305(key).decrypt(segment[:NONCE_SIZE], segment[NONCE_SIZE:],
                                                 None)
        except InvalidTag:
            continue
    raise errors.SEGMENT_AUTH_FAILED(f"segment {index}")


def segment_count(plain_size: int) -> int:
    """Segments of a plaintext of ``plain_size`` bytes (an empty one has none)."""
    return -(-plain_size // SEGMENT_SIZE)


def cipher_size(plain_size: int) -> int:
    return plain_size + (NONCE_SIZE + MAC_SIZE) * segment_count(plain_size)


def iter_segments(source: BinaryIO) -> Iterator[bytes]:
    """The encrypted segments after a header, as read (the last may be shorter)."""
    while True:
        segment = source.read(CIPHER_SEGMENT_SIZE)
        if not segment:
            return
        yield segment


def encrypt_stream(source: BinaryIO, sink: BinaryIO, readers: Sequence[bytes],
                   data_key: bytes | None = None) -> int:
    """Encrypt ``source`` for ``readers`` (X25519 public keys) into a crypt4gh file in
    ``sink``; returns the plaintext bytes read."""
    if not readers:
        raise errors.BAD_PUBLIC_KEY("at least one reader public key")
    data_key = os.urandom(KEY_SIZE) if data_key is None else _key32(data_key, "data")
    sink.write(new_header(data_key, readers))
    total = 0
    while chunk := source.read(SEGMENT_SIZE):
        total += len(chunk)
        sink.write(encrypt_segment(data_key, chunk))
    return total


def decrypt_stream(source: BinaryIO, sink: BinaryIO, reader_secret: bytes) -> int:
    """Decrypt a crypt4gh file for ``reader_secret``; returns the plaintext bytes written.
    A segment that does not authenticate stops it (the caller discards the sink)."""
    keys = read_header(source).data_keys(reader_secret)
    total = 0
    for index, segment in enumerate(iter_segments(source)):
        plain = decrypt_segment(keys, segment, index)
        sink.write(plain)
        total += len(plain)
    return total
