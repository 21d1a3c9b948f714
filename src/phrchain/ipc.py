"""Helper child processes (signature verifier, state writer): how they are started,
framed and stopped, in one place.

Children run as ``python -I -m <module>``: isolated mode puts neither the working
directory nor ``PYTHON*`` variables on the import path, so a stray ``phrchain/`` folder
where the node starts cannot stand in for a child whose answers the node trusts.
"""

from __future__ import annotations

import contextlib
import struct
import subprocess
import sys
from typing import IO, Final

U32: Final = struct.Struct(">I")


def start_child(module: str, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-I", "-m", module, *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)


def read_exact(stream: IO[bytes], n: int) -> bytes:
    """Exactly ``n`` bytes, or :class:`EOFError` if the other side is gone."""
    data = stream.read(n)
    if data is None or len(data) != n:
        raise EOFError
    return data


def stop_child(proc: subprocess.Popen[bytes], timeout: float) -> None:
    """Close the child's stdin (its signal to finish), wait, kill if it does not."""
    if proc.stdin is not None:
        with contextlib.suppress(OSError):  # the child may already be gone
            proc.stdin.close()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
