"""The phrchain state machine: an explicit ordered list of modules behind one small API.

Engines drive it the same way: the embedded solo engine in-process, CometBFT over ABCI.

- :meth:`Application.init_chain` — genesis state (version 0), returns the app hash.
- :meth:`Application.check_tx` — would this tx succeed now? Run against a *check state*
  that accumulates the mempool's accepted txs, so a signer can queue nonces n, n+1, …
- :meth:`Application.finalize_block` — execute a block's txs in order; per-tx results,
  events and the new app hash (the root of the whole state). Nothing is durable yet.
- :meth:`Application.commit` — persist the finalized block's state atomically.
- :meth:`Application.query` — module queries at any retained height, with a proof.

Every tx runs in its own write buffer; a rejected tx (any stable error code) changes
nothing, not even its signer's nonce.

After a block's txs, the modules' end-block hooks run (``EndBlocker``: governance closes
votes and executes their outcome there); their events and validator updates are
returned in the :class:`BlockResult` (CometBFT applies validator updates at H+2; the
solo engine has one block signer and ignores them). Each block runs the rule version
the ``RuleSchedule`` module (governance) names for its height: the message handlers of
that version (``VersionedRules``), so a scheduled upgrade changes the rules from its
height on while older blocks replay with the rules they ran.
"""

from __future__ import annotations

import logging
from collections import OrderedDict, deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core import encoding, keys, rfc9162, smt
from phrchain.core.errors import (
    BAD_QUERY,
    BAD_SIGNATURE,
    NONCE_REPLAYED,
    NONCE_SKIPPED,
    STATE_CORRUPT,
    UNKNOWN_MESSAGE,
    UNKNOWN_QUERY,
    WRONG_CHAIN,
    CryptoError,
    EncodingError,
    ErrorCode,
    ProofError,
    TxError,
    register,
)
from phrchain.core.hashing import sha256
from phrchain.core.module import (
    BLOCK_KEY,
    Authenticator,
    Context,
    EndBlocker,
    Event,
    Handler,
    Module,
    Query,
    RuleSchedule,
    SignatureJob,
    SignedMessages,
    ValidatorUpdate,
)
from phrchain.core.rules import UpgradeRequired, rule_tables
from phrchain.core.state import Overlay, Reader, StoreView
from phrchain.core.store import StateStore
from phrchain.core.tx import Tx, decode_tx

__all__ = ["AppInfo", "Application", "BlockInfo", "BlockResult", "TxResult",
           "UpgradeRequired", "default_modules", "new_application"]

log = logging.getLogger(__name__)

MAX_WRITES_PER_TX: Final = 512
# Bigger than the default mempool, so a re-check after a block never re-verifies.
_CACHE_SIZE: Final = 200_000
CHAIN_ID_KEY: Final = b"app/chain_id"
# The state version a genesis must declare (``app_state.version``). Version 2 is the
# chain of issue 14 (sealed record descriptors, pseudonyms, sealed audit entries); a
# version 1 chain is a new-genesis cut, not migrated (docs/privacy-v2-design.md § 0).
STATE_VERSION: Final = 2
INTERNAL_ERROR = register("tx", 99, "internal_error", "the handler failed unexpectedly")
UPGRADE_REQUIRED = register("tx", 21, "upgrade_required",
                            "the chain runs a rule version this node's code does not have")



@dataclass(frozen=True, slots=True)
class BlockInfo:
    """What the engine tells the app about the block being executed."""

    height: int
    time_ms: int


