"""State-sync snapshots (CometBFT's ABCI ListSnapshots, LoadSnapshotChunk, OfferSnapshot,
ApplySnapshotChunk): a new node starts from the whole state at a recent height instead
of replaying every block since genesis.

**Format 1.** The live state at height H (every key and value, in key order) split into
chunks of about ``CHUNK_BYTES``: each chunk is the canonical encoding of a list of
``[key hex, value hex]`` pairs. The snapshot's ``metadata`` is the canonical encoding of
``{"format": 1, "height": H, "chunk_hashes": [SHA-256 of each chunk]}``, its ``hash``
the SHA-256 of that metadata.

**Trust.** A restoring node trusts nothing a peer sends: CometBFT's light client gives
the app hash of height H (from the verified header H + 1) with the offer; every chunk
must match its hash in the metadata (else it is fetched again from another peer), the
keys must ascend across chunks, and the state rebuilt from them must have exactly that
app hash before anything is written (else the snapshot is rejected and the store stays
empty). The restored store retains versions from H on: queries and proofs below H
answer ``query/3 height_unavailable``.

Snapshots are taken at ``Commit`` of every ``interval``-th height (the app's
``--snapshot-interval``; 0 = none) into ``HOME/snapshots/<height>/`` and the newest
``KEEP`` are kept: a joining node fetches chunks some tens of seconds after it chose a
snapshot (light-client checks, discovery), so ``interval * KEEP`` blocks must outlast
that, or every peer answers its chunk requests with nothing.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Protocol

from phrchain.core import encoding
from phrchain.core.errors import EncodingError, ProofError

FORMAT: Final = 1
CHUNK_BYTES: Final = 1 << 20
KEEP: Final = 4
_METADATA: Final = "metadata.bin"


class SnapshotSource(Protocol):
    def iterate(self, prefix: bytes, height: int | None = None, start: bytes | None = None
                ) -> Iterator[tuple[bytes, bytes]]: ...


class SnapshotTarget(Protocol):
    def version(self) -> int: ...

    def import_version(self, height: int, pairs: Mapping[bytes, bytes],
                       expected_root: bytes) -> None: ...


@dataclass(frozen=True, slots=True)
class Snapshot:
    height: int
    format: int
    chunks: int
    hash: bytes
    metadata: bytes


def _chunks(store: SnapshotSource, height: int) -> Iterator[bytes]:
    batch: list[list[str]] = []
    size = 0
    for key, value in store.iterate(b"", height):
        batch.append([key.hex(), value.hex()])
        size += 2 * (len(key) + len(value)) + 8
        if size >= CHUNK_BYTES:
            yield encoding.encode_trusted(batch)
            batch, size = [], 0
    if batch or size == 0:
        yield encoding.encode_trusted(batch)  # an empty state is one empty chunk


def metadata_of(height: int, chunk_hashes: list[bytes]) -> bytes:
    return encoding.encode_trusted({"format": FORMAT, "height": height,
                                    "chunk_hashes": [h.hex() for h in chunk_hashes]})


class SnapshotStore:
    """Snapshots a node offers, under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = Path(directory)

    def take(self, store: SnapshotSource, height: int) -> Snapshot:
        """Write the snapshot of ``height`` (atomically: a half-written one is never
        listed) and drop all but the newest ``KEEP``."""
        final = self.directory / str(height)
        if final.exists():
            return self._read(final)
        tmp = self.directory / f".{height}.tmp"
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        hashes = []
        for index, chunk in enumerate(_chunks(store, height)):
            (tmp / f"{index}.chunk").write_bytes(chunk)
            hashes.append(hashlib.sha256(chunk).digest())
        (tmp / _METADATA).write_bytes(metadata_of(height, hashes))
        tmp.rename(final)
        for old in self.heights()[:-KEEP]:
            shutil.rmtree(self.directory / str(old), ignore_errors=True)
        return self._read(final)

    def heights(self) -> list[int]:
        if not self.directory.is_dir():
            return []
        return sorted(int(p.name) for p in self.directory.iterdir() if p.name.isdigit())

    def list(self) -> list[Snapshot]:
        return [self._read(self.directory / str(h)) for h in self.heights()]

    def chunk(self, height: int, format_: int, index: int) -> bytes:
        path = self.directory / str(height) / f"{index}.chunk"
        if format_ != FORMAT or not path.is_file():
            return b""
        return path.read_bytes()

    @staticmethod
    def _read(path: Path) -> Snapshot:
        metadata = (path / _METADATA).read_bytes()
        decoded = encoding.decode(metadata)
        return Snapshot(int(decoded["height"]), FORMAT, len(decoded["chunk_hashes"]),
                        hashlib.sha256(metadata).digest(), metadata)


