"""The canonical-JSON get and put that every keeper repeats, in one place.

Values a keeper writes are built by phrchain from fields that already passed canonical
decoding and message checks, so :func:`json_put` uses ``encoding.encode_trusted`` (the
type walk of ``encoding.encode`` would only repeat that work); the bytes are the same.
"""

from __future__ import annotations

from typing import Any

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader


def json_get(state: Reader, key: bytes) -> Any:
    """The decoded value at ``key``, or None if there is none. Callers annotate the
    result with the module's state type (``found: Consent | None = json_get(...)``)."""
    raw = state.get(key)
    return None if raw is None else encoding.decode(raw)


def json_put(state: Overlay, key: bytes, value: object) -> None:
    """Store ``value``'s canonical JSON at ``key``."""
    state.set(key, encoding.encode_trusted(value))