@dataclass(frozen=True, slots=True)
class TxResult:
    hash: bytes
    code: int
    codespace: str
    log: str
    events: tuple[Event, ...] = ()

    @property
    def ok(self) -> bool:
        return self.code == 0

    def to_json(self) -> dict[str, Any]:
        """What is stored and served: the consensus fields plus the human ``log``."""
        return {**self.consensus_json(), "log": self.log}

    def consensus_json(self) -> dict[str, Any]:
        """The fields every node must agree on. ``log`` is left out (as CometBFT leaves it
        out of its results hash): it is a human sentence whose detail may come from the
        Python runtime, while the code says everything consensus needs."""
        return {"hash": self.hash.hex(), "code": self.code, "codespace": self.codespace,
                "events": [e.to_json() for e in self.events]}

    def leaf(self) -> bytes:
        """This result's leaf in the block's results root: what replay must reproduce."""
        return encoding.encode_trusted(self.consensus_json())


@dataclass(frozen=True, slots=True)
class BlockResult:
    height: int
    tx_results: tuple[TxResult, ...]
    app_hash: bytes
    results_root: bytes
    # What the end-block hooks did: events (outside ``results_root``: their effects are
    # in the state and so in ``app_hash``), and validator power changes (0 removes),
    # one per key, in key order.
    events: tuple[Event, ...] = ()
    validator_updates: tuple[ValidatorUpdate, ...] = ()
    rules_version: int = 1

    @staticmethod
    def root_of(results: Sequence[TxResult]) -> bytes:
        """RFC 9162 root over the results' canonical leaves (the header's results_root)."""
        return rfc9162.root_from_leaf_hashes([rfc9162.leaf_hash(r.leaf()) for r in results])


@dataclass(slots=True)
class Trial:
    """A block's txs run in order on a scratch buffer over the committed state ``parent``
    (version, root): what :meth:`Application.finalize_block` would compute before its
    end-block hooks. An engine that vetted a block this way may hand it back to
    ``finalize_block`` for the same block on the same parent instead of running the txs
    again; anything else (another block, another parent, a used trial) is re-executed."""

    block: BlockInfo
    parent: tuple[int, bytes]
    txs: tuple[bytes, ...]
    state: Overlay
    results: tuple[TxResult, ...]
    version: int
    used: bool = False

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.results)


@dataclass(frozen=True, slots=True)
class AppInfo:
    height: int
    app_hash: bytes
    chain_id: str


def check_genesis_version(genesis: Mapping[str, Any]) -> None:
    """Refuse a genesis that does not declare ``app_state.version`` = STATE_VERSION."""
    app_state = genesis.get("app_state")
    version = app_state.get("version") if isinstance(app_state, Mapping) else None
    if type(version) is not int or version != STATE_VERSION:
        shown = "missing" if version is None else repr(version)
        raise ValueError(
            f"genesis app_state.version is {shown}: version 1 chains are not supported by "
            f"this release; start a new chain whose genesis declares "
            f'"app_state": {{"version": {STATE_VERSION}, ...}} (docs/privacy-v2-design.md)')


