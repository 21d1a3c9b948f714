"""ABCI socket framing (CometBFT v0.38): each message is its protobuf bytes preceded by
their length as an unsigned varint (protobuf's ``uint64`` varint, not zig-zag)."""

from __future__ import annotations

from typing import Final

# CometBFT refuses larger ABCI messages too (maxMsgSize in abci/types/messages.go).
MAX_MESSAGE_BYTES: Final = 104_857_600


class FramingError(ValueError):
    """The peer sent a length prefix that is malformed or too large."""


def encode_uvarint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def frame(payload: bytes) -> bytes:
    return encode_uvarint(len(payload)) + payload


def next_frame(buf: bytes | bytearray, pos: int) -> tuple[bytes, int] | None:
    """The payload of the frame starting at ``pos`` and the position after it, or ``None``
    if ``buf`` does not hold the whole frame yet."""
    length = shift = 0
    i = pos
    while True:
        if i >= len(buf):
            return None
        byte = buf[i]
        i += 1
        length |= (byte & 0x7F) << shift
        if not byte & 0x80:
            break
        shift += 7
        if shift > 63:
            raise FramingError("length prefix longer than 10 bytes")
    if length > MAX_MESSAGE_BYTES:
        raise FramingError(f"message of {length} bytes exceeds {MAX_MESSAGE_BYTES}")
    end = i + length
    if end > len(buf):
        return None
    return bytes(buf[i:end]), end
