"""Following erasures by height, not by record.

A pass asks the node for its height (one request) and reads the results of each block
committed since the last pass (one request per new block), destroying every record a
``records.erased`` event names that this vault holds. Its cost grows with the blocks
committed (none when the chain is idle) and never with the records held: a vault with
58k records polled each one every pass before (issue 13, defect 7). The height reached
is journaled (``progress`` ``erasures``), so a restarted vault resumes there, and so
are the erased ids (a custody upload of one is refused, or shredded if it raced).

A vault with no saved height (a new one, or one from before this existed), or whose node
is behind the saved height (a new chain), first notes the node's height, then checks
each record it holds against the chain once (:meth:`Vault._scan_erasures`), then
follows, reading each block's tx results (``GET /v1/blocks/{h}/results``, served by the
solo node and by ``phrchain net api`` over CometBFT alike). Only a node API without that
route (an older version) cannot be followed: the vault falls back to that scan at most
once every ``rescan_interval_s``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import Any, Final

from phrchain.gateway.audit_readers import identity_changed_in
from phrchain.gateway.chain import ChainPort, NoBlocks
from phrchain.gateway.journal import Journal
from phrchain.modules.records.messages import RECORDS_ERASED

log = logging.getLogger(__name__)

PROGRESS: Final = "erasures"
MAX_BLOCKS_PER_PASS: Final = 1000  # a pass stays short; the next one goes on from there


def erased_in(results: Sequence[dict[str, Any]]) -> Iterator[str]:
    """Record ids named by the ``records.erased`` events of a block's successful txs."""
    for result in results:
        if result.get("code", 0) != 0:
            continue
        for event in result.get("events") or ():
            if event.get("type") == RECORDS_ERASED:
                attributes = {str(k): str(v) for k, v in event.get("attributes", ())}
                if "record" in attributes:
                    yield attributes["record"]


def scan(held: Iterable[bytes], on_chain: Callable[[bytes], Any],
         shred: Callable[[bytes], bool]) -> list[str]:
    """The slow way: every held record's descriptor asked of the node, one request each
    (only for a vault with no height to follow from, or a node serving no blocks)."""
    shredded = []
    for record_id in held:
        found = on_chain(record_id)
        if found is not None and found["status"] == "erased" and shred(record_id):
            shredded.append(record_id.hex())
    return shredded


class ErasureFollower:
    """One vault's position in the chain's erasures. ``shred(record_hex)`` destroys a
    record if it is held here (True) and ``scan()`` checks every held record against
    the chain (the slow way, for a vault that has no position yet)."""

    def __init__(self, chain: ChainPort, journal: Journal, shred: Callable[[str], bool],
                 scan: Callable[[], list[str]], rescan_interval_s: float = 600.0,
                 clock: Callable[[], float] = time.monotonic,
                 identity_changed: Callable[[], None] | None = None) -> None:
        self.chain, self.journal = chain, journal
        # told when a block read changes identities (gateway/audit_readers.py's cache)
        self._identity_changed = identity_changed
        self._shred, self._scan = shred, scan
        self.rescan_interval_s, self._clock = rescan_interval_s, clock
        self._no_blocks_since: float | None = None  # when the API said it serves no blocks
        self._lock = threading.Lock()  # the sync thread and POST /v1/vault/sync

    def sync(self) -> list[str]:
        """One pass; returns the ids of the records destroyed."""
        with self._lock:
            return self._pass()

    def _pass(self) -> list[str]:
        synced = self.journal.progress(PROGRESS)
        latest = self.chain.height()
        if synced is None or latest < synced:
            return self._rescan(latest)
        if self._no_blocks_since is not None:
            if self._clock() - self._no_blocks_since < self.rescan_interval_s:
                return []
            return self._rescan(latest)
        shredded: list[str] = []
        height = synced
        try:
            while height < min(latest, synced + MAX_BLOCKS_PER_PASS):
                results = self.chain.block_results(height + 1)
                if results is None:
                    break
                erased = list(erased_in(results))
                if self._identity_changed is not None and identity_changed_in(results):
                    self._identity_changed()
                if erased:  # noted before shredding: an upload racing it checks after
                    self.journal.note_erased(erased)
                shredded += [r for r in erased if self._shred(r)]
                height += 1
        except NoBlocks as exc:
            log.warning("erasures cannot be followed by height (%s): scanning every "
                        "%.0f s instead", exc, self.rescan_interval_s)
            return self._rescan(latest)
        finally:
            if height != synced:
                self.journal.set_progress(PROGRESS, height)
        return shredded

    def _rescan(self, latest: int) -> list[str]:
        """Note the height first: an erasure committed during the scan is followed next."""
        shredded = self._scan()
        self.journal.set_progress(PROGRESS, latest)
        if self._identity_changed is not None:  # blocks skipped: whatever changed
            self._identity_changed()
        if self._no_blocks_since is not None or self._blocks_missing():
            self._no_blocks_since = self._clock()
        return shredded

    def _blocks_missing(self) -> bool:
        """Whether the node's API serves blocks at all (asked once, after a scan)."""
        latest = self.chain.height()
        if latest == 0:
            return False
        try:
            self.chain.block_results(latest)
        except NoBlocks:
            return True
        return False