class Restore:
    """One offered snapshot being applied chunk by chunk (module docstring)."""

    def __init__(self, height: int, format_: int, chunks: int, snapshot_hash: bytes,
                 metadata: bytes, app_hash: bytes) -> None:
        if format_ != FORMAT:
            raise ValueError(f"snapshot format {format_} is not {FORMAT}")
        if hashlib.sha256(metadata).digest() != snapshot_hash:
            raise ProofError("the snapshot's metadata does not match its hash")
        try:
            decoded = encoding.decode(metadata)
            hashes = [bytes.fromhex(h) for h in decoded["chunk_hashes"]]
            declared = int(decoded["height"])
        except (EncodingError, KeyError, TypeError, ValueError):
            raise ProofError("the snapshot's metadata is malformed") from None
        if declared != height or len(hashes) != chunks or chunks < 1:
            raise ProofError("the snapshot's metadata disagrees with the offer")
        self.height, self.app_hash, self.hashes = height, app_hash, hashes
        self.received: dict[int, bytes] = {}

    def accept(self, index: int, chunk: bytes) -> bool:
        """Keep chunk ``index`` if it is the one the metadata names; False if not (fetch
        it again from another peer)."""
        if not 0 <= index < len(self.hashes) \
                or hashlib.sha256(chunk).digest() != self.hashes[index]:
            return False
        self.received[index] = chunk
        return True

    @property
    def complete(self) -> bool:
        return len(self.received) == len(self.hashes)

    def pairs(self) -> dict[bytes, bytes]:
        """Every key and value, checked to ascend strictly across the chunks."""
        out: dict[bytes, bytes] = {}
        last = b""
        for index in range(len(self.hashes)):
            try:
                entries: Any = encoding.decode(self.received[index])
                for key_hex, value_hex in entries:
                    key, value = bytes.fromhex(key_hex), bytes.fromhex(value_hex)
                    if out and key <= last:
                        raise ProofError("snapshot keys do not ascend")
                    out[key], last = value, key
            except (EncodingError, TypeError, ValueError):
                raise ProofError(f"snapshot chunk {index} is malformed") from None
        return out

    def apply(self, store: SnapshotTarget) -> None:
        """Import the state into the empty ``store`` if its root is the trusted app hash."""
        store.import_version(self.height, self.pairs(), self.app_hash)


def describe(snapshot: Snapshot) -> str:
    return json.dumps({"height": snapshot.height, "chunks": snapshot.chunks,
                       "hash": snapshot.hash.hex()})


# -- tendermint.abci.Snapshot on the wire (abci.proto passes it through as bytes) -----------
# message Snapshot { uint64 height = 1; uint32 format = 2; uint32 chunks = 3;
#                    bytes hash = 4; bytes metadata = 5; }
def _varint(n: int) -> bytes:
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def encode_snapshot(snapshot: Snapshot) -> bytes:
    out = bytearray()
    for number, value in ((1, snapshot.height), (2, snapshot.format), (3, snapshot.chunks)):
        if value:
            out += _varint(number << 3) + _varint(value)
    for number, data in ((4, snapshot.hash), (5, snapshot.metadata)):
        if data:
            out += _varint(number << 3 | 2) + _varint(len(data)) + data
    return bytes(out)


def decode_snapshot(data: bytes) -> Snapshot:
    fields: dict[int, Any] = {}
    pos = 0

    def varint() -> int:
        nonlocal pos
        value, shift = 0, 0
        while True:
            if pos >= len(data) or shift > 63:
                raise ProofError("a snapshot offer is malformed")
            byte = data[pos]
            pos += 1
            value |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return value

    while pos < len(data):
        tag = varint()
        number, wire = tag >> 3, tag & 7
        if wire == 0:
            fields[number] = varint()
        elif wire == 2:
            length = varint()
            if pos + length > len(data):
                raise ProofError("a snapshot offer is malformed")
            fields[number] = data[pos:pos + length]
            pos += length
        else:
            raise ProofError("a snapshot offer is malformed")
    return Snapshot(int(fields.get(1, 0)), int(fields.get(2, 0)), int(fields.get(3, 0)),
                    bytes(fields.get(4, b"")), bytes(fields.get(5, b"")))
