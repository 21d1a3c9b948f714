"""The one canonical encoding for everything phrchain signs or hashes.

phrchain canonical JSON is RFC 8785 (JSON Canonicalization Scheme) restricted to a
subset where JCS and Python's ``json`` agree byte for byte:

- values: objects, arrays, strings, ``true``/``false``/``null`` and *integers* in
  ``[-(2**53 - 1), 2**53 - 1]`` (I-JSON safe). Floats, NaN and infinities are refused;
  money and quantities are integers in minor units (``docs/encoding.md``).
- object keys are ASCII strings, unique, sorted (for ASCII, RFC 8785's UTF-16 order and
  code point order coincide).
- no insignificant whitespace; UTF-8 output; strings escaped exactly as RFC 8785 §3.2.2.2
  (``\\"``, ``\\\\``, ``\\b \\f \\n \\r \\t``, other controls as lowercase ``\\u00xx``);
  lone surrogates are refused.
- binary data (hashes, keys, signatures) is lowercase hex in a string.

:func:`decode` accepts only bytes that :func:`encode` would produce from the result, so
every value has exactly one encoding and signatures cannot be malleated by re-encoding.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any, Final

from phrchain.core.accel import native as _native
from phrchain.core.errors import EncodingError

MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_DEPTH: Final = 32
_HEX: Final = re.compile(r"[0-9a-f]*")

_encoder = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"),
    check_circular=True,
)


def _refuse_float(text: str) -> Any:
    raise EncodingError(f"non-integer number {text!r} is not allowed")


def _refuse_constant(text: str) -> Any:
    raise EncodingError(f"{text} is not allowed")


def _safe_int(text: str) -> int:
    if len(text) > 17:  # 16 digits and a sign: no quadratic int() on a huge literal
        raise EncodingError("integer is outside the safe range ±(2**53-1)")
    value = int(text)
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise EncodingError(f"integer {text} is outside the safe range ±(2**53-1)")
    return value


_decoder = json.JSONDecoder(
    parse_float=_refuse_float, parse_int=_safe_int, parse_constant=_refuse_constant,
)


def _check(value: object, depth: int) -> None:
    """Walk a value and refuse anything outside the canonical subset. ``depth`` counts
    the containers around ``value``; a container may be at most the
    :data:`MAX_DEPTH`-th nested one, exactly the limit :func:`decode` counts in brackets
    (so what encodes also decodes, nested empty containers included)."""
    if value is None or value is True or value is False or isinstance(value, str):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            raise EncodingError(f"integer {value} is outside the safe range ±(2**53-1)")
        return
    if depth >= MAX_DEPTH and isinstance(value, Mapping | Sequence) \
            and not isinstance(value, bytes | bytearray):
        raise EncodingError(f"nesting deeper than {MAX_DEPTH}")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str) or not key.isascii():
                raise EncodingError(f"object key {key!r} is not an ASCII string")
            _check(item, depth + 1)
        return
    if isinstance(value, Sequence) and not isinstance(value, bytes | bytearray):
        for item in value:
            _check(item, depth + 1)
        return
    raise EncodingError(f"type {type(value).__name__} cannot be canonically encoded")


def encode(value: object) -> bytes:
    """Canonical bytes of ``value``; raises :class:`EncodingError` outside the subset.

    Compiled when :mod:`phrchain.core.accel` chose ``phrchain_native``, which answers only
    for plain values it is sure of and leaves the rest to :func:`encode_reference`."""
    if _native is not None:
        out: bytes | None = _native.canonical_encode(value, True)
        if out is not None:
            return out
    return encode_reference(value)


def encode_reference(value: object) -> bytes:
    """The specification of :func:`encode`."""
    _check(value, 0)
    try:
        return _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodingError("string contains a lone surrogate") from exc
    except (ValueError, TypeError) as exc:  # circular reference
        raise EncodingError(str(exc)) from exc


def encode_trusted(value: object) -> bytes:
    """Canonical bytes of a value built by phrchain itself from already-checked parts.

    Skips the type walk of :func:`encode` on hot paths; the output is identical for any
    value that :func:`encode` accepts. Compiled like :func:`encode`.
    """
    if _native is not None:
        out: bytes | None = _native.canonical_encode(value, False)
        if out is not None:
            return out
    return encode_trusted_reference(value)


def encode_trusted_reference(value: object) -> bytes:
    """The specification of :func:`encode_trusted`."""
    try:
        return _encoder.encode(value).encode("utf-8")
    except (UnicodeEncodeError, ValueError, TypeError) as exc:
        raise EncodingError(str(exc)) from exc


_STRING: Final = re.compile(rb'"(?:[^"\\]|\\.)*"')
_BRACKET: Final = re.compile(rb"[\[\]{}]")


def _check_raw_depth(data: bytes) -> None:
    """Refuse nesting deeper than :data:`MAX_DEPTH` *before* parsing, so the outcome
    never depends on how deep the caller's stack already is (the C parser's recursion
    limit does)."""
    if data.count(b"[") + data.count(b"{") <= MAX_DEPTH:
        return
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", data)):
        depth += 1 if bracket in (b"[", b"{") else -1
        if depth > MAX_DEPTH:
            raise EncodingError(f"nesting deeper than {MAX_DEPTH}")


def decode(data: bytes) -> Any:
    """Parse canonical bytes; raises :class:`EncodingError` unless ``encode(result) == data``.

    Compiled when :mod:`phrchain.core.accel` chose ``phrchain_native``: its strict parser
    answers for bytes it is sure are canonical; all else (and every error) is
    :func:`decode_reference`'s."""
    if _native is not None and type(data) is bytes:
        value = _native.canonical_decode(data)
        if value is not None:
            return value
    return decode_reference(data)


def decode_reference(data: bytes) -> Any:
    """The specification of :func:`decode`."""
    _check_raw_depth(data)
    try:
        text = data.decode("utf-8")
        value = _decoder.decode(text)
    except EncodingError:
        raise
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise EncodingError(f"not valid UTF-8 JSON: {exc}") from exc
    if not data.isascii():
        _check(value, 0)  # only non-ASCII input can hide a non-ASCII key
    try:
        again = _encoder.encode(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EncodingError("string contains a lone surrogate") from exc
    if again != data:
        raise EncodingError("bytes are not in canonical form (order, spacing, escapes or "
                            "duplicate keys)")
    return value


def hex_bytes(text: object, length: int | None = None, what: str = "value") -> bytes:
    """Strict lowercase-hex string to bytes, optionally of an exact length."""
    if not isinstance(text, str) or len(text) % 2 or _HEX.fullmatch(text) is None:
        raise EncodingError(f"{what} must be a lowercase hex string")
    raw = bytes.fromhex(text)
    if length is not None and len(raw) != length:
        raise EncodingError(f"{what} must be {length} bytes, got {len(raw)}")
    return raw
