"""BGZF (SAM/BAM spec §4.1) and a tabix-style region index for bgzipped VCF.

A BGZF file is a series of gzip members, each at most 64 KiB, whose header carries the
extra subfield ``BC`` (``SI1 = 66, SI2 = 67, SLEN = 2``) with ``BSIZE`` = block size - 1,
and ends with a fixed empty block (``EOF_BLOCK``). A record's *virtual offset* is
``block file offset << 16 | offset in the block``; a region maps to the file byte ranges
of the blocks holding its records, plus the header's blocks (what an htsget ticket
lists). The index is per block (chrom, lowest start, highest end), coarser than tabix's
16 kb bins and exact enough: readers filter the records of the returned blocks.
"""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO, Final

from phrchain.genome import errors

MAX_BLOCK_DATA: Final = 0xFF00  # what bgzip puts in one block (under 64 KiB)
_HEADER: Final = struct.Struct("<BBBBIBBH")  # ID1 ID2 CM FLG MTIME XFL OS XLEN
_BC: Final = struct.Struct("<BBHH")  # SI1 SI2 SLEN BSIZE
EOF_BLOCK: Final = bytes.fromhex("1f8b08040000000000ff0600424302001b0003000000000000000000")
_REGION: Final = re.compile(r"([^:\s]+)(?::([0-9,]+)-([0-9,]+))?")


def compress_block(data: bytes, level: int = 6) -> bytes:
    """One BGZF block of ``data`` (at most :data:`MAX_BLOCK_DATA` bytes)."""
    if len(data) > MAX_BLOCK_DATA:
        raise errors.NOT_BGZF(f"a block holds at most {MAX_BLOCK_DATA} bytes")
    deflate = zlib.compressobj(level, zlib.DEFLATED, -15)
    cdata = deflate.compress(data) + deflate.flush()
    size = _HEADER.size + _BC.size + len(cdata) + 8
    return (_HEADER.pack(31, 139, 8, 4, 0, 0, 255, 6) + _BC.pack(66, 67, 2, size - 1)
            + cdata + struct.pack("<II", zlib.crc32(data), len(data)))


class Writer:
    """Writes BGZF to ``sink``; :meth:`flush_block` ends a block early (after a VCF
    header, so records start in a block of their own)."""

    def __init__(self, sink: BinaryIO, level: int = 6) -> None:
        self.sink, self.level = sink, level
        self.buffer = bytearray()
        self.offset = 0

    def write(self, data: bytes) -> None:
        """Add bytes; a block never ends inside one ``write`` that fits in a block (write
        a VCF line at a time, and every block holds whole lines: the index needs it)."""
        if len(self.buffer) + len(data) > MAX_BLOCK_DATA:
            self.flush_block()
        self.buffer += data
        while len(self.buffer) >= MAX_BLOCK_DATA:
            self._emit(bytes(self.buffer[:MAX_BLOCK_DATA]))
            del self.buffer[:MAX_BLOCK_DATA]

    def flush_block(self) -> None:
        if self.buffer:
            self._emit(bytes(self.buffer))
            self.buffer.clear()

    def _emit(self, data: bytes) -> None:
        block = compress_block(data, self.level)
        self.sink.write(block)
        self.offset += len(block)

    def close(self) -> None:
        self.flush_block()
        self.sink.write(EOF_BLOCK)
        self.offset += len(EOF_BLOCK)


def parse_block(data: bytes | bytearray, at: int) -> tuple[int, bytes] | None:
    """``(block size, uncompressed bytes)`` of the block at ``at``; None if ``data``
    ends before the block does."""
    if len(data) - at < _HEADER.size:
        return None
    id1, id2, cm, flg, _mtime, _xfl, _os, xlen = _HEADER.unpack_from(data, at)
    if (id1, id2, cm) != (31, 139, 8) or not flg & 4:
        raise errors.NOT_BGZF(f"no BGZF block at byte {at}")
    if len(data) - at < _HEADER.size + xlen:
        return None
    extra, bsize = at + _HEADER.size, None
    end = extra + xlen
    while extra + 4 <= end:
        si1, si2, slen = data[extra], data[extra + 1], struct.unpack_from("<H", data,
                                                                          extra + 2)[0]
        if (si1, si2, slen) == (66, 67, 2):
            bsize = struct.unpack_from("<H", data, extra + 4)[0]
        extra += 4 + slen
    if bsize is None:
        raise errors.NOT_BGZF(f"block at byte {at} has no BC field")
    size = bsize + 1
    if len(data) - at < size:
        return None
    cdata = bytes(data[end:at + size - 8])
    crc, isize = struct.unpack_from("<II", data, at + size - 8)
    try:
        plain = zlib.decompress(cdata, -15)
    except zlib.error:
        raise errors.NOT_BGZF(f"block at byte {at} does not inflate") from None
    if zlib.crc32(plain) != crc or len(plain) != isize:
        raise errors.NOT_BGZF(f"block at byte {at}: CRC or size differs")
    return size, plain


def decompress(data: bytes) -> bytes:
    """The uncompressed bytes of a whole BGZF stream."""
    out, at = [], 0
    while at < len(data):
        found = parse_block(data, at)
        if found is None:
            raise errors.NOT_BGZF("the stream ends inside a block")
        size, plain = found
        out.append(plain)
        at += size
    return b"".join(out)