class Application:
    """Deterministic state machine; the only shared object between engine and modules."""

    def __init__(self, store: StateStore, modules: Sequence[Module],
                 auth: Authenticator) -> None:
        self.store = store
        self.modules = tuple(modules)
        self.auth = auth
        self._handlers: dict[str, Handler] = {}
        self._queries: dict[str, Query] = {}
        for module in self.modules:
            for msg_type, handler in module.handlers().items():
                if not msg_type.startswith(module.name + "/") or msg_type in self._handlers:
                    raise ValueError(f"bad or duplicate message type {msg_type}")
                self._handlers[msg_type] = handler
            for path, query in module.queries().items():
                self._queries[f"{module.name}/{path}"] = query
        self._rules = rule_tables(self.modules, self._handlers)
        self._signature_jobs: dict[str, SignatureJob] = {
            msg_type: job for m in self.modules if isinstance(m, SignedMessages)
            for msg_type, job in m.message_signatures().items()}
        # signatures carried inside messages, known to verify (see VerifiedSignatures)
        self._signatures = keys.VerifiedSignatures()
        self._end_blockers = [m for m in self.modules if isinstance(m, EndBlocker)]
        schedules = [m for m in self.modules if isinstance(m, RuleSchedule)]
        if len(schedules) > 1:
            raise ValueError("more than one module schedules rule versions")
        self._schedule: RuleSchedule | None = schedules[0] if schedules else None
        self._check_rules: tuple[int, Mapping[str, Handler]] | None = None
        # Decoded txs, or the (code, detail) a tx was refused with: an exception object is
        # not cached, since re-raising one grows its traceback and pins its frames.
        self._decoded: OrderedDict[bytes, Tx | tuple[ErrorCode, str]] = OrderedDict()
        self._verified: OrderedDict[tuple[bytes, bytes], None] = OrderedDict()
        # tx hash -> the key its signature verified under when check_tx first passed it
        # (what a mempool recheck trusts; kept apart from the LRU above).
        self._mempool_keys: OrderedDict[bytes, bytes] = OrderedDict()
        # Finalized blocks not yet committed, oldest first, each with its time and its
        # state overlay: more than one only when an engine pipelines (executes block N+1
        # on top of N's overlay while N's commit is under way).
        self._pending: deque[tuple[BlockResult, int, Overlay]] = deque()
        # (height, time) check_tx runs as, once advance_check_state put the check state
        # on top of the newest finalized block; None = on top of the committed state.
        self._check_tip: tuple[int, int] | None = None
        # Time of the last executed block (check_tx runs "as of" it). An engine that
        # restarts without replaying sets it from its last stored header.
        self.last_block_time_ms = 0
        chain_id = store.get(CHAIN_ID_KEY) if store.version() >= 0 else None
        self.chain_id = chain_id.decode() if chain_id else ""
        self._check = self._fresh_overlay()

    # -- lifecycle --------------------------------------------------------------------
    def info(self) -> AppInfo:
        return AppInfo(self.store.version(), self.store.root(), self.chain_id)

    def init_chain(self, genesis: Mapping[str, Any]) -> bytes:
        """Write genesis state as version 0; return the genesis app hash."""
        if self.store.version() >= 0:
            raise ValueError("chain already initialised")
        check_genesis_version(genesis)
        chain_id = genesis["chain_id"]
        state = Overlay(StoreView(self.store.get, self.store.iterate))
        state.set(CHAIN_ID_KEY, chain_id.encode())
        self.last_block_time_ms = int(genesis["genesis_time_ms"])
        ctx = Context(chain_id, 0, self.last_block_time_ms, "", state)
        for module in self.modules:
            module.init_genesis(ctx, genesis.get("app_state", {}).get(module.name, {}))
        app_hash = self.store.stage(0, state.changes)
        self.store.commit()
        self.chain_id = chain_id
        self._check = self._fresh_overlay()
        return app_hash

    def check_tx(self, raw: bytes, recheck: bool = False) -> TxResult:
        """Run ``raw`` against the check state; on success it stays applied there.

        It runs as if in the next block at the last block's time (the check state is
        advisory: the block that includes the tx decides). ``recheck``: the mempool
        re-checks a tx that passed before; its signature is not verified again when it
        verified under the signer's current key (every state-dependent check reruns)."""
        block = BlockInfo(self.store.version() + 1, self.last_block_time_ms) \
            if self._check_tip is None else BlockInfo(*self._check_tip)
        try:
            # The schedule changes only in end-block hooks, never in a tx: the check
            # state's table is that of the committed state, cached per height.
            if self._check_rules is None or self._check_rules[0] != block.height:
                self._check_rules = (block.height, self.handlers_at(self._check, block.height))
            handlers = self._check_rules[1]
        except UpgradeRequired as exc:
            return TxResult(sha256(raw), UPGRADE_REQUIRED.code, UPGRADE_REQUIRED.codespace,
                            UPGRADE_REQUIRED(str(exc)).log)
        return self._run(self._check, block, raw, handlers, recheck)

    def finalize_block(self, block: BlockInfo, txs: Sequence[bytes],
                       trial: Trial | None = None) -> BlockResult:
        """Execute and stage block ``block``: the next after the committed state, or
        (pipelining, with a store that stages on top of staged versions) after the newest
        finalized but uncommitted block, whose state it then reads. ``trial``: this
        block's txs already run by :meth:`trial` (kept by the engine from
        ProcessProposal); reused only when :meth:`fits` says it is this block on this
        parent, else the txs run again."""
        # (the store's head moves before finish_commit pops its block: count from either)
        expected = self._pending[-1][0].height + 1 if self._pending \
            else self.store.version() + 1
        if block.height != expected:
            raise ValueError(f"expected block {expected}, got {block.height}")
        if trial is None or not self.fits(trial, block, txs):
            trial = self.trial(block, txs, self._pending[-1][2] if self._pending else None)
        trial.used = True
        state, results = trial.state, trial.results
        events, updates = self._end_block(state, block)
        app_hash = self.store.stage(block.height, state.changes)
        result = BlockResult(block.height, results, app_hash, BlockResult.root_of(results),
                             events, updates, trial.version)
        self._pending.append((result, block.time_ms, state))
        return result

    def trial(self, block: BlockInfo, txs: Sequence[bytes],
              base: Overlay | None = None) -> Trial:
        """Run ``txs`` as block ``block`` on a scratch buffer over the committed state
        (or over ``base``, an uncommitted block's overlay; nothing is staged); see
        :class:`Trial`."""
        parent = (self.store.version(), self.store.root())
        state = self._block_overlay(block, base)
        version = self.rules_version(state, block.height)
        handlers = self._rule_table(version, block.height)
        results = tuple(self._run(state, block, raw, handlers) for raw in txs)
        return Trial(block, parent, tuple(txs), state, results, version)

    def fits(self, trial: Trial, block: BlockInfo, txs: Sequence[bytes]) -> bool:
        """Whether ``trial`` is block ``block`` with ``txs`` on the current committed
        state, unused, with nothing staged: then finalizing it equals executing anew."""
        return (not trial.used and not self._pending and trial.block == block
                and trial.parent == (self.store.version(), self.store.root())
                and trial.txs == tuple(txs))

    # -- rule versions and end-block hooks ------------------------------------------------
    @property
    def latest_rules_version(self) -> int:
        """The newest rule version this code base implements."""
        return max(self._rules)

    def rules_version(self, state: Reader, height: int) -> int:
        """The rule version block ``height`` runs (1 without a schedule)."""
        return 1 if self._schedule is None else self._schedule.rules_version(state, height)

    def handlers_at(self, state: Reader, height: int) -> Mapping[str, Handler]:
        """The message handlers block ``height`` runs (raises :class:`UpgradeRequired`
        when this code base lacks its rule version)."""
        return self._rule_table(self.rules_version(state, height), height)

    def _rule_table(self, version: int, height: int) -> Mapping[str, Handler]:
        handlers = self._rules.get(version)
        if handlers is None:
            raise UpgradeRequired(
                f"block {height} runs rule version {version}; this release implements "
                f"versions 1 to {self.latest_rules_version}: install one that has it")
        return handlers

    def _end_block(self, state: Overlay, block: BlockInfo
                   ) -> tuple[tuple[Event, ...], tuple[ValidatorUpdate, ...]]:
        ctx = Context(self.chain_id, block.height, block.time_ms, "", state)
        powers: dict[bytes, int] = {}
        for module in self._end_blockers:
            for update in module.end_block(ctx):
                powers[update.pub_key] = update.power  # the last change of a key wins
        return tuple(ctx.events), tuple(ValidatorUpdate(k, powers[k]) for k in sorted(powers))

    def trial_block(self, block: BlockInfo, txs: Sequence[bytes]) -> tuple[TxResult, ...]:
        """Run ``txs`` in order as block ``block`` would, on a scratch copy of the committed
        state, and return their results. Nothing is staged or kept.

        For engines that vet a block before executing it: CometBFT's PrepareProposal drops
        the txs that would fail, and ProcessProposal rejects a proposal holding one (a
        rejected tx consumes nothing, not even its nonce, so it must never be in a block)."""
        return self.trial(block, txs).results

    def _block_overlay(self, block: BlockInfo, base: Overlay | None = None) -> Overlay:
        """A fresh buffer over committed state (or over ``base``, an uncommitted block's
        overlay) with the block's height and time set, as every block's execution
        starts."""
        state = self._fresh_overlay() if base is None else Overlay(base)
        state.set(BLOCK_KEY, encoding.encode_trusted({"height": block.height,
                                                      "time_ms": block.time_ms}))
        return state

    def commit(self) -> BlockResult:
        """Persist the finalized block's state, then start a fresh check state."""
        self.persist()
        return self.finish_commit()

    def persist(self) -> None:
        """The I/O half of :meth:`commit`. An engine may run it while ``check_tx`` runs
        in another thread: reads are bounded by the store's committed version, which
        moves only when the write is durable."""
        if not self._pending:
            raise ValueError("no finalized block to commit")
        self.store.commit()  # the oldest staged version

    def pending_result(self) -> BlockResult:
        """The oldest finalized block not yet committed (what :meth:`persist` writes)."""
        if not self._pending:
            raise ValueError("no finalized block to commit")
        return self._pending[0][0]

    def finish_commit(self, keep_check: bool = False) -> BlockResult:
        """The bookkeeping half of :meth:`commit` (call with the engine's lock held), for
        the oldest finalized block. ``keep_check``: leave the check state where
        :meth:`advance_check_state` put it (a pipelining engine)."""
        if not self._pending:
            raise ValueError("no finalized block to commit")
        done, time_ms, _ = self._pending.popleft()
        self.last_block_time_ms = time_ms
        if self._pending:  # the next block now reads committed state, not the overlay
            self._pending[0][2].rebase(StoreView(self.store.get, self.store.iterate))
        if not keep_check:
            self._check, self._check_tip = self._fresh_overlay(), None
        return done

    def abandon(self) -> None:
        """Drop every finalized but uncommitted block (the engine failed to persist)."""
        self.store.discard()
        self._pending.clear()
        if self._check_tip is not None:  # it sat on a dropped block's state
            self.reset_check_state()

    def reset_check_state(self) -> None:
        self._check, self._check_tip = self._fresh_overlay(), None

    def advance_check_state(self) -> None:
        """Put a fresh check state on top of the newest finalized block (committed or
        not), as the block after it: a pipelining engine re-checks its mempool there
        right after executing a block instead of after committing it."""
        if not self._pending:
            self.reset_check_state()
            return
        result, time_ms, state = self._pending[-1]
        self._check, self._check_tip = Overlay(state), (result.height + 1, time_ms)

    def check_state_writes(self) -> dict[bytes, bytes | None]:
        """A copy of the writes the check state holds (those of the mempool's accepted
        txs): what a refused ``check_tx`` must leave exactly as it found it."""
        return dict(self._check.changes)

    def _fresh_overlay(self) -> Overlay:
        return Overlay(StoreView(self.store.get, self.store.iterate))

    # -- signature pre-verification (engines may verify in parallel) -------------------
    def signature_job(self, raw: bytes) -> tuple[bytes, bytes, bytes, bytes] | None:
        """``(tx hash, public key, signature, signed bytes)`` for an engine to verify
        elsewhere, or ``None`` if the tx is malformed, already verified or its signer
        cannot be resolved now (``check_tx`` will then say why)."""
        try:
            tx = self._decode(raw)
            public_key = self.auth.signer_key(self._check, tx.signer, tx.msgs)
        except TxError:
            return None
        if (tx.hash, public_key) in self._verified:
            return None
        return tx.hash, public_key, tx.sig, tx.sign_bytes()

    def note_verified(self, tx_hash: bytes, public_key: bytes) -> None:
        """Record that the signature of ``tx_hash`` verified under ``public_key``.

        Only an engine that really ran ``keys.verify`` may call this; the entry is keyed
        by the exact key, so a signer's key rotation in between makes it useless, not
        wrong."""
        self._remember(self._verified, (tx_hash, public_key), None)

    def message_signature_jobs(self, raw: bytes) -> list[tuple[bytes, bytes, bytes]]:
        """``(public key, signature, signed bytes)`` of each signature ``raw``'s messages
        carry (``SignedMessages``) that an engine may verify elsewhere; none for a
        malformed tx or one whose signer cannot be resolved now."""
        if not self._signature_jobs:
            return []
        try:
            tx = self._decode(raw)
        except TxError:
            return []
        jobs = []
        for msg in tx.msgs:
            job = self._signature_jobs.get(msg["type"])
            try:
                found = None if job is None else job(self._check, self.chain_id, msg)
            except Exception:  # advisory only: the handler verifies (or refuses) anyway
                log.warning("signature job for %s raised (a bug: please report)", msg["type"])
                found = None
            if found is not None and found not in self._signatures:
                jobs.append(found)
        return jobs

    def note_signature(self, public_key: bytes, signature: bytes, message: bytes) -> None:
        """Record that a message's signature verified (as :meth:`note_verified`: only
        an engine that really ran ``keys.verify`` on these bytes may call this)."""
        self._signatures.note(public_key, signature, message)

    # -- one transaction --------------------------------------------------------------
    def _decode(self, raw: bytes) -> Tx:
        cached = self._decoded.get(raw)
        if cached is None:
            try:
                cached = decode_tx(raw)
            except TxError as exc:
                cached = (exc.error, exc.detail)
            self._remember(self._decoded, raw, cached)
        if isinstance(cached, tuple):
            raise cached[0](cached[1])
        return cached

    @staticmethod
    def _remember(cache: OrderedDict[Any, Any], key: Any, value: Any) -> None:
        cache[key] = value
        if len(cache) > _CACHE_SIZE:
            cache.popitem(last=False)

    def _verify(self, tx: Tx, public_key: bytes, recheck: bool = False) -> None:
        # A signature's validity is a pure function of (bytes, key): caching it between
        # check_tx and finalize_block cannot change any outcome.
        if (tx.hash, public_key) in self._verified:
            return
        if recheck and self._mempool_keys.get(tx.hash) == public_key:
            return  # verified when the mempool first checked it, under this same key
        try:
            keys.verify(public_key, tx.sig, tx.sign_bytes())
        except CryptoError as exc:
            raise BAD_SIGNATURE(str(exc)) from None
        self._remember(self._verified, (tx.hash, public_key), None)

    def _run(self, parent: Overlay, block: BlockInfo, raw: bytes,
             handlers: Mapping[str, Handler], recheck: bool = False) -> TxResult:
        tx_hash = b""
        try:
            tx = self._decode(raw)
            tx_hash = tx.hash
            if tx.chain_id != self.chain_id:
                raise WRONG_CHAIN(f"tx is for {tx.chain_id!r}, this is {self.chain_id!r}")
            state = Overlay(parent, max_writes=MAX_WRITES_PER_TX)
            public_key = self.auth.signer_key(state, tx.signer, tx.msgs)
            self._verify(tx, public_key, recheck)
            if parent is self._check:
                self._remember(self._mempool_keys, tx.hash, public_key)
            last = self.auth.last_nonce(state, tx.signer)
            if tx.nonce <= last:
                raise NONCE_REPLAYED(f"nonce {tx.nonce}, last used {last}")
            if tx.nonce > last + 1:
                raise NONCE_SKIPPED(f"nonce {tx.nonce}, expected {last + 1}")
            self.auth.set_nonce(state, tx.signer, tx.nonce)
            ctx = Context(self.chain_id, block.height, block.time_ms, tx.signer, state,
                          signatures=self._signatures)
            for msg in tx.msgs:
                handler = handlers.get(msg["type"])
                if handler is None:
                    raise UNKNOWN_MESSAGE(msg["type"])
                ctx.emit("message", action=msg["type"], signer=tx.signer)
                self._call(handler, ctx, msg)
        except TxError as exc:
            return TxResult(tx_hash or sha256(raw), exc.code, exc.codespace, exc.log)
        state.flush(parent)
        return TxResult(tx_hash, 0, "", "", tuple(ctx.events))

    @staticmethod
    def _call(handler: Handler, ctx: Context, msg: Any) -> None:
        try:
            handler(ctx, msg)
        except TxError:
            raise
        except Exception as exc:  # a handler bug must not fork the chain: same code everywhere
            # Type and place only: an exception's text could quote submitted values.
            log.error("handler for %s raised %s (a bug: please report)", msg["type"],
                      type(exc).__name__)
            raise INTERNAL_ERROR(msg["type"]) from None

    # -- queries ----------------------------------------------------------------------
    def query(self, path: str, data: Mapping[str, Any], height: int | None = None,
              prove: bool = False) -> dict[str, Any]:
        """Answer ``path`` at ``height`` (default latest committed).

        With ``prove``, the answer carries the raw stored bytes of its key and a sparse
        Merkle proof (membership, or non-membership when absent) against ``app_hash``."""
        h = self.store.version() if height is None else height
        root = self.store.root(h)
        view = StoreView(self.store.get, self.store.iterate, h)
        if path == "store":
            try:
                key = encoding.hex_bytes(data.get("key"), what="key")
            except EncodingError as exc:
                raise BAD_QUERY(str(exc)) from None
            raw = view.get(key)
            value: Any = None if raw is None else raw.hex()
        else:
            query = self._queries.get(path)
            if query is None:
                raise UNKNOWN_QUERY(path)
            result = query(view, data)
            key, value = result.key or b"", result.value
            raw = view.get(key) if result.key is not None else None
        answer: dict[str, Any] = {"path": path, "height": h, "app_hash": root.hex(),
                                  "value": value}
        if key:
            # Every single-key answer is checked against the tree before it is served, so
            # a value edited in the database (which leaves the stored root as it was) is
            # refused here rather than believed by a client that checks no proof.
            proof = self.store.prove(key, h)
            try:
                if raw is None:
                    smt.verify_non_membership(root, key, proof)
                else:
                    smt.verify_membership(root, key, raw, proof)
            except ProofError:
                log.error("state database damaged: a stored value does not match the "
                          "committed root at height %d", h)
                raise STATE_CORRUPT(f"height {h}") from None
            if prove:
                answer["key"] = key.hex()
                answer["raw_value"] = None if raw is None else raw.hex()
                answer["proof"] = proof.to_json()
        return answer


def default_modules() -> tuple[list[Module], Authenticator]:
    """The one explicit, ordered module list of a phrchain node."""
    from phrchain.modules.audit import AuditModule
    from phrchain.modules.claims import ClaimsModule
    from phrchain.modules.consent import ConsentModule
    from phrchain.modules.exchange import ExchangeModule
    from phrchain.modules.governance import GovernanceModule
    from phrchain.modules.identity import IdentityAuthenticator, IdentityModule
    from phrchain.modules.records import RecordsModule
    from phrchain.modules.research import ResearchModule
    from phrchain.modules.settlement import SettlementModule
    from phrchain.modules.supply import SupplyModule
    from phrchain.modules.trials import TrialsModule

    # governance last: its end-block hook sees every other module's writes of the block.
    modules: list[Module] = [IdentityModule(), RecordsModule(), ConsentModule(),
                             AuditModule(), ExchangeModule(), SettlementModule(),
                             ClaimsModule(), SupplyModule(), TrialsModule(),
                             ResearchModule(), GovernanceModule()]
    return modules, IdentityAuthenticator()


def new_application(store: StateStore) -> Application:
    modules, auth = default_modules()
    return Application(store, modules, auth)
