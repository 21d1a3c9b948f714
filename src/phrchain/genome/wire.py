"""The custody upload body of a genomic object (``POST /v1/vault/genome``):
``u32 BE length ‖ JSON fields ‖ the crypt4gh segments back to back`` (every segment is
:data:`~phrchain.genome.crypt4gh.CIPHER_SEGMENT_SIZE` bytes but the last)."""

from __future__ import annotations

import json
import struct
from typing import Any, Final

from phrchain.genome import crypt4gh as c4

_LEN: Final = struct.Struct(">I")


def encode_upload(fields: dict[str, Any], segments: list[bytes]) -> bytes:
    head = json.dumps(fields, sort_keys=True).encode()
    return _LEN.pack(len(head)) + head + b"".join(segments)


def decode_upload(body: bytes) -> tuple[dict[str, Any], list[bytes]] | None:
    """``(fields, segments)``, or None when the body is not framed so."""
    if len(body) < 4:
        return None
    (n,) = _LEN.unpack_from(body)
    try:
        fields = json.loads(body[4:4 + n])
    except ValueError:
        return None
    if not isinstance(fields, dict):
        return None
    rest = memoryview(body)[4 + n:]
    step = c4.CIPHER_SEGMENT_SIZE
    return fields, [bytes(rest[i:i + step]) for i in range(0, len(rest), step)]
