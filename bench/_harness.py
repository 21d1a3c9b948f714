"""What the records benches share: the consortium of ``tests/consortium.py`` (a solo
node, its API and three vaults on loopback HTTP, in this process), step timers, a
percentile and CPU time by thread and helper process.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.consortium import running

__all__ = ["Timers", "cpu_snapshot", "cpu_spent", "pct", "running", "server_labels",
           "thread_profiler", "tree_cpu"]


def thread_profiler() -> Any:
    """yappi, which profiles every thread (cProfile sees only its own): imported only
    under ``--profile``, from the ``bench`` extra (``pip install -e '.[bench]'``)."""
    try:
        import yappi
    except ImportError:
        raise SystemExit("--profile profiles every thread with yappi: "
                         "pip install -e '.[bench]'") from None
    return yappi


def pct(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100) of ``values``."""
    ordered = sorted(values)
    rank = max(1, min(len(ordered), round(q / 100 * len(ordered) + 0.5)))
    return ordered[rank - 1]


class Timers:
    """Wall time per named step, in the thread that created the timers only."""

    def __init__(self) -> None:
        self.spent: dict[str, list[float]] = defaultdict(list)
        self._undo: list[Callable[[], None]] = []
        self._owner = threading.get_ident()  # the vault's server threads are not timed

    @contextlib.contextmanager
    def time(self, name: str) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.spent[name].append(time.perf_counter() - t0)

    def wrap(self, obj: Any, attr: str, name: str | Callable[..., str]) -> None:
        """Time every call of ``obj.attr`` under ``name`` until :meth:`restore`."""
        original = getattr(obj, attr)
        own = attr in vars(obj)

        def timed(*args: Any, **kw: Any) -> Any:
            if threading.get_ident() != self._owner:
                return original(*args, **kw)
            label = name(*args) if callable(name) else name
            with self.time(label):
                return original(*args, **kw)
        setattr(obj, attr, timed)
        self._undo.append(lambda: setattr(obj, attr, original) if own else delattr(obj, attr))

    def restore(self) -> None:
        while self._undo:
            self._undo.pop()()




def _cpu_seconds(stat: Path) -> tuple[float, int]:
    """utime + stime in seconds, and the parent pid, from a /proc ``stat`` file."""
    fields = stat.read_text().rsplit(")", 1)[1].split()
    tick = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / tick, int(fields[1])


def _children() -> dict[int, list[int]]:
    """Every process's children, by parent pid, from /proc."""
    out: dict[int, list[int]] = defaultdict(list)
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                out[_cpu_seconds(proc / "stat")[1]].append(int(proc.name))
    return out


def tree_cpu(pid: int, children: dict[int, list[int]] | None = None) -> float:
    """CPU seconds so far of process ``pid`` and of all its living descendants (a node's
    state writer and verify workers), from /proc."""
    children = _children() if children is None else children
    total, todo = 0.0, [pid]
    while todo:
        here = todo.pop()
        with contextlib.suppress(OSError, ValueError, IndexError):
            total += _cpu_seconds(Path(f"/proc/{here}/stat"))[0]
        todo.extend(children.get(here, ()))
    return total


def cpu_snapshot() -> dict[str, float]:
    """CPU seconds so far of each thread of this process (``name#native id``) and of
    each child process with its own descendants (``child: -m module#pid``), from /proc
    (no profiler overhead)."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[str, float] = {}
    for task in Path("/proc/self/task").iterdir():
        with contextlib.suppress(OSError):
            tid = int(task.name)
            out[f"{names.get(tid, 'native')}#{tid}"] = _cpu_seconds(task / "stat")[0]
    children = _children()
    for pid in children.get(os.getpid(), ()):
        with contextlib.suppress(OSError, ValueError):
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            module = (argv[argv.index(b"-m") + 1] if b"-m" in argv else argv[0]).decode()
            out[f"child: {module}#{pid}"] = tree_cpu(pid, children)
    return out


def cpu_spent(before: dict[str, float], after: dict[str, float],
              labels: dict[str, str] | None = None) -> dict[str, float]:
    """CPU seconds between two snapshots, summed by thread name without digits (anyio's
    worker threads together); ``labels`` renames ``name#id`` keys first."""
    out: dict[str, float] = defaultdict(float)
    for key, spent in after.items():
        name = (labels or {}).get(key) or key.split("#")[0].rstrip("0123456789_ ")
        out[name.replace("AnyIO worker thread", "anyio workers")] += spent - before.get(key, 0)
    return dict(out)


def server_labels(snapshot: dict[str, float], node_pid: int | None = None
                  ) -> dict[str, str]:
    """tests/consortium.py starts its loopback servers in this order, each in a thread
    named ``phrchain-api``: the node API (unless the node runs in its own process,
    ``node_pid``, whose CPU with its helpers' is labelled ``node process``), then the
    vaults of hospital A, B, insurer (then a bench's baseline server)."""
    servers = sorted((k for k in snapshot if k.startswith("phrchain-api#")),
                     key=lambda k: int(k.split("#")[1]))
    names = ("vault A event loop", "vault B event loop", "insurer vault event loop",
             "baseline event loop")
    labels = dict(zip(servers, names if node_pid else ("node API event loop", *names),
                      strict=False))
    labels.update({k: "node process" for k in snapshot
                   if node_pid and k.startswith("child: ") and k.endswith(f"#{node_pid}")})
    return labels
