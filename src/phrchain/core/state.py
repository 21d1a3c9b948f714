"""Write buffers layered over a read view: one per block, one per tx inside it.

A tx's writes go to its own :class:`Overlay`; they reach the block's overlay only if
every message succeeds (``flush``), so a rejected tx changes nothing.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from typing import Protocol

from phrchain.core.errors import OUT_OF_GAS

MAX_VALUE_BYTES = 64 * 1024


class Reader(Protocol):
    def get(self, key: bytes) -> bytes | None: ...

    def iterate(self, prefix: bytes, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]:
        """Live pairs under ``prefix`` with key >= ``start``, ascending; lazily."""
        ...


class StoreView:
    """Read-only view of a store at a fixed height (``None`` = latest committed)."""

    def __init__(self, get: Callable[[bytes, int | None], bytes | None],
                 iterate: Callable[[bytes, int | None, bytes | None],
                                   Iterator[tuple[bytes, bytes]]],
                 height: int | None = None) -> None:
        self._get, self._iterate, self._height = get, iterate, height

    def get(self, key: bytes) -> bytes | None:
        return self._get(key, self._height)

    def iterate(self, prefix: bytes, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]:
        return self._iterate(prefix, self._height, start)


class Overlay:
    """Buffered writes over a :class:`Reader`; ``None`` marks a deletion."""

    __slots__ = ("_base", "_max_writes", "changes")

    def __init__(self, base: Reader, max_writes: int | None = None) -> None:
        self._base = base
        self.changes: dict[bytes, bytes | None] = {}
        self._max_writes = max_writes

    def get(self, key: bytes) -> bytes | None:
        if key in self.changes:
            return self.changes[key]
        return self._base.get(key)

    def set(self, key: bytes, value: bytes) -> None:
        if len(value) > MAX_VALUE_BYTES:
            raise OUT_OF_GAS(f"value of {len(value)} bytes > {MAX_VALUE_BYTES}")
        self._record(key, value)

    def delete(self, key: bytes) -> None:
        self._record(key, None)

    def _record(self, key: bytes, value: bytes | None) -> None:
        if self._max_writes is not None and key not in self.changes \
                and len(self.changes) >= self._max_writes:
            raise OUT_OF_GAS(f"more than {self._max_writes} keys written")
        self.changes[key] = value

    def iterate(self, prefix: bytes, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]:
        """The base's sorted pairs merged with this overlay's pending ones (which win)."""
        low = prefix if start is None or start < prefix else start
        pending = sorted((k, 0, v) for k, v in self.changes.items()
                         if k.startswith(prefix) and k >= low)
        base = ((k, 1, v) for k, v in self._base.iterate(prefix, start))
        last: bytes | None = None
        for key, _, value in heapq.merge(pending, base):
            if key == last:
                continue  # the overlay's entry for this key came first
            last = key
            if value is not None:
                yield key, value

    def flush(self, into: Overlay) -> None:
        """Apply this overlay's writes to ``into`` (the parent)."""
        into.changes.update(self.changes)
