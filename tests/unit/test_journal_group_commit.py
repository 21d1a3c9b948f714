"""The vault journal's group commit (gateway/journal.py): concurrent accepts share one
transaction, every one of them is committed before it returns, and a replayed nonce
refuses only its own request."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import pytest

from phrchain.core.errors import CodedError
from phrchain.gateway.journal import DB_NAME, Journal
from phrchain.vault.gateway_errors import REPLAYED_REQUEST


def _rows(directory: Path) -> tuple[set[str], int]:
    db = sqlite3.connect(directory / DB_NAME)
    try:
        nonces = {n for (n,) in db.execute("SELECT nonce FROM nonces")}
        outbox = db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    finally:
        db.close()
    return nonces, int(outbox)


def _queued_together(journal: Journal, calls: list[tuple[str, dict[str, int] | None]]
                     ) -> dict[str, BaseException | None]:
    """Run ``calls`` (nonce, outbox body) in threads that all queue while the journal's
    lock is held, so that one of them commits all of them."""
    outcome: dict[str, BaseException | None] = {}

    def call(nonce: str, body: dict[str, int] | None) -> None:
        try:
            journal.accept(nonce, "did:key:caller", 1, None if body is None
                           else ("audit", body))
            outcome[nonce] = None
        except BaseException as exc:  # recorded for the assertions
            outcome[nonce] = exc

    threads = [threading.Thread(target=call, args=c) for c in calls]
    with journal._lock:
        for t in threads:
            t.start()
        deadline = time.monotonic() + 10
        while len(journal._queue) < len(calls) and time.monotonic() < deadline:
            time.sleep(0.001)
        assert len(journal._queue) == len(calls)
    for t in threads:
        t.join(timeout=10)
    return outcome


def test_concurrent_accepts_share_one_commit_and_all_land(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    calls: list[tuple[str, dict[str, int] | None]] = [
        (f"n{i}", {"i": i} if i % 2 else None) for i in range(8)]
    outcome = _queued_together(journal, calls)
    assert outcome == {f"n{i}": None for i in range(8)}
    assert journal.commits == 1
    journal.close()
    nonces, outbox = _rows(tmp_path)
    assert nonces == {f"n{i}" for i in range(8)} and outbox == 4
    assert [body for _, _, body in Journal(tmp_path).pending(10)] == [
        {"i": i} for i in (1, 3, 5, 7)]


def test_a_replay_in_a_group_refuses_only_itself(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.accept("old", "did:key:caller", 1, ("audit", {"first": 1}))
    outcome = _queued_together(journal, [("a", {"a": 1}), ("old", {"again": 1}),
                                         ("b", {"b": 1})])
    assert outcome["a"] is None and outcome["b"] is None
    refused = outcome["old"]
    assert isinstance(refused, CodedError) and refused.error is REPLAYED_REQUEST
    assert [body for _, _, body in journal.pending(10)] == [{"first": 1}, {"a": 1},
                                                             {"b": 1}]
    with pytest.raises(CodedError) as again:  # and alone, as before
        journal.accept("a", "did:key:caller", 2)
    assert again.value.error is REPLAYED_REQUEST
    journal.close()


class _FailingCommit:
    """The journal's connection, except that COMMIT fails (a full or failing disk)."""

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:
        if sql == "COMMIT":
            raise sqlite3.OperationalError("disk I/O error")
        return self.db.execute(sql, *args)

    @property
    def in_transaction(self) -> bool:
        return self.db.in_transaction

    def close(self) -> None:
        self.db.close()


def test_a_failed_commit_fails_every_request_of_the_group(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal._db = _FailingCommit(journal._db)  # type: ignore[assignment]
    outcome = _queued_together(journal, [("x", None), ("y", {"y": 1})])
    assert all(isinstance(outcome[n], sqlite3.OperationalError) for n in ("x", "y"))
    journal.close()
    assert _rows(tmp_path) == (set(), 0)  # nothing of the group was written


def test_the_early_replay_check_does_not_wait_for_a_commit(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    journal.accept("done", "did:key:caller", 1)
    answers: list[bool] = []
    with journal._lock:  # a commit in progress (its fsync) holds the writer's lock
        asking = threading.Thread(target=lambda: answers.extend(
            [journal.seen("done"), journal.seen("new")]))
        asking.start()
        asking.join(timeout=10)
        assert answers == [True, False]
    journal.close()


def test_deferred_accepts_commit_together_at_the_end_of_the_block(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with journal.deferred():
        for i in range(5):
            journal.accept(f"d{i}", "did:key:caller", i, ("audit", {"i": i}))
        assert _rows(tmp_path) == (set(), 0) and journal.commits == 0  # not yet
    assert journal.commits == 1
    assert _rows(tmp_path) == ({f"d{i}" for i in range(5)}, 5)
    with pytest.raises(RuntimeError), journal.deferred(), journal.deferred():
        pass
    journal.close()


def test_a_deferred_block_that_fails_still_journals_its_decisions(tmp_path: Path) -> None:
    journal = Journal(tmp_path)
    with pytest.raises(ValueError), journal.deferred():
        journal.accept("made", "did:key:caller", 1, ("audit", {"made": 1}))
        raise ValueError("the answer failed after the decision")
    assert _rows(tmp_path) == ({"made"}, 1)
    with pytest.raises(CodedError) as replay, journal.deferred():  # refused at the end
        journal.accept("made", "did:key:caller", 2)
        journal.accept("fresh", "did:key:caller", 2)
    assert replay.value.error is REPLAYED_REQUEST
    assert _rows(tmp_path) == ({"made", "fresh"}, 1)
    journal.close()


def test_many_threads_lose_nothing_and_replays_stay_refused(tmp_path: Path) -> None:
    """Real concurrency (no lock held by the test): 6 threads of 30 accepts, each
    followed by a replay of the same nonce; every entry lands once, every replay is
    refused."""
    journal = Journal(tmp_path)
    refused: list[str] = []

    def run(t: int) -> None:
        for i in range(30):
            journal.accept(f"t{t}-{i}", "did:key:caller", i, ("audit", {"t": t, "i": i}))
            try:
                journal.accept(f"t{t}-{i}", "did:key:caller", i, ("audit", {"again": 1}))
            except CodedError as exc:
                if exc.error is REPLAYED_REQUEST:
                    refused.append(f"t{t}-{i}")

    threads = [threading.Thread(target=run, args=(t,)) for t in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not any(t.is_alive() for t in threads)
    assert journal.commits <= 360
    journal.close()
    assert _rows(tmp_path) == ({f"t{t}-{i}" for t in range(6) for i in range(30)}, 180)
    assert len(refused) == 180
