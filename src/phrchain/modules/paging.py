"""Query argument parsing and paging shared by every module's list queries.

Lists are paged: ``limit`` (default 100, at most 1000) and ``after`` (exclusive: the
last key of the previous page). Every list answer carries ``next``: the key to pass as
``after`` for the following page, or ``None`` when there is nothing more. ``limit`` may
be an integer or a decimal string (``GET /v1/query/...`` passes every parameter as a
string).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.state import Reader
from phrchain.modules.fields import MAX_INT, is_id

DEFAULT_LIMIT: Final = 100
MAX_LIMIT: Final = 1000
_DECIMAL: Final = re.compile(r"[1-9][0-9]{0,3}")

Paging = tuple[int, str | None]


def text(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value or len(value) > 128:
        raise BAD_QUERY(f"'{name}' must be a non-empty string")
    return value


def object_id(data: Mapping[str, Any], name: str) -> str:
    """An object id argument (record, consent, request, claim, bill, product): 32
    lowercase hex characters, as every message that names one requires. A malformed id
    is a bad query (400), not a well-formed id that names nothing (``null``)."""
    value = data.get(name)
    if not isinstance(value, str) or not is_id(value):
        raise BAD_QUERY(f"'{name}' must be 32 lowercase hex characters (an object id)")
    return value


def number(data: Mapping[str, Any], name: str, default: int | None = None) -> int:
    """A non-negative integer argument (an int or a decimal string), at most ``MAX_INT``
    (what a signed 64-bit column holds)."""
    value = data.get(name, default)
    if isinstance(value, str) and (value == "0" or re.fullmatch(r"[1-9][0-9]{0,18}", value)):
        value = int(value)
    if type(value) is not int or not 0 <= value <= MAX_INT:
        raise BAD_QUERY(f"'{name}' must be an integer from 0 to {MAX_INT}")
    return value


def paging(data: Mapping[str, Any]) -> Paging:
    """``(limit, after)`` of a list query."""
    limit = data.get("limit", DEFAULT_LIMIT)
    if isinstance(limit, str) and _DECIMAL.fullmatch(limit):
        limit = int(limit)
    if type(limit) is not int or not 1 <= limit <= MAX_LIMIT:
        raise BAD_QUERY(f"'limit' must be an integer from 1 to {MAX_LIMIT}")
    return limit, (text(data, "after") if data.get("after") is not None else None)


def page(pg: Paging, keys: Callable[[str | None], Iterator[str]],
         keep: Callable[[str], bool] = lambda _: True) -> tuple[list[str], str | None]:
    """Up to ``limit`` kept keys after ``after``, and the ``next`` cursor."""
    limit, after = pg
    out: list[str] = []
    for key in keys(after):
        if not keep(key):
            continue
        if len(out) == limit:
            return out, out[-1]  # one more exists: the client continues after our last
        out.append(key)
    return out, None


def suffixes(state: Reader, prefix: bytes, after: str | None = None) -> Iterator[str]:
    """The keys under ``prefix``, without it, ascending and strictly after ``after``:
    the store seeks to the page, so a deep page costs no more than the first."""
    start = None if after is None else prefix + after.encode() + b"\x00"
    for key, _ in state.iterate(prefix, start):
        yield key[len(prefix):].decode()
