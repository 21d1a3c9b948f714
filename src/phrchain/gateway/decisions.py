"""Consent decisions from a local index that follows committed blocks (issue 20).

The vault asked its node ``consent/decide`` (and ``records/get``, and the caller's
``identity/did``) on every access. This index keeps the node's answers and serves them
again for as long as they are provably the answer the node would give at the height the
index has followed, which it reaches by reading each committed block's tx results:

- A block's successful txs whose messages are all ``audit/*`` change nothing a decision
  reads (their writes are audit leaves).
- ``consent/*`` and ``records/*`` txs name what they changed in their events (``record``,
  ``by``, ``patient``): answers about those records, and decisions on records of that
  patient, are dropped. Such a tx whose events name none is treated like the next case.
- Any other successful tx (identity, governance, any other module) drops everything.
  Governance's end-block hooks only execute a proposal in a block whose votes or
  council changed, i.e. in a block holding such a tx, so no write escapes this.
- Time: a decision computed at block time ``t0`` can only change with time when a
  consent of the record's patient starts or ends; it is kept while the followed block
  time is below the next ``start_ms``/``end_ms`` after ``t0`` among that patient's
  consents (fetched with the decision).

Served answers carry the followed ``height`` and ``time_ms``, exactly as the node's
query at that height would (``tests/unit/test_decision_index.py`` compares them over a
randomized history of grants, revocations and expiries). The index follows at most
``lag_s`` behind the node (when the height moved: one ``consent/decide`` probe for the
latest height and time, then the new blocks' results); a node serving no block
results (:class:`NoBlocks`) turns it off: every call then asks the node, as before. With the default
``lag_s`` = 0 every call first compares the node's height (``ChainPort.height``, a
read of the store's version for an in-process node) with the followed one, so answers
are at the latest committed height, as the node's query was.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core.errors import CodedError
from phrchain.gateway.chain import ChainPort, NoBlocks
from phrchain.vault.gateway_errors import CHAIN_UNAVAILABLE

log = logging.getLogger(__name__)

Ask = Callable[[str, Mapping[str, Any]], Any]
Key = tuple[str, str, str, str]  # accessor, action, record, purpose

# Decisions reached in the consent loop: they may change when a consent starts or ends.
_TIMED: Final = frozenset({"consent", "consent_revoked", "consent_not_started",
                           "consent_expired", "action_not_permitted",
                           "purpose_not_permitted", "out_of_scope", "no_consent"})
_PROBE: Final = {"accessor": "did:key:probe", "action": "read", "record": "00" * 16,
                 "purpose": "TREAT"}
_NAMING: Final = ("record", "by")
MAX_ENTRIES: Final = 100_000
MAX_BLOCKS_PER_FOLLOW: Final = 1000


@dataclass(frozen=True, slots=True)
class _Entry:
    answer: dict[str, Any]
    time_ms: int  # block time the node decided at
    until_ms: float  # the next consent start/end after it (inf: time cannot change it)
    record: str
    patient: str | None


class DecisionIndex:
    """See the module docstring. ``ask`` is the vault's chain query (its error mapping);
    ``chain`` gives heights and block results."""

    def __init__(self, ask: Ask, chain: ChainPort, lag_s: float = 0.0) -> None:
        self._ask, self._chain, self.lag_s = ask, chain, lag_s
        self._lock = threading.Lock()
        self._follow_lock = threading.Lock()
        self.height, self.time_ms = -1, 0
        self._followed_at = -math.inf
        self._probed_at = -math.inf  # when the last successful follow began
        self.enabled = True
        self._changes = 0  # invalidations so far: a miss caches only if none came between
        self._decisions: dict[Key, _Entry] = {}
        self._answers: dict[tuple[str, str], Any] = {}  # (path, argument) -> answer
        self._by_record: dict[str, set[Key]] = {}
        self._by_patient: dict[str, set[Key]] = {}
        self.hits = self.misses = 0

    # -- answers ---------------------------------------------------------------------------
    def decide(self, accessor: str, action: str, record: str, purpose: str,
               since: float | None = None) -> dict[str, Any]:
        """``consent/decide`` for these arguments at the followed height; ``since``: see
        :meth:`follow`."""
        args = {"accessor": accessor, "action": action, "record": record, "purpose": purpose}
        if not self._ready(since):
            return dict(self._ask("consent/decide", args))
        key: Key = (accessor, action, record, purpose)
        with self._lock:
            entry = self._decisions.get(key)
            if entry is not None and entry.time_ms <= self.time_ms < entry.until_ms:
                self.hits += 1
                return {**entry.answer, "height": self.height, "time_ms": self.time_ms}
            changes = self._changes
        self.misses += 1
        answer = dict(self._ask("consent/decide", args))
        on_chain = self.record(record)
        patient = None if on_chain is None else str(on_chain["patient"])
        until = self._next_bound(patient, int(answer["time_ms"])) \
            if answer["reason"] in _TIMED and patient is not None else math.inf
        self.follow(force=True)
        with self._lock:
            if self._changes == changes and int(answer["height"]) <= self.height:
                self._store(key, _Entry(answer, int(answer["time_ms"]), until, record,
                                        patient))
        return answer

    def record(self, record: str, since: float | None = None) -> Any:
        """``records/get`` at the followed height (None for an unknown record); ``since``:
        see :meth:`follow`."""
        return self._cached("records/get", "record", record, since)

    def identity(self, did: str) -> Any:
        """``identity/did`` at the followed height."""
        return self._cached("identity/did", "did", did)

    def _cached(self, path: str, name: str, value: str, since: float | None = None) -> Any:
        if not self._ready(since):
            return self._ask(path, {name: value})
        with self._lock:
            found = self._answers.get((path, value), self)
            changes = self._changes
        if found is not self:
            return found
        answer = self._ask(path, {name: value})
        self.follow(force=True)
        with self._lock:
            if self._changes == changes and len(self._answers) < MAX_ENTRIES:
                self._answers[(path, value)] = answer
        return answer

    def _next_bound(self, patient: str, after_ms: int) -> float:
        """The first consent start or end of ``patient`` after ``after_ms``."""
        bound, after = math.inf, None
        while True:
            page = self._ask("consent/patient", {"patient": patient, **(
                {"after": after} if after is not None else {})})
            for consent_id in page["consents"]:
                consent = self._ask("consent/get", {"consent": consent_id})
                if consent is None:
                    continue
                for edge in (consent["period"]["start_ms"], consent["period"]["end_ms"]):
                    if edge > after_ms:
                        bound = min(bound, edge)
            after = page.get("next")
            if not after:
                return bound

    def _store(self, key: Key, entry: _Entry) -> None:
        if len(self._decisions) >= MAX_ENTRIES:
            self._flush()
        self._decisions[key] = entry
        self._by_record.setdefault(entry.record, set()).add(key)
        if entry.patient is not None:
            self._by_patient.setdefault(entry.patient, set()).add(key)

    # -- following blocks ------------------------------------------------------------------
    def _ready(self, since: float | None = None) -> bool:
        if self.enabled and time.monotonic() - self._followed_at >= self.lag_s:
            self.follow(since=since)
        return self.enabled

    def follow(self, force: bool = False, since: float | None = None) -> None:
        """Reach the node's latest height: its time (a probe), then each new block's
        results, in order. Concurrent calls share probes: a call that waited for another
        caller's follow which *began after this call did* returns, since that follow's
        height is one the node had committed after this call was made (as its own probe
        would have been); a follow that began earlier answers nobody who came later.
        ``since`` (a ``time.monotonic()`` reading) puts the call's start earlier: one
        request's later questions (the record check after the decision) are answered
        at the height its first question reached, a height committed after the
        request arrived."""
        called = time.monotonic() if since is None else since
        with self._follow_lock:
            if not force and time.monotonic() - self._followed_at < self.lag_s:
                return
            if self._probed_at > called:
                return
            began = time.monotonic()
            try:
                if self._chain.height() != self.height:
                    self._follow()
            except NoBlocks:
                log.warning("the node serves no block results: decisions are asked of "
                            "it on every access")
                with self._lock:
                    self.enabled = False
                    self._flush()
            except CodedError:
                raise
            except Exception as exc:  # as the vault's own queries report it
                raise CHAIN_UNAVAILABLE(type(exc).__name__) from None
            self._followed_at, self._probed_at = time.monotonic(), began

    def _follow(self) -> None:
        probe = self._ask("consent/decide", _PROBE)
        top, top_ms = int(probe["height"]), int(probe["time_ms"])
        if self.height < 0 or top - self.height > MAX_BLOCKS_PER_FOLLOW:
            with self._lock:
                self._flush()
                self.height, self.time_ms = top, top_ms
            return
        for height in range(self.height + 1, top + 1):
            results = self._chain.block_results(height)
            with self._lock:
                if results is None:
                    self._flush()
                else:
                    self.apply(results)
                self.height = height
        with self._lock:
            self.time_ms = top_ms

    def apply(self, results: Iterable[Mapping[str, Any]]) -> None:
        """Drop what one committed block's tx results may have changed (call with the
        lock held)."""
        for result in results:
            if result.get("code", 0) != 0:
                continue  # a failed tx changes nothing
            events = [(str(e.get("type")), {str(k): str(v) for k, v in e.get("attributes", ())})
                      for e in result.get("events") or ()]
            modules = {a.get("action", "").split("/")[0] for t, a in events if t == "message"}
            if modules <= {"audit"}:
                continue
            named = [(k, v) for t, a in events if t != "message" for k, v in a.items()
                     if k in (*_NAMING, "patient")]
            if not modules <= {"consent", "records"} or not named:
                self._flush()
                return
            for name, value in named:
                self._drop(self._by_patient if name == "patient" else self._by_record, value)
                if name != "patient":
                    self._answers.pop(("records/get", value), None)

    def _drop(self, index: dict[str, set[Key]], value: str) -> None:
        self._changes += 1
        for key in index.pop(value, ()):
            self._decisions.pop(key, None)

    def _flush(self) -> None:
        self._changes += 1
        self._decisions.clear()
        self._answers.clear()
        self._by_record.clear()
        self._by_patient.clear()
