"""Processes of a local network's nodes: start detached, check, signal, wait for a port
(``net.py`` uses them; they know nothing of CometBFT or phrchain)."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from pathlib import Path

from phrchain.engine.abci.errors import NetError

# Processes this interpreter started (``net up`` leaves them running when it exits; a
# test keeps them here until it stops them, so they are reaped, not left as zombies).
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def _spawn(argv: list[str], log_path: Path, env: dict[str, str]) -> int:
    with log_path.open("ab") as log:
        proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    _CHILDREN[proc.pid] = proc
    return proc.pid


def _alive(pid: int) -> bool:
    child = _CHILDREN.get(pid)
    if child is not None:
        if child.poll() is None:
            return True
        del _CHILDREN[pid]
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie of another parent is dead for our purposes
        stat = Path(f"/proc/{pid}/stat").read_text()
        return stat.rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(
            errors="replace")
    except OSError:
        return ""


def _signal(pid: int, sig: int) -> None:
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass


def _wait_port(port: int, timeout: float, log_path: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise NetError(f"the app did not listen on port {port} in {timeout:.0f} s "
                   f"(see {log_path})")
