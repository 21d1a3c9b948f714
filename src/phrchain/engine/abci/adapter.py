"""The phrchain :class:`~phrchain.app.Application` behind CometBFT's ABCI 2.0 methods.

Only the mapping lives here (protobuf in, protobuf out); the wire protocol is
``server.py`` and the state machine is ``phrchain.app``, unchanged.

- ``Info``: the last *committed* height and its app hash, so after a crash CometBFT
  replays whatever blocks the app lacks (a block finalized but not committed was never
  written: the store stages it in memory only, and drops it when the block comes again).
- ``InitChain``: our genesis is CometBFT's ``chain_id``, ``genesis_time`` (to the ms) and
  ``app_state``. Validators: when ``app_state.governance.validators`` names the set
  (bound to organizations), CometBFT's genesis validators must be the same keys and
  powers, or be empty (the app's set is then returned as the initial set); a genesis
  without governance validators keeps CometBFT's set, which governance cannot change.
- ``CheckTx`` (new and re-check): ``Application.check_tx`` on the check state; a
  re-check does not verify again a signature that verified under the same key when the
  tx was new (every state-dependent check reruns).
- ``PrepareProposal``: the mempool's txs run in order on a scratch state at the block's
  height and time; those that would fail are dropped. ``ProcessProposal``: the same run;
  any failing tx rejects the proposal (a failed tx consumes nothing, not even its
  nonce, so it has no business in a block). An accepted proposal's run (an
  ``app.Trial``; for our own proposal, PrepareProposal's when it kept every tx) is kept
  by block hash until the height is finalized.
- ``FinalizeBlock``: execute — or, for the block kept by ProcessProposal (same hash,
  height, time and txs, on the same committed parent), finish that run instead of
  running its txs again; per-tx code/codespace/log and events; the block's events
  (governance outcomes) and validator updates (a passed validator proposal; CometBFT
  applies them at H+2); the app hash. Block time is the header's, truncated to integer
  milliseconds (no clock in the app).
- ``Commit``: persist atomically (one SQLite transaction). With ``keep_versions`` K > 0,
  every K blocks the state keeps only its last K versions (``SqliteStateStore.prune``;
  queries below answer ``query/3 height_unavailable``) and ``retain_height`` lets
  CometBFT prune its blocks below them (and below no offered snapshot); 0 = archive.
- ``Query``: ``path`` is an app query path, ``data`` its JSON arguments; the value is the
  JSON answer with its sparse-Merkle proof (``Application.query``).
- Snapshots (state sync, ``snapshots.py``): with ``snapshot_interval`` N > 0 the app
  snapshots its state at every N-th Commit and offers the newest; an empty app restores
  an offered snapshot chunk by chunk, each chunk checked against the snapshot's
  metadata and the rebuilt state against the light-client-verified app hash.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path
from typing import Any, Final

from google.protobuf.timestamp_pb2 import Timestamp

from phrchain import __version__
from phrchain.app import Application, BlockInfo, Trial, TxResult, new_application
from phrchain.core.errors import BAD_QUERY, ProofError, TxError
from phrchain.core.module import Event, ValidatorUpdate, block_of
from phrchain.core.state import StoreView
from phrchain.core.store import StateStore
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.snapshots import (
    Restore,
    SnapshotStore,
    decode_snapshot,
    describe,
    encode_snapshot,
)
from phrchain.storage.integrity import check_latest_state
from phrchain.storage.sqlite_state import SqliteStateStore

log = logging.getLogger(__name__)

APP_VERSION: Final = 1
# Protobuf overhead per tx in a block's data (field tag + length varint), counted
# against PrepareProposal's max_tx_bytes as CometBFT counts it.
_TX_OVERHEAD: Final = 1 + 10
_LAST_BLOCK_FILE: Final = "last_block.json"
# Accepted proposals kept per height (one per round that reached ProcessProposal).
_MAX_TRIALS: Final = 8


def timestamp_ms(ts: Timestamp) -> int:
    """CometBFT header time as integer milliseconds since the epoch (truncated)."""
    return int(ts.seconds) * 1000 + int(ts.nanos) // 1_000_000


def _fill_events(out: Any, events: tuple[Event, ...]) -> None:
    for event in events:
        abci_event = out.add()
        abci_event.type = event.type
        for key, value in event.attributes:
            abci_event.attributes.add(key=key, value=value, index=True)


def _fill_updates(out: Any, updates: tuple[ValidatorUpdate, ...]) -> None:
    for update in updates:
        entry = out.add()
        entry.pub_key.ed25519 = update.pub_key
        entry.power = update.power


def genesis_validators(app_state: dict[str, Any]) -> list[tuple[bytes, int]]:
    """``(Ed25519 key, power)`` of the validators the app's genesis names, in key order."""
    section = app_state.get("governance") or {}
    entries = section.get("validators", []) if isinstance(section, dict) else []
    return sorted((bytes.fromhex(v["pub_key"]), int(v["power"])) for v in entries)


