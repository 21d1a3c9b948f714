"""FHIR JSON bytes in and out, keeping decimal precision.

``core.encoding`` refuses floats (nothing on chain has one), but FHIR decimals are JSON
numbers whose precision is significant (``1.50`` is not ``1.5``, FHIR R4 §2.24.0.1
decimal). So FHIR payloads (the record plaintext that the vault encrypts) use these two
functions instead: :func:`loads` reads numbers with a fraction or exponent as
``decimal.Decimal`` (exact text kept), :func:`dumps` writes them back verbatim, with
keys sorted and no whitespace, so the same resource always gives the same bytes.
"""

from __future__ import annotations

import json
import math
from decimal import Decimal
from typing import Any

from phrchain.fhir.errors import INVALID_RESOURCE, FhirError

_string = json.JSONEncoder(ensure_ascii=False).encode


def _refuse_constant(name: str) -> Any:
    raise FhirError(INVALID_RESOURCE, f"JSON constant {name} is not allowed", rule="json")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise FhirError(INVALID_RESOURCE, "duplicate JSON object key", rule="json")
    return out


def loads(data: bytes | str) -> Any:
    """Parse FHIR JSON: decimals as ``Decimal``, duplicate keys and NaN refused."""
    try:
        return json.loads(data, parse_float=Decimal, parse_constant=_refuse_constant,
                          object_pairs_hook=_no_duplicates)
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, FhirError):
            raise
        raise FhirError(INVALID_RESOURCE, "not well-formed JSON", rule="json") from None
    except RecursionError:  # found by bench/fuzz.py: deep nesting overflows the parser
        raise FhirError(INVALID_RESOURCE, "JSON nested too deeply", rule="json") from None


def dumps(value: Any) -> bytes:
    """Deterministic UTF-8 JSON: sorted keys, no whitespace, decimals verbatim."""
    parts: list[str] = []
    _write(value, parts)
    return "".join(parts).encode()


def _write(value: Any, out: list[str]) -> None:
    if isinstance(value, str):
        out.append(_string(value))
    elif value is None or isinstance(value, bool):
        out.append("null" if value is None else "true" if value else "false")
    elif isinstance(value, int):
        out.append(str(value))
    elif isinstance(value, dict):
        out.append("{")
        for i, key in enumerate(sorted(value)):
            if not isinstance(key, str):
                raise TypeError("JSON object keys must be strings")
            out.append("," if i else "")
            out.append(_string(key))
            out.append(":")
            _write(value[key], out)
        out.append("}")
    elif isinstance(value, (list, tuple)):
        out.append("[")
        for i, item in enumerate(value):
            out.append("," if i else "")
            _write(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError("NaN and infinities are not JSON")
        out.append(str(value))
    elif isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError("NaN and infinities are not JSON")
        out.append(repr(value))
    else:
        raise TypeError(f"{type(value).__name__} is not JSON")
