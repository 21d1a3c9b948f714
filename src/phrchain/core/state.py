"""Write buffers layered over a read view: one per block, one per tx inside it.

A tx's writes go to its own :class:`Overlay`; they reach the block's overlay only if
every message succeeds (``flush``), so a rejected tx changes nothing.
"""

from __future__ import annotations

import bisect
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
    """Buffered writes over a :class:`Reader`; ``None`` marks a deletion.

    Prefix scans must not cost the size of the buffer: a block's overlay holds every
    write of every tx so far, and handlers scan small prefixes many times per block. The
    written keys are therefore kept sorted (``_sorted``) plus a short unsorted tail of the
    newest ones (``_recent``), merged into the sorted list when it grows past
    ``_MERGE_AT``: a scan bisects the one and filters the other."""

    __slots__ = ("_base", "_max_writes", "_recent", "_sorted", "changes")
    _MERGE_AT = 256

    def __init__(self, base: Reader, max_writes: int | None = None) -> None:
        self._base = base
        self.changes: dict[bytes, bytes | None] = {}
        self._max_writes = max_writes
        self._sorted: list[bytes] = []
        self._recent: list[bytes] = []

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
        if key not in self.changes:
            if self._max_writes is not None and len(self.changes) >= self._max_writes:
                raise OUT_OF_GAS(f"more than {self._max_writes} keys written")
            self._remember(key)
        self.changes[key] = value

    def _remember(self, key: bytes) -> None:
        self._recent.append(key)
        if len(self._recent) > self._MERGE_AT:
            # Two sorted runs, merged by the C sort (timsort finds both runs): the same
            # list as heapq.merge gives, without a Python generator step per key.
            self._recent.sort()
            merged = self._sorted + self._recent  # a new list, as before: no scan sees
            merged.sort()                          # its list change under it
            self._sorted = merged
            self._recent = []

    def _pending_keys(self, prefix: bytes, low: bytes) -> list[bytes]:
        """Written keys under ``prefix`` that are >= ``low``, ascending."""
        keys = [k for k in self._recent if k >= low and k.startswith(prefix)]
        at = bisect.bisect_left(self._sorted, low)
        while at < len(self._sorted) and self._sorted[at].startswith(prefix):
            keys.append(self._sorted[at])
            at += 1
        keys.sort()
        return keys

    def iterate(self, prefix: bytes, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]:
        """The base's sorted pairs merged with this overlay's pending ones (which win)."""
        low = prefix if start is None or start < prefix else start
        pending = [(k, 0, self.changes[k]) for k in self._pending_keys(prefix, low)]
        base = ((k, 1, v) for k, v in self._base.iterate(prefix, start))
        last: bytes | None = None
        for key, _, value in heapq.merge(pending, base):
            if key == last:
                continue  # the overlay's entry for this key came first
            last = key
            if value is not None:
                yield key, value

    def rebase(self, base: Reader) -> None:
        """Read through ``base`` from now on; it must answer exactly as the old base did
        (an engine moves a block's overlay from its committed parent block's overlay to
        the store holding that block)."""
        self._base = base

    def flush(self, into: Overlay) -> None:
        """Apply this overlay's writes to ``into`` (the parent)."""
        for key, value in self.changes.items():
            if key not in into.changes:
                into._remember(key)
            into.changes[key] = value
