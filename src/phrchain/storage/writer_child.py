"""The state writer's child process (``python -I -m phrchain.storage.writer_child DB``):
read framed batches on stdin, write each version to SQLite, answer on stdout.

The protocol and the reasons for a separate process are in :mod:`phrchain.storage.writer`,
whose :class:`~phrchain.storage.writer.StateWriter` starts this module. Kept apart so the
child's entry point is the whole of this file and the parent never imports it.
"""

from __future__ import annotations

import sys
from typing import IO

from phrchain.ipc import U32, read_exact
from phrchain.storage.writer import decode_batch


def serve(db_path: str, stdin: IO[bytes], stdout: IO[bytes]) -> None:
    """Write batches until stdin closes (the parent's signal to stop) or one fails; a
    failure is reported, then the child stops: the node must not go on."""
    from phrchain.storage.sqlite_state import connect, write_version

    db = connect(db_path)
    try:
        while True:
            try:
                (length,) = U32.unpack(read_exact(stdin, 4))
                height, root, changes, nodes, orphans = decode_batch(read_exact(stdin, length))
            except EOFError:
                return
            try:
                write_version(db, height, root, changes, nodes, orphans)
            except Exception as exc:  # report, then stop: the node must not go on
                message = f"{type(exc).__name__}: {exc}".encode()
                stdout.write(b"\x01" + U32.pack(len(message)) + message)
                stdout.flush()
                return
            stdout.write(b"\x00")
            stdout.flush()
    finally:
        db.close()


if __name__ == "__main__":
    serve(sys.argv[1], sys.stdin.buffer, sys.stdout.buffer)
