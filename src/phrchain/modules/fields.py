"""Stateless field checks shared by the record-keeping modules.

Each parser takes the error code to raise, so a bad field is reported in the codespace of
the module whose message carried it (``records/2``, ``consent/2``, ...).
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, Final, TypeVar

from phrchain.core import keys
from phrchain.core.errors import CryptoError, ErrorCode

MAX_INT: Final = (1 << 63) - 1
_HEX_ID: Final = re.compile(r"[0-9a-f]{32}")
_HEX_HASH: Final = re.compile(r"[0-9a-f]{64}")
_TYPE: Final = frozenset({"type"})
T = TypeVar("T")


def exact(msg: Mapping[str, Any], error: ErrorCode, required: Collection[str],
          optional: Collection[str] = ()) -> None:
    """Raise unless ``msg`` has every required field, only known fields, and ``type``."""
    names = set(msg) - _TYPE
    if len(names) == len(required) and names.issuperset(required):
        return  # exactly the required fields (the common case): nothing missing or unknown
    missing = set(required) - names
    unknown = names - set(required) - set(optional)
    if missing or unknown:
        what = msg.get("type", "entry")
        raise error(f"{what}: " + "; ".join(
            part for part in (f"missing {sorted(missing)}" if missing else "",
                              f"unknown {sorted(unknown)}" if unknown else "") if part))


def object_id(msg: Mapping[str, Any], name: str, error: ErrorCode) -> str:
    """A 16-byte id as 32 lowercase hex characters."""
    value = msg.get(name)
    if not isinstance(value, str) or _HEX_ID.fullmatch(value) is None:
        raise error(f"{name} must be 32 lowercase hex characters (16 bytes)")
    return value


def digest(msg: Mapping[str, Any], name: str, error: ErrorCode) -> str:
    """A SHA-256 digest as 64 lowercase hex characters."""
    value = msg.get(name)
    if not isinstance(value, str) or _HEX_HASH.fullmatch(value) is None:
        raise error(f"{name} must be 64 lowercase hex characters (a SHA-256 digest)")
    return value


def did(msg: Mapping[str, Any], name: str, error: ErrorCode) -> str:
    value = msg.get(name)
    if not isinstance(value, str):
        raise error(f"{name} must be a did:key string")
    try:
        keys.public_key_from_did(value)
    except CryptoError as exc:
        raise error(f"{name}: {exc}") from None
    return value


def integer(msg: Mapping[str, Any], name: str, error: ErrorCode, low: int = 0,
            high: int = MAX_INT) -> int:
    value = msg.get(name)
    if type(value) is not int or not low <= value <= high:
        raise error(f"{name} must be an integer from {low} to {high}")
    return value


def boolean(msg: Mapping[str, Any], name: str, error: ErrorCode) -> bool:
    value = msg.get(name)
    if type(value) is not bool:
        raise error(f"{name} must be true or false")
    return value


def choice(msg: Mapping[str, Any], name: str, allowed: Collection[str],
           error: ErrorCode) -> str:
    value = msg.get(name)
    # isinstance first: an unhashable value (list, object) must not reach `in`.
    if not isinstance(value, str) or value not in allowed:
        raise error(f"{name} must be one of {sorted(allowed)}")
    return value


def sorted_set(msg: Mapping[str, Any], name: str, error: ErrorCode,
               item: Callable[[Any], bool], what: str, max_items: int,
               min_items: int = 1) -> tuple[str, ...]:
    """A strictly ascending (so duplicate-free) list of ``min_items`` to ``max_items``
    strings: one spelling per set, so equal sets encode to equal bytes. Where an empty
    list is allowed (``min_items`` 0), a missing field is the empty list."""
    value = msg.get(name, [] if min_items == 0 else None)
    if not isinstance(value, list) or not min_items <= len(value) <= max_items \
            or not all(isinstance(v, str) and item(v) for v in value) \
            or any(a >= b for a, b in itertools.pairwise(value)):
        raise error(f"{name} must be a sorted, duplicate-free list of {min_items} to "
                    f"{max_items} {what}")
    return tuple(value)


def matching(msg: Mapping[str, Any], name: str, pattern: re.Pattern[str], error: ErrorCode,
             what: str) -> str:
    """A string the whole of which matches ``pattern``; ``what`` says what it must be."""
    value = msg.get(name)
    if not isinstance(value, str) or pattern.fullmatch(value) is None:
        raise error(f"{name} must be {what}")
    return value


def is_id(value: str) -> bool:
    return _HEX_ID.fullmatch(value) is not None


def mapping(msg: Mapping[str, Any], name: str, error: ErrorCode) -> Mapping[str, Any]:
    value = msg.get(name)
    if not isinstance(value, dict):
        raise error(f"{name} must be an object")
    return value


def present(**values: Any) -> dict[str, Any]:
    """The optional fields that are set, for a message's ``to_msg``: an unset optional
    field is left out of a message (``parse`` refuses ``null`` for it)."""
    return {name: value for name, value in values.items() if value is not None}


def apply(parse: Callable[[Mapping[str, Any]], T], value: Any, error: ErrorCode,
          name: str) -> T:
    if not isinstance(value, dict):
        raise error(f"{name} must be an object")
    return parse(value)