def check_genesis_validators(app_state: dict[str, Any], req: pb.RequestInitChain,
                             res: pb.ResponseInitChain) -> None:
    """CometBFT's genesis validators and the app's must be one set (module docstring)."""
    ours = genesis_validators(app_state)
    if not ours:
        return
    theirs = sorted((bytes(v.pub_key.ed25519), int(v.power)) for v in req.validators)
    if not theirs:
        _fill_updates(res.validators, tuple(ValidatorUpdate(k, p) for k, p in ours))
    elif theirs != ours:
        raise ValueError("CometBFT's genesis validators differ from "
                         "app_state.governance.validators (keys or powers)")


def _fill_result(out: Any, result: TxResult) -> None:
    out.code = result.code
    if result.code:
        out.codespace = result.codespace
        out.log = result.log
    # CometBFT's LastResultsHash covers code and data only: put the hash of our
    # consensus result (codespace and events included) in data, so it covers them too.
    out.data = hashlib.sha256(result.leaf()).digest()
    _fill_events(out.events, result.events)


class AbciApplication:
    """One validator's application, answering ABCI requests (see module docstring)."""

    def __init__(self, store: StateStore, home: Path | None = None,
                 snapshot_interval: int = 0, keep_versions: int = 0,
                 reuse_trials: bool = True) -> None:
        self.store = store
        self.home = home
        self.snapshot_interval = snapshot_interval
        # 0: an archive node (every version); K: prune to the last K versions every K
        # blocks and let CometBFT prune its blocks below them (retain_height).
        self.keep_versions = keep_versions
        self.snapshots = SnapshotStore(home / "snapshots") if home is not None else None
        self._restore: Restore | None = None
        self.app: Application = new_application(store)
        # CometBFT calls the consensus and mempool connections concurrently; the app is
        # one state machine, so they take turns. Queries read committed versions only.
        self._lock = threading.Lock()
        self._finalized: int | None = None
        # The last proposal this node prepared, all of whose txs passed: (height, time,
        # txs), and its run when it kept every tx it was given (else None).
        self._prepared: tuple[tuple[int, int, tuple[bytes, ...]], Trial | None] | None = None
        # Accepted proposals' runs by block hash, for FinalizeBlock (module docstring);
        # ``reuse_trials=False`` re-executes every block (a reference for tests).
        self.reuse_trials = reuse_trials
        self._trials: dict[bytes, Trial] = {}
        self.reused = self.executed = 0  # finalized blocks, by how
        # Calls and seconds per ABCI method since the last Commit (logged at each Commit).
        self._spent: dict[str, list[Any]] = {}
        self._restore_last_block_time()

    @classmethod
    def open(cls, home: Path, state_writer: bool = False, snapshot_interval: int = 0,
             keep_versions: int = 0) -> AbciApplication:
        """The app over ``home/state.db``, refused (``StateIntegrityError``) when the stored
        values do not hash to the stored root: an edited database would otherwise be
        reported to CometBFT as the committed app hash. The state writer process (see
        ``storage/writer.py``) pays off when the node has a core to spare; N validators
        on a small machine do not, and in-process writes cost less CPU in total."""
        home.mkdir(parents=True, exist_ok=True)
        # An archive node (keep_versions 0) never prunes: it records no orphans.
        store = SqliteStateStore(home / "state.db", writer=state_writer,
                                 orphans=keep_versions > 0)
        try:  # the root CometBFT will be told must be the root of the stored values
            if store.version() >= 0:
                check_latest_state(store, store.root())
        except BaseException:
            store.close()
            raise
        return cls(store, home, snapshot_interval, keep_versions)

    def close(self) -> None:
        with self._lock:
            close = getattr(self.store, "close", None)
            if close is not None:
                close()

    # -- dispatch (server.Handler) --------------------------------------------------------
    def handle(self, kind: str, request: Any, response: Any) -> None:
        start = time.perf_counter()
        getattr(self, kind)(request, response)
        spent = self._spent.setdefault(kind, [0, 0.0])
        spent[0] += 1
        spent[1] += time.perf_counter() - start

    # -- info and genesis -------------------------------------------------------------------
    def info(self, req: pb.RequestInfo, res: pb.ResponseInfo) -> None:
        # Also asked at run time (RPC /abci_info, on the query connection), possibly
        # between FinalizeBlock and Commit: it reports what is durable and changes nothing.
        with self._lock:
            res.data = "phrchain"
            res.version = __version__
            res.app_version = APP_VERSION
            height = self.store.version()
            if height >= 0:
                res.last_block_height = height
                res.last_block_app_hash = self.store.root()

    def init_chain(self, req: pb.RequestInitChain, res: pb.ResponseInitChain) -> None:
        if req.initial_height not in (0, 1):
            raise ValueError("phrchain chains start at height 1")
        app_state = json.loads(req.app_state_bytes) if req.app_state_bytes else {}
        genesis = {"chain_id": req.chain_id, "genesis_time_ms": timestamp_ms(req.time),
                   "app_state": app_state}
        with self._lock:
            if self.store.version() >= 0:  # a restart before block 1: same genesis again
                if self.app.chain_id != req.chain_id:
                    raise ValueError(f"the store holds chain {self.app.chain_id!r}")
                res.app_hash = self.store.root(0)
                check_genesis_validators(app_state, req, res)
                return
            res.app_hash = self.app.init_chain(genesis)  # checks the sections first
            check_genesis_validators(app_state, req, res)
        log.info("genesis of %s: app hash %s", req.chain_id, res.app_hash.hex())

    # -- mempool ----------------------------------------------------------------------------
    def check_tx(self, req: pb.RequestCheckTx, res: pb.ResponseCheckTx) -> None:
        recheck = req.type == pb.RECHECK
        with self._lock:
            result = self.app.check_tx(req.tx, recheck)
        res.code = result.code
        if result.code:
            res.codespace = result.codespace
            res.log = result.log

    # -- proposals --------------------------------------------------------------------------
    def prepare_proposal(self, req: pb.RequestPrepareProposal,
                         res: pb.ResponsePrepareProposal) -> None:
        block = BlockInfo(req.height, timestamp_ms(req.time))
        with self._lock:
            trial = self.app.trial(block, req.txs)
        budget = req.max_tx_bytes
        dropped = 0
        for raw, result in zip(req.txs, trial.results, strict=True):
            if not result.ok:
                dropped += 1
                continue
            budget -= len(raw) + _TX_OVERHEAD
            if budget < 0:
                break
            res.txs.append(raw)
        kept = len(res.txs) == len(req.txs)
        self._prepared = ((block.height, block.time_ms, tuple(res.txs)),
                          trial if kept else None)
        if dropped:
            log.info("proposal %d: dropped %d tx(s) that would fail", req.height, dropped)

    def process_proposal(self, req: pb.RequestProcessProposal,
                         res: pb.ResponseProcessProposal) -> None:
        block = BlockInfo(req.height, timestamp_ms(req.time))
        prepared = self._prepared
        if prepared is not None and prepared[0] == (block.height, block.time_ms,
                                                    tuple(req.txs)):
            # Our own proposal: every tx already passed on this same committed state at
            # this height and time, and nothing commits between Prepare and Process.
            res.status = pb.ResponseProcessProposal.ACCEPT
            if prepared[1] is not None:
                self._keep(bytes(req.hash), prepared[1])
            return
        with self._lock:
            trial = self.app.trial(block, req.txs)
        bad = [(i, r) for i, r in enumerate(trial.results) if not r.ok]
        if bad:
            index, first = bad[0]
            log.warning("rejecting proposal %d: tx %d (%s) fails with %s/%d", req.height,
                        index, first.hash.hex(), first.codespace, first.code)
            res.status = pb.ResponseProcessProposal.REJECT
        else:
            res.status = pb.ResponseProcessProposal.ACCEPT
            self._keep(bytes(req.hash), trial)

    def _keep(self, block_hash: bytes, trial: Trial) -> None:
        if not self.reuse_trials or not block_hash:
            return
        with self._lock:
            self._trials = {h: t for h, t in self._trials.items()
                            if t.block.height == trial.block.height}
            self._trials[block_hash] = trial
            while len(self._trials) > _MAX_TRIALS:
                del self._trials[next(iter(self._trials))]

    # -- blocks -----------------------------------------------------------------------------
    def finalize_block(self, req: pb.RequestFinalizeBlock,
                       res: pb.ResponseFinalizeBlock) -> None:
        block = BlockInfo(req.height, timestamp_ms(req.time))
        with self._lock:
            self._drop_uncommitted()
            trial = self._trials.get(bytes(req.hash))
            self._trials = {}
            if trial is not None and self.app.fits(trial, block, req.txs):
                self.reused += 1
            else:
                trial = None
                self.executed += 1
            result = self.app.finalize_block(block, req.txs, trial)
            self._finalized = req.height
        for tx_result in result.tx_results:
            _fill_result(res.tx_results.add(), tx_result)
        _fill_events(res.events, result.events)
        _fill_updates(res.validator_updates, result.validator_updates)
        if result.validator_updates:
            log.info("block %d: %d validator update(s), effective at %d", req.height,
                     len(result.validator_updates), req.height + 2)
        res.app_hash = result.app_hash

    def commit(self, req: pb.RequestCommit, res: pb.ResponseCommit) -> None:
        with self._lock:
            if self._finalized is None:
                raise ValueError("Commit without FinalizeBlock")
            height = self._finalized
            self.app.commit()
            self._finalized = None
            self._save_last_block_time(height)
        if self.snapshots is not None and self.snapshot_interval > 0 \
                and height % self.snapshot_interval == 0:
            # Reads at a committed height: safe while the next block runs.
            log.info("snapshot %s", describe(self.snapshots.take(self.store, height)))
        if self.keep_versions > 0:
            res.retain_height = self._prune(height)
        if log.isEnabledFor(logging.INFO):
            log.info("committed %d (blocks finalized from a kept run %d, run again %d); "
                     "since the last commit: %s", height, self.reused, self.executed,
                     ", ".join(f"{kind} {n}x {1000 * t:.0f} ms"
                               for kind, (n, t) in sorted(self._spent.items())))
        self._spent = {}

    def _prune(self, height: int) -> int:
        """Prune state versions every ``keep_versions`` blocks; the retain height for
        CometBFT's blocks: the oldest retained version, or the oldest offered snapshot
        if older (a node state-syncing from it needs the blocks after it)."""
        keep_from = max(0, height - self.keep_versions + 1)
        prune = getattr(self.store, "prune", None)
        if prune is not None and height % self.keep_versions == 0:
            with self._lock:
                deleted = prune(keep_from)
            log.info("pruned state below %d: %s", keep_from, deleted)
        offered = self.snapshots.heights() if self.snapshots is not None else []
        return min([keep_from, *offered[:1]])

    def _drop_uncommitted(self) -> None:
        # CometBFT restarted after FinalizeBlock without Commit (the app kept running) and
        # replays the block: the staged copy was never durable, so it is dropped and the
        # block executed again.
        if self._finalized is not None:
            log.warning("dropping finalized but uncommitted block %d", self._finalized)
            self.app.abandon()
            self._finalized = None

    # Block time is not part of the state (it would change the app hash); check_tx runs
    # "as of" the last block, so a restarted app reads it from this small side file.
    def _save_last_block_time(self, height: int) -> None:
        if self.home is None:
            return
        tmp = self.home / (_LAST_BLOCK_FILE + ".tmp")
        tmp.write_text(json.dumps({"height": height, "time_ms": self.app.last_block_time_ms}))
        os.replace(tmp, self.home / _LAST_BLOCK_FILE)

    def _restore_last_block_time(self) -> None:
        if self.home is None or not (self.home / _LAST_BLOCK_FILE).exists():
            return
        saved = json.loads((self.home / _LAST_BLOCK_FILE).read_text())
        if saved.get("height") == self.store.version():
            self.app.last_block_time_ms = int(saved["time_ms"])

    # -- queries ----------------------------------------------------------------------------
    def query(self, req: pb.RequestQuery, res: pb.ResponseQuery) -> None:
        try:
            data = json.loads(req.data) if req.data else {}
            if not isinstance(data, dict):
                raise BAD_QUERY("query data must be a JSON object")
            answer = self.app.query(req.path, data, req.height or None, req.prove)
        except json.JSONDecodeError as exc:
            res.code, res.codespace = BAD_QUERY.code, BAD_QUERY.codespace
            res.log = f"query data is not JSON: {exc}"
            return
        except TxError as exc:
            res.code, res.codespace, res.log = exc.code, exc.codespace, exc.log
            return
        except Exception as exc:
            # A query bug must not become a ResponseException: CometBFT stops the whole
            # node on one. The type only: the message could quote the query's data.
            log.error("query %s raised %s (a bug: please report)", req.path,
                      type(exc).__name__)
            res.code, res.codespace = BAD_QUERY.code, BAD_QUERY.codespace
            res.log = "the query failed unexpectedly; see the node's app log"
            return
        res.value = json.dumps(answer, sort_keys=True, separators=(",", ":")).encode()
        res.height = answer["height"]
        if "key" in answer:
            res.key = bytes.fromhex(answer["key"])

    # -- unused ABCI 2.0 features -----------------------------------------------------------
    def echo(self, req: pb.RequestEcho, res: pb.ResponseEcho) -> None:
        res.message = req.message

    def extend_vote(self, req: pb.RequestExtendVote, res: pb.ResponseExtendVote) -> None:
        """Vote extensions are off (no ``vote_extensions_enable_height``): empty."""

    def verify_vote_extension(self, req: pb.RequestVerifyVoteExtension,
                              res: pb.ResponseVerifyVoteExtension) -> None:
        res.status = (pb.ResponseVerifyVoteExtension.ACCEPT if not req.vote_extension
                      else pb.ResponseVerifyVoteExtension.REJECT)

    def list_snapshots(self, req: pb.RequestListSnapshots,
                       res: pb.ResponseListSnapshots) -> None:
        for snapshot in self.snapshots.list() if self.snapshots is not None else []:
            res.snapshots.append(encode_snapshot(snapshot))

    def offer_snapshot(self, req: pb.RequestOfferSnapshot,
                       res: pb.ResponseOfferSnapshot) -> None:
        with self._lock:
            if self.store.version() >= 0 or not hasattr(self.store, "import_version"):
                res.result = pb.ResponseOfferSnapshot.REJECT  # only an empty app restores
                return
            try:
                offer = decode_snapshot(req.snapshot)
                self._restore = Restore(offer.height, offer.format, offer.chunks, offer.hash,
                                        offer.metadata, bytes(req.app_hash))
            except ValueError:
                res.result = pb.ResponseOfferSnapshot.REJECT_FORMAT
                return
            except ProofError as exc:
                log.warning("snapshot refused: %s", exc)
                res.result = pb.ResponseOfferSnapshot.REJECT
                return
        log.info("restoring the snapshot of height %d (%d chunks)", offer.height,
                 offer.chunks)
        res.result = pb.ResponseOfferSnapshot.ACCEPT

    def load_snapshot_chunk(self, req: pb.RequestLoadSnapshotChunk,
                            res: pb.ResponseLoadSnapshotChunk) -> None:
        if self.snapshots is not None:
            res.chunk = self.snapshots.chunk(req.height, req.format, req.chunk)

    def apply_snapshot_chunk(self, req: pb.RequestApplySnapshotChunk,
                             res: pb.ResponseApplySnapshotChunk) -> None:
        with self._lock:
            restore = self._restore
            if restore is None:
                res.result = pb.ResponseApplySnapshotChunk.ABORT
                return
            if not restore.accept(req.index, bytes(req.chunk)):
                log.warning("snapshot chunk %d from %s does not match its hash", req.index,
                            req.sender)
                res.result = pb.ResponseApplySnapshotChunk.RETRY
                return
            res.result = pb.ResponseApplySnapshotChunk.ACCEPT
            if not restore.complete:
                return
            self._restore = None
            try:
                restore.apply(self.store)  # type: ignore[arg-type]
            except ProofError as exc:
                log.warning("snapshot of height %d rejected: %s", restore.height, exc)
                res.result = pb.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
                return
            self.app = new_application(self.store)
            view = StoreView(self.store.get, self.store.iterate)
            self.app.last_block_time_ms = block_of(view)[1]
            self._save_last_block_time(restore.height)
        log.info("state restored at height %d, app hash %s", restore.height,
                 restore.app_hash.hex())
