"""Child processes of the crash and limits campaigns: a ``phrchain start`` node on a free
loopback port, stopped gracefully or killed with its whole process group (the node, its
verifier and its state writer), and the group's members found by their command line."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
ENV = {**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_node(home: Path, log: Path, preexec: Any = None,
               timeout: float = 30) -> tuple[subprocess.Popen[bytes], str]:
    """``phrchain start`` on a free loopback port; the process and its URL once serving."""
    port = free_port()
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "phrchain", "start", "--home",
                                 str(home), "--port", str(port)], stdout=out, stderr=out,
                                cwd=ROOT, env=ENV, start_new_session=True,
                                preexec_fn=preexec)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/v1/status", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.1)
    kill_group(proc)
    raise AssertionError(f"node did not start; log:\n{log.read_text()[-3000:]}")


def kill_group(proc: subprocess.Popen[Any]) -> None:
    """SIGKILL the process and every process it started (they share its session)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)


def stop_node(proc: subprocess.Popen[bytes]) -> int:
    """SIGTERM (a graceful close), SIGKILL after 30 s."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        kill_group(proc)
        return -signal.SIGKILL


def group_member(proc: subprocess.Popen[Any], needle: str) -> int | None:
    """The pid of a live process in ``proc``'s group whose command line has ``needle``."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == proc.pid:
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()  # after "pid (comm)": state ppid pgrp ...
        if int(fields[2]) == proc.pid and fields[0] != "Z" and needle in cmdline:
            return int(entry.name)
    return None


def verify_home(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phrchain", "verify", "--home", str(home)],
                          capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=600,
                          check=False)
