"""A state-store writer in its own process: the node's side (:class:`StateWriter`) and
the batch codec both sides share; the child's loop is :mod:`phrchain.storage.writer_child`.

The node's Python thread is the throughput limit (the GIL serialises admission, block
execution and the SQLite inserts of a commit), while the second core mostly waits. A
commit's inserts — tens of thousands of tree-node rows per block — therefore run in a
child process with its own SQLite connection: the node sends one framed batch and waits
for the child's COMMIT before it reports anything committed.

Protocol on the child's stdin/stdout (a private pipe to a child started with
``python -I``, isolated from the working directory): a frame ``u32 length`` + body, body
= ``u64 height, u64 root_version, root_hash(32), u32 n`` then *n* changes
``u32 key_len, key, i64 value_len (-1 = deletion), value``, then ``u32 m`` and *m* nodes
``hash(32), u8 body_len, body``, then ``u8`` 1 if orphans are recorded (0: not,
nothing follows), ``u32 k`` and *k* orphans ``u64 orphaned_at, u64 version, hash(32)``.
Answer ``b"\\x00"`` (committed) or ``b"\\x01"`` +
``u32 length`` + message. If the child dies, ``write`` raises and the node stops; the
uncommitted block is replayed from the block store at the next start.
"""

from __future__ import annotations

import struct
import threading
from pathlib import Path
from typing import Any, Final

from phrchain.core.errors import PhrError
from phrchain.ipc import U32, read_exact, start_child, stop_child

_HEAD: Final = struct.Struct(">QQ32sI")
_KEY: Final = struct.Struct(">I")
_VALUE: Final = struct.Struct(">q")
_ORPHAN: Final = struct.Struct(">QQ32s")


class StateWriteError(PhrError):
    """The writer process failed or died: the version was not committed."""


def encode_batch(height: int, root: tuple[int, bytes],
                 changes: list[tuple[bytes, bytes | None]],
                 nodes: list[tuple[bytes, bytes]],
                 orphans: list[tuple[int, int, bytes]] | None = None) -> bytes:
    parts = [_HEAD.pack(height, root[0], root[1], len(changes))]
    for key, value in changes:
        parts.append(_KEY.pack(len(key)) + key)
        parts.append(_VALUE.pack(-1) if value is None else _VALUE.pack(len(value)) + value)
    parts.append(U32.pack(len(nodes)))
    parts += [h + bytes((len(body),)) + body for h, body in nodes]
    if orphans is None:
        parts.append(b"\x00")
    else:
        parts.append(b"\x01" + U32.pack(len(orphans)))
        parts += [_ORPHAN.pack(*orphan) for orphan in orphans]
    return b"".join(parts)


def decode_batch(data: bytes) -> tuple[int, tuple[int, bytes],
                                      list[tuple[bytes, bytes | None]],
                                      list[tuple[bytes, bytes]],
                                      list[tuple[int, int, bytes]] | None]:
    height, root_version, root_hash, n = _HEAD.unpack_from(data, 0)
    pos = _HEAD.size
    changes: list[tuple[bytes, bytes | None]] = []
    for _ in range(n):
        (key_len,) = _KEY.unpack_from(data, pos)
        pos += 4
        key = data[pos:pos + key_len]
        pos += key_len
        (value_len,) = _VALUE.unpack_from(data, pos)
        pos += 8
        if value_len < 0:
            changes.append((key, None))
        else:
            changes.append((key, data[pos:pos + value_len]))
            pos += value_len
    (m,) = U32.unpack_from(data, pos)
    pos += 4
    nodes = []
    for _ in range(m):
        body_len = data[pos + 32]
        nodes.append((data[pos:pos + 32], data[pos + 33:pos + 33 + body_len]))
        pos += 33 + body_len
    orphans: list[tuple[int, int, bytes]] | None = None
    if data[pos] == 1:
        (k,) = U32.unpack_from(data, pos + 1)
        pos += 5
        orphans = list(_ORPHAN.iter_unpack(data[pos:pos + k * _ORPHAN.size]))
        pos += k * _ORPHAN.size
    else:
        pos += 1
    if pos != len(data):
        raise ValueError("trailing bytes in a state batch")
    return height, (root_version, root_hash), changes, nodes, orphans


class StateWriter:
    def __init__(self, db_path: Path | str) -> None:
        self._proc = start_child("phrchain.storage.writer_child", str(db_path))
        self._lock = threading.Lock()

    def write(self, height: int, root: tuple[int, bytes], changes: list[Any],
              nodes: list[Any], orphans: list[Any] | None = None) -> None:
        payload = encode_batch(height, root, changes, nodes, orphans)
        stdin, stdout = self._proc.stdin, self._proc.stdout
        assert stdin is not None and stdout is not None
        with self._lock:
            try:
                stdin.write(U32.pack(len(payload)) + payload)
                stdin.flush()
                status = read_exact(stdout, 1)
                if status != b"\x00":
                    (length,) = U32.unpack(read_exact(stdout, 4))
                    raise StateWriteError(
                        f"state writer refused version {height}: "
                        f"{read_exact(stdout, length).decode(errors='replace')}")
            except (OSError, EOFError, ValueError) as exc:
                raise StateWriteError(f"state writer died writing version {height}") \
                    from exc

    def close(self) -> None:
        stop_child(self._proc, timeout=30)