@dataclass(frozen=True, slots=True)
class Region:
    chrom: str
    start: int = 1  # 1-based, inclusive
    end: int = (1 << 31) - 1

    @classmethod
    def parse(cls, text: str) -> Region:
        """``chr1``, ``chr1:100-200`` (1-based, inclusive; commas allowed)."""
        m = _REGION.fullmatch(text.strip())
        if m is None:
            raise errors.BAD_REGION(text[:40])
        if m.group(2) is None:
            return cls(m.group(1))
        start, end = int(m.group(2).replace(",", "")), int(m.group(3).replace(",", ""))
        if not 1 <= start <= end:
            raise errors.BAD_REGION(text[:40])
        return cls(m.group(1), start, end)

    def __str__(self) -> str:
        return f"{self.chrom}:{self.start}-{self.end}"


def record_span(line: bytes) -> tuple[str, int, int]:
    """``(chrom, pos, end)`` of a VCF record line (end = pos + len(REF) - 1)."""
    fields = line.split(b"\t", 5)
    try:
        pos = int(fields[1])
        ref = fields[3]
        chrom = fields[0].decode("ascii")
    except (IndexError, ValueError, UnicodeDecodeError):
        raise errors.BAD_VCF("a record needs CHROM, POS, ID and REF") from None
    if pos < 0 or not ref:
        raise errors.BAD_VCF("a record's POS or REF is malformed")
    return chrom, pos, pos + len(ref) - 1


@dataclass(frozen=True, slots=True)
class IndexEntry:
    chrom: str
    first: int  # lowest start of a record starting in the block
    last: int  # highest end
    start: int  # file offset of the block where the records start
    end: int  # file offset just past the block where the last of them ends


@dataclass
class RegionIndex:
    """``header`` = file bytes of the VCF header's blocks; ``entries`` per block."""

    header: tuple[int, int] = (0, 0)
    entries: list[IndexEntry] = field(default_factory=list)
    size: int = 0
    eof: bool = False
    aligned: bool = True  # every block holds whole lines (else ranges = the whole file)

    def ranges(self, region: Region) -> list[tuple[int, int]]:
        """File byte ranges ``[start, end)``, merged and sorted, that hold the header
        and every record overlapping ``region`` (and the EOF block). A file whose lines
        cross block boundaries (plain ``bgzip`` output) is served whole: a range could
        start inside a line."""
        if not self.aligned:
            return [(0, self.size)]
        wanted = [self.header] if self.header[1] > self.header[0] else []
        wanted += [(e.start, e.end) for e in self.entries if e.chrom == region.chrom
                   and e.first <= region.end and e.last >= region.start]
        if self.eof:
            wanted.append((self.size - len(EOF_BLOCK), self.size))
        merged: list[tuple[int, int]] = []
        for start, end in sorted(wanted):
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], end))
            else:
                merged.append((start, end))
        return merged

    def to_json(self) -> dict[str, Any]:
        return {"header": list(self.header), "size": self.size, "eof": self.eof,
                "aligned": self.aligned,
                "entries": [[e.chrom, e.first, e.last, e.start, e.end]
                            for e in self.entries]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RegionIndex:
        try:
            return cls((int(data["header"][0]), int(data["header"][1])),
                       [IndexEntry(str(c), int(f), int(la), int(s), int(e))
                        for c, f, la, s, e in data["entries"]],
                       int(data["size"]), bool(data["eof"]), bool(data["aligned"]))
        except (KeyError, TypeError, ValueError, IndexError):
            raise errors.NOT_BGZF("a region index is malformed") from None


class IndexBuilder:
    """Fed the file's bytes in order (any split), builds its :class:`RegionIndex`."""

    def __init__(self) -> None:
        self.pending = bytearray()
        self.offset = 0  # file offset of pending[0]
        self.line = bytearray()
        self.line_block = 0  # offset of the block where the current line started
        self.in_header = True
        self.index = RegionIndex()
        self._open: dict[int, list[Any]] = {}

    def feed(self, data: bytes) -> None:
        self.pending += data
        at = 0
        while (found := parse_block(self.pending, at)) is not None:
            size, plain = found
            self._block(self.offset + at, size, plain)
            at += size
        del self.pending[:at]
        self.offset += at

    def _block(self, start: int, size: int, plain: bytes) -> None:
        end = start + size
        self.index.eof = not plain  # the last block decides: an empty one is the EOF marker
        parts = plain.split(b"\n")
        for i, piece in enumerate(parts):
            if not self.line:
                self.line_block = start
            self.line += piece
            if i < len(parts) - 1:
                self._line(bytes(self.line), end)
                self.line.clear()
        if self.line:
            self.index.aligned = False
        self.index.size = end

    def _line(self, line: bytes, end: int) -> None:
        if not line:
            return
        if line.startswith(b"#"):
            if not self.in_header:
                raise errors.BAD_VCF("a header line after the records")
            self.index.header = (0, end)
            return
        self.in_header = False
        chrom, first, last = record_span(line)
        entries = self.index.entries
        if entries and entries[-1].start == self.line_block and entries[-1].chrom == chrom:
            e = entries[-1]
            entries[-1] = IndexEntry(chrom, min(e.first, first), max(e.last, last), e.start,
                                     max(e.end, end))
        else:
            entries.append(IndexEntry(chrom, first, last, self.line_block, end))

    def finish(self) -> RegionIndex:
        if self.pending or self.line:
            raise errors.NOT_BGZF("the file ends inside a block or a line")
        return self.index


def build_index(chunks: Iterable[bytes]) -> RegionIndex:
    builder = IndexBuilder()
    for chunk in chunks:
        builder.feed(chunk)
    return builder.finish()


def records_in(vcf: bytes, region: Region) -> Iterator[bytes]:
    """The record lines of uncompressed VCF that overlap ``region``."""
    for line in vcf.split(b"\n"):
        if line and not line.startswith(b"#"):
            chrom, first, last = record_span(line)
            if chrom == region.chrom and first <= region.end and last >= region.start:
                yield line
