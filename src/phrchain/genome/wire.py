"""The custody upload body of a genomic object (``POST /v1/vault/genome``):
``u32 BE length ‖ JSON fields ‖ the crypt4gh segments back to back`` (every segment is
:data:`~phrchain.genome.crypt4gh.CIPHER_SEGMENT_SIZE` bytes but the last).

Both ends stream it: the SDK sends the segments from a spooled file
(:func:`upload_prefix` then the file), the vault reads the fields and then cuts the
segments from the arriving body (:class:`UploadReader`), holding about one segment."""

from __future__ import annotations

import json
import struct
from collections.abc import Iterable, Iterator
from typing import Any, Final

from phrchain.genome import crypt4gh as c4

_LEN: Final = struct.Struct(">I")
MAX_FIELDS: Final = 64 << 20  # the JSON fields (packets, descriptor, region index)


def upload_prefix(fields: dict[str, Any]) -> bytes:
    """What precedes the segments: the fields' length and the fields."""
    head = json.dumps(fields, sort_keys=True).encode()
    return _LEN.pack(len(head)) + head


def encode_upload(fields: dict[str, Any], segments: list[bytes]) -> bytes:
    return upload_prefix(fields) + b"".join(segments)


def decode_upload(body: bytes) -> tuple[dict[str, Any], list[bytes]] | None:
    """``(fields, segments)``, or None when the body is not framed so."""
    reader = UploadReader(iter((body,)))
    fields = reader.fields()
    return None if fields is None else (fields, list(reader.segments()))


class UploadReader:
    """An upload body arriving in parts of any size: :meth:`fields` first, then
    :meth:`segments`, which ends once the parts are exhausted (so whatever checks the
    parts at their end — the signed body hash — has run before the last segment)."""

    def __init__(self, parts: Iterable[bytes]) -> None:
        self._parts: Iterator[bytes] = iter(parts)
        self._buf = bytearray()
        self._ended = False

    def _fill(self, n: int) -> bool:
        while len(self._buf) < n and not self._ended:
            try:
                self._buf += next(self._parts)
            except StopIteration:
                self._ended = True
        return len(self._buf) >= n

    def _take(self, n: int) -> bytes:
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def fields(self) -> dict[str, Any] | None:
        """The JSON fields, or None when the body is not framed so."""
        if not self._fill(4):
            return None
        (n,) = _LEN.unpack_from(self._buf)
        if n > MAX_FIELDS or not self._fill(4 + n):
            return None
        self._take(4)
        try:
            fields = json.loads(self._take(n))
        except ValueError:
            return None
        return fields if isinstance(fields, dict) else None

    def segments(self) -> Iterator[bytes]:
        step = c4.CIPHER_SEGMENT_SIZE
        while self._fill(step + 1):  # more than a segment: this one is not the last
            yield self._take(step)
        while self._buf:
            yield self._take(step)
