"""The solo engine's committer thread (``NodeConfig.pipeline``): commits executed blocks
one at a time, in the order they were queued, while the block thread executes the next.

The node's ``commit`` callback stores a block and commits its state; the first one that
raises stops the thread, after ``failed`` is told (every later queued block is left: the
node abandons them all and replays from its block store at the next start)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from typing import Generic, TypeVar

Item = TypeVar("Item")


class Committer(Generic[Item]):
    def __init__(self, commit: Callable[[Item], None],
                 failed: Callable[[Item, BaseException], None]) -> None:
        self._commit, self._failed = commit, failed
        self._queue: queue.Queue[tuple[Item] | None] = queue.Queue()
        self._thread: threading.Thread | None = None

    def put(self, item: Item) -> None:
        """Queue ``item`` (the thread starts with the first one)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="solo-commit",
                                            daemon=True)
            self._thread.start()
        self._queue.put((item,))

    def stop(self, timeout: float = 60) -> None:
        """Commit what is queued, then end the thread."""
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while (entry := self._queue.get()) is not None:
            try:
                self._commit(entry[0])
            except BaseException as exc:  # also a simulated crash in tests
                self._failed(entry[0], exc)
                return
