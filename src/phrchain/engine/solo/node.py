"""The embedded solo engine: one process, one validator key, SQLite stores.

Order of durability for every block (what makes a crash at any point safe):

1. ``app.finalize_block`` executes the txs and stages the new state (nothing on disk);
2. the signed header, txs and results are written to the block store (fsync);
3. ``app.commit`` writes the state (fsync);
4. only then are waiters told "committed".

With ``pipeline`` (default) a committer thread does (2)-(4), in height order, while the
block thread executes the next block on top of the uncommitted one; its txs are
"pending" until (4).

A crash before (2) loses only mempool txs nobody was told were committed; a crash
between (2) and (3) is repaired at start-up by replaying the stored block, whose header
must reproduce the same app hash.

One key signs every block, so the validator updates a block result carries (a passed
governance validator proposal) are ignored here: they change the governed set in the
state, which a CometBFT network of the same chain would apply at H+2. The block events
of governance outcomes are not stored either; the proposal records hold every outcome.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from phrchain.app import Application, BlockInfo, BlockResult, TxResult, new_application
from phrchain.core.block import GENESIS_PREV_HASH, Header, SignedHeader, sign_header, tx_root
from phrchain.core.errors import DUPLICATE_TX, MEMPOOL_FULL, CodedError, PhrError
from phrchain.core.hashing import sha256
from phrchain.engine.events import EventHub
from phrchain.engine.port import NodeStopped
from phrchain.engine.solo.committer import Committer
from phrchain.engine.solo.home import (
    HomeError,
    NodeConfig,
    data_dir,
    load_config,
    load_genesis,
    load_validator_key,
)
from phrchain.engine.solo.mempool import Mempool
from phrchain.engine.solo.reads import Reads
from phrchain.engine.solo.verifier import ParallelVerifier
from phrchain.storage.blocks import SqliteBlockStore
from phrchain.storage.integrity import StateIntegrityError, check_latest_state
from phrchain.storage.sqlite_state import SqliteStateStore

log = logging.getLogger(__name__)

_RECENT_MAX: Final = 200_000
# Signatures per verifier batch: small enough that admitting one batch overlaps with
# verifying the next, large enough that the pipe costs little per signature.
_VERIFY_CHUNK: Final = 128
# Pipelining: blocks executed but not yet committed (one committing, one waiting).
_PIPELINE_DEPTH: Final = 2


class ChainError(PhrError):
    """Stored blocks and state disagree: the node refuses to run on them."""


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class SoloNode(Reads):
    """Mempool + block producer + stores around one :class:`~phrchain.app.Application`;
    implements :class:`phrchain.engine.port.NodePort`. Its reads and block events are in
    :mod:`~phrchain.engine.solo.reads`."""

    def __init__(self, home: Path, config: NodeConfig | None = None,
                 clock: Callable[[], int] = wall_clock_ms) -> None:
        self.home = Path(home)
        self.genesis = load_genesis(self.home)
        self.config = config or load_config(self.home)
        self.key = load_validator_key(self.home)
        if self.genesis.get("validator") != self.key.did:
            raise HomeError("validator_key.json does not match the genesis validator")
        self._clock = clock
        self.state = SqliteStateStore(data_dir(self.home) / "state.db",  # archive: no
                                      writer=self.config.state_writer,  # orphan records
                                      orphans=self.config.keep_versions > 0)
        self.blocks = SqliteBlockStore(data_dir(self.home) / "blocks.db")
        self.app: Application = new_application(self.state)
        self.mempool = Mempool(self.config.mempool_max_txs, self.config.mempool_max_bytes)
        self._lock = threading.RLock()
        self._produce_lock = threading.Lock()
        self._cond = threading.Condition(self._lock)
        self._recent: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self._dropped: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
        self.events = EventHub()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._last_header: SignedHeader | None = None
        # Pipelining: the txs of executed, uncommitted blocks; how many such blocks.
        self._pipeline = self.config.pipeline and self.config.state_writer
        self._inflight: dict[bytes, bytes] = {}
        self._uncommitted = 0
        self._failure: BaseException | None = None  # why the committer stopped
        self._committer: Committer[tuple[SignedHeader, list[tuple[bytes, bytes]]]] = \
            Committer(self._commit_one, self._commit_failed)
        try:
            self.recover()
        except BaseException:
            self.state.close()  # also stops the state writer process
            self.blocks.close()
            raise
        self._verifier = ParallelVerifier(self.config.verify_workers) \
            if self.config.verify_workers > 0 else None

    # -- start-up ---------------------------------------------------------------------
    def recover(self) -> int:
        """Bring the state store up to the block store; return how many blocks replayed."""
        if self.state.version() < 0:
            self.app.init_chain(self.genesis)
        top = self.blocks.height()
        if self.state.version() > top:
            raise ChainError(f"state is at height {self.state.version()} but blocks end at "
                             f"{top}: the block store lost data")
        replayed = 0
        for height in range(self.state.version() + 1, top + 1):
            self._replay(height)
            replayed += 1
        self._last_header = self.blocks.header(top) if top else None
        self._tip_header = self._last_header  # the last executed block's header
        if self._last_header is not None:
            self.app.last_block_time_ms = self._last_header.header.time_ms
        try:  # never serve a state that is not what the last block committed to
            check_latest_state(self.state, self._last_header.header.app_hash
                               if self._last_header is not None else self.state.root())
        except StateIntegrityError as exc:
            raise ChainError(str(exc)) from None
        if replayed:
            log.info("replayed %d block(s) the state store lacked", replayed)
        return replayed

    def _replay(self, height: int) -> None:
        signed = self.blocks.header(height)
        if signed is None:
            raise ChainError(f"block {height} is missing from the block store")
        txs = [t.raw for t in self.blocks.txs(height)]
        result = self.app.finalize_block(BlockInfo(height, signed.header.time_ms), txs)
        if result.app_hash != signed.header.app_hash:
            self.app.abandon()
            raise ChainError(f"replaying block {height} gives app hash "
                             f"{result.app_hash.hex()}, header says "
                             f"{signed.header.app_hash.hex()}")
        self.app.commit()

    # -- submitting -------------------------------------------------------------------
    def submit(self, raw: bytes) -> TxResult:
        """Check a tx and, if it passes, queue it for the next block."""
        return self.submit_many([raw])[0]

    def submit_many(self, raws: list[bytes]) -> list[TxResult]:
        """Check txs in order; each that passes is queued.

        With a verifier, all signatures go to the worker processes first; each tx is
        then admitted as soon as its own answer is back, so admitting tx *i* here overlaps
        with verifying tx *i + k* there."""
        if not self.healthy:  # nothing would ever commit it: refuse, admit nothing
            raise NodeStopped("the node has stopped producing blocks (its log says why, "
                              "e.g. a full disk); restart it once the cause is fixed")
        if self._verifier is None:
            return [self._admit(raw) for raw in raws]
        with self._lock:  # each tx's own signature, then those its messages carry
            jobs = [(self.app.signature_job(raw), self.app.message_signature_jobs(raw))
                    for raw in raws]
        chunks = [jobs[i:i + _VERIFY_CHUNK] for i in range(0, len(jobs), _VERIFY_CHUNK)]
        futures = [self._verifier.submit_batch(
            [item for job, carried in chunk
             for item in ([] if job is None else [(job[1], job[2], job[3])]) + carried])
            for chunk in chunks]
        results = []
        for chunk_index, (chunk, future) in enumerate(zip(chunks, futures, strict=True)):
            answers = iter(self._answers(future, chunk))
            for offset, (job, carried) in enumerate(chunk):
                if job is not None and next(answers):
                    with self._lock:
                        self.app.note_verified(job[0], job[1])
                for item in carried:
                    if next(answers):
                        with self._lock:
                            self.app.note_signature(*item)
                results.append(self._admit(raws[chunk_index * _VERIFY_CHUNK + offset]))
        return results

    @staticmethod
    def _answers(future: Future[list[bool]], chunk: list[Any]) -> list[bool]:
        try:
            return future.result(timeout=60)
        except Exception:  # a dead worker: the app verifies in-process instead
            log.warning("signature pre-verification failed; verifying in-process")
            return [False] * sum((job is not None) + len(carried) for job, carried in chunk)

    def _admit(self, raw: bytes) -> TxResult:
        tx_hash = sha256(raw)
        with self._cond:
            if tx_hash in self.mempool or tx_hash in self._inflight:
                return _error_result(tx_hash, DUPLICATE_TX("already in the mempool"))
            if not self.mempool.has_room(raw):
                return _error_result(tx_hash, MEMPOOL_FULL())
            result = self.app.check_tx(raw)
            if result.ok:
                self.mempool.add(tx_hash, raw)
                self._cond.notify_all()
            return result

    def tx_status(self, tx_hash: bytes) -> dict[str, Any]:
        """``{"status": "committed", "height", "index", "result"}``, or ``pending``,
        ``dropped`` (no longer valid when re-checked after a block, with its result)
        or ``unknown``."""
        with self._lock:
            found = self._recent.get(tx_hash)
            if found is not None:
                return found
            if tx_hash in self.mempool or tx_hash in self._inflight:
                return {"status": "pending"}
            dropped = self._dropped.get(tx_hash)
            if dropped is not None:
                return {"status": "dropped", "result": dropped}
            stored = self.blocks.tx(tx_hash)
        if stored is None:
            return {"status": "unknown"}
        return {"status": "committed", "height": stored.height, "index": stored.index,
                "result": stored.result}

    def wait_committed(self, tx_hash: bytes, timeout: float) -> dict[str, Any]:
        """Block until the tx is committed or dropped, or ``timeout`` seconds pass."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                status = self.tx_status(tx_hash)
                remaining = deadline - time.monotonic()
                if status["status"] != "pending" or remaining <= 0 or not self.healthy:
                    return status  # a stopped node commits nothing more: do not wait
                self._cond.wait(min(remaining, 0.5))

    # -- producing blocks ---------------------------------------------------------------
    def produce_block(self) -> BlockResult | None:
        """Cut one block from the mempool now and return once it is committed (tests
        call this directly).

        Execution runs under the node lock; the two fsyncs (block store, then state) run
        outside it, so txs keep being checked and admitted meanwhile."""
        if not self._pipeline:
            return self._produce_serial()
        result = self._produce_next()
        if result is not None:
            self._wait_state(result.height)
        return result

    def _produce_serial(self) -> BlockResult | None:
        with self._produce_lock:
            with self._cond:
                batch = self.mempool.reap(self.config.max_block_txs,
                                          self.config.max_block_bytes)
                if not batch:
                    return None
                signed, result = self._execute([raw for _, raw in batch])
                self._tip_header = signed
            hashes = [h for h, _ in batch]
            jsons = [r.to_json() for r in result.tx_results]
            try:
                self.blocks.save(signed, [raw for _, raw in batch], jsons, hashes)
                self.app.persist()
            except BaseException:
                with self._cond:
                    self.app.abandon()
                raise
            with self._cond:
                self.app.finish_commit()
                self.mempool.remove(hashes)
                self._recheck_mempool()
                self._committed(signed, hashes, jsons)
            self._prune(signed.header.height)
            return result

    def _committed(self, signed: SignedHeader, hashes: list[bytes],
                   jsons: list[dict[str, Any]]) -> None:
        """Tell waiters and subscribers (the node lock held; the state is durable)."""
        self._last_header = signed
        height = signed.header.height
        for index, (tx_hash, tx_json) in enumerate(zip(hashes, jsons, strict=True)):
            self._remember(tx_hash, {"status": "committed", "height": height,
                                     "index": index, "result": tx_json})
        self._publish(signed, jsons)
        self._cond.notify_all()

    # -- pipelined production ------------------------------------------------------------
    def _produce_next(self) -> BlockResult | None:
        """Execute the next block on top of the last executed one, re-check the mempool
        on top of it, and queue the block for the committer thread."""
        with self._produce_lock:
            with self._cond:
                while self._uncommitted >= _PIPELINE_DEPTH and self._failure is None:
                    self._cond.wait(0.5)
                if self._failure is not None:
                    raise NodeStopped("the node stopped: a block failed to commit")
                batch = self.mempool.reap(self.config.max_block_txs,
                                          self.config.max_block_bytes)
                if not batch:
                    return None
                signed, result = self._execute([raw for _, raw in batch])
                self._tip_header = signed
                self.mempool.remove(h for h, _ in batch)
                self._inflight.update(batch)
                self._uncommitted += 1
                self._recheck_mempool(advance=True)
            self._committer.put((signed, batch))
            return result

    def _commit_failed(self, item: tuple[SignedHeader, Any], exc: BaseException) -> None:
        # The one log line of this failure, worded as the serial producer's (operators and
        # tests look for "block production failed"); the block thread then stops quietly.
        log.error("block production failed: committing block %d failed (%s); the node stops",
                  item[0].header.height, exc.__class__.__name__, exc_info=exc)
        with self._cond:
            self._failure = exc
            self.app.abandon()  # every staged block: replayed from the store
            self._cond.notify_all()
        self._stop.set()

    def _commit_one(self, item: tuple[SignedHeader, list[tuple[bytes, bytes]]]) -> None:
        signed, batch = item
        result = self.app.pending_result()
        if result.app_hash != signed.header.app_hash:
            raise ChainError("the committer's block is not the oldest finalized one")
        hashes = [h for h, _ in batch]
        jsons = [r.to_json() for r in result.tx_results]
        self.blocks.save(signed, [raw for _, raw in batch], jsons, hashes)
        self.app.persist()
        with self._cond:
            self.app.finish_commit(keep_check=True)
            for tx_hash in hashes:
                del self._inflight[tx_hash]
            self._uncommitted -= 1
            self._committed(signed, hashes, jsons)
        self._prune(signed.header.height)

    def _wait_state(self, height: int) -> None:
        with self._cond:
            while self.state.version() < height and self._failure is None:
                self._cond.wait(0.5)
        if self._failure is not None and self.state.version() < height:
            raise self._failure  # what the committer's block met (as a serial commit)

    def _prune(self, height: int) -> None:
        """Every ``keep_versions`` blocks, forget the state versions older than the last
        ``keep_versions``, right after a commit (pipelined: in the committer thread,
        while the next block may be staged: what it reads is kept, see
        ``SqliteStateStore.prune``). Latest reads and check_tx go on meanwhile; reads
        below answer query/3."""
        keep = self.config.keep_versions
        if keep > 0 and height % keep == 0:
            deleted = self.state.prune(max(0, height - keep + 1))
            log.info("pruned state below %d: %s", height - keep + 1, deleted)

    def _execute(self, raws: list[bytes]) -> tuple[SignedHeader, BlockResult]:
        prev = self._tip_header
        height = 1 if prev is None else prev.header.height + 1
        now = self._clock()
        time_ms = now if prev is None else max(now, prev.header.time_ms + 1)
        result = self.app.finalize_block(BlockInfo(height, time_ms), raws)
        header = Header(
            chain_id=self.app.chain_id, height=height, time_ms=time_ms,
            prev_hash=GENESIS_PREV_HASH if prev is None else prev.header.hash(),
            num_txs=len(raws), tx_root=tx_root(raws), results_root=result.results_root,
            app_hash=result.app_hash, proposer=self.key.did)
        return sign_header(self.key, header), result

    def _recheck_mempool(self, advance: bool = False) -> None:
        leftovers = self.mempool.drain()
        if advance:  # pipelined: on top of the block just executed
            self.app.advance_check_state()
        else:
            self.app.reset_check_state()
        for tx_hash, raw in leftovers:
            result = self.app.check_tx(raw)
            if result.ok:
                self.mempool.add(tx_hash, raw)
            else:
                self._dropped[tx_hash] = result.to_json()
                if len(self._dropped) > _RECENT_MAX:
                    self._dropped.popitem(last=False)

    def _remember(self, tx_hash: bytes, entry: dict[str, Any]) -> None:
        self._recent[tx_hash] = entry
        if len(self._recent) > _RECENT_MAX:
            self._recent.popitem(last=False)

    def _loop(self) -> None:
        interval = self.config.block_interval_ms / 1000
        while not self._stop.is_set():
            with self._cond:
                # Pipelined: let txs gather while the pipeline is full (bigger blocks
                # cost less per tx), then the same wait as a serial node's.
                while not self._stop.is_set() and (not len(self.mempool) or (
                        self._uncommitted >= _PIPELINE_DEPTH and self._failure is None)):
                    self._cond.wait(0.5)
                deadline = time.monotonic() + interval
                while not self._stop.is_set() and len(self.mempool) < self.config.max_block_txs:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
            if self._stop.is_set():
                break
            try:
                if self._pipeline:
                    self._produce_next()
                else:
                    self.produce_block()
            except NodeStopped:
                if self._failure is not None:  # the committer failed and logged it
                    break
                log.exception("block production failed; the node stops")
                self._stop.set()
                raise
            except Exception:
                log.exception("block production failed; the node stops")
                self._stop.set()
                raise

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="solo-blocks", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout=30)
            self._thread = None
        self._committer.stop()  # after committing what is queued

    def close(self) -> None:
        self.stop()
        if self._verifier is not None:
            self._verifier.close()
            self._verifier = None
        with self._lock:
            self.state.close()
            self.blocks.close()

    @property
    def healthy(self) -> bool:
        return self._failure is None and (self._thread is None or self._thread.is_alive())


def _error_result(tx_hash: bytes, exc: CodedError) -> TxResult:
    return TxResult(tx_hash, exc.code, exc.codespace, exc.log)


if TYPE_CHECKING:
    from phrchain.engine.port import NodePort

    def _implements_node_port(node: SoloNode) -> NodePort:
        return node  # mypy checks SoloNode against the Protocol here
