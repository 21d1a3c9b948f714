"""BAM region reads with a BAI index (SAM/BAM spec v1 §4.2 and §5): which bytes of a
BAM file hold the alignments overlapping a region, and those alignments from the bytes.

- :func:`parse_bai` reads a ``.bai`` (``BAI\\1``, per reference the binning index —
  bin → chunks of virtual offsets — and the 16 kb linear index) as samtools or htslib
  write it; :meth:`BaiIndex.chunks` is the spec's query: the bins :func:`reg2bins`
  gives for ``[beg, end)``, chunks ending before the linear index's lowest offset
  dropped, the rest sorted and merged.
- :func:`file_ranges` turns chunks into byte ranges of the BAM file: from the block where
  a chunk starts to the end of the block where it ends (a BGZF virtual offset is
  ``block offset << 16 | offset in the block``); with the header's blocks first, this is
  what an htsget ticket for BAM lists.
- :func:`read_header` and :func:`alignments_in` decode the header (reference names) and
  the alignments of the chunks from the decompressed blocks, keeping those overlapping
  the region (an alignment's end from its CIGAR, spec §4.2.2): the reader filters, as
  for VCF (``bgzf.py``).

Malformed input is refused with ``c4gh/24 bad_bai`` (the index) or ``c4gh/25 bad_bam``.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO, Final

from phrchain.genome import bgzf, errors

MAGIC: Final = b"BAI\x01"
PSEUDO_BIN: Final = 37450  # per-reference metadata, not a bin (§5.2)
MAX_REFS: Final = 1 << 20
MAX_POS: Final = 1 << 29  # BAI bins cover 0 .. 2^29 - 1
_I32: Final = struct.Struct("<i")
_U64: Final = struct.Struct("<Q")
_CHUNK: Final = struct.Struct("<QQ")
_BIN_HEAD: Final = struct.Struct("<Ii")
_ALIGNMENT: Final = struct.Struct("<iiiBBHHHiiii")  # block_size … tlen (§4.2)
# CIGAR operations that consume the reference: M D N = X (§4.2.2, "MIDNSHP=X").
_REF_OPS: Final = frozenset((0, 2, 3, 7, 8))

Chunk = tuple[int, int]  # virtual offsets [beg, end)


class _NeedMore(Exception):
    """A read past the last block of a :class:`Blocks` that more blocks will follow."""


def reg2bins(beg: int, end: int) -> list[int]:
    """The bins that may hold alignments overlapping 0-based ``[beg, end)`` (§5.3)."""
    end -= 1
    bins = [0]
    for first, shift in ((1, 26), (9, 23), (73, 20), (585, 17), (4681, 14)):
        bins.extend(range(first + (beg >> shift), first + (end >> shift) + 1))
    return bins


@dataclass(frozen=True, slots=True)
class Reference:
    bins: dict[int, tuple[Chunk, ...]]
    linear: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class BaiIndex:
    references: tuple[Reference, ...]

    def chunks(self, ref_id: int, beg: int, end: int) -> list[Chunk]:
        """Merged virtual-offset chunks that hold every alignment of reference
        ``ref_id`` overlapping 0-based ``[beg, end)``."""
        if not 0 <= ref_id < len(self.references):
            return []
        beg, end = max(0, beg), min(end, MAX_POS)
        if beg >= end:
            return []
        ref = self.references[ref_id]
        window = beg >> 14
        min_offset = ref.linear[min(window, len(ref.linear) - 1)] if ref.linear else 0
        found = sorted(c for b in reg2bins(beg, end) for c in ref.bins.get(b, ())
                       if c[1] > min_offset)
        merged: list[Chunk] = []
        for lo, hi in found:
            if merged and lo <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
            else:
                merged.append((lo, hi))
        return merged


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def take(self, fmt: struct.Struct) -> tuple[int, ...]:
        if self.at + fmt.size > len(self.data):
            raise errors.BAD_BAI("the index ends early")
        values = fmt.unpack_from(self.data, self.at)
        self.at += fmt.size
        return values

    def count(self, what: str, limit: int) -> int:
        (n,) = self.take(_I32)
        if not 0 <= n <= limit or self.at + n > len(self.data) + 1:
            raise errors.BAD_BAI(f"{what}: {n}")
        return n


def parse_bai(data: bytes) -> BaiIndex:
    if data[:4] != MAGIC:
        raise errors.BAD_BAI("no BAI magic")
    r = _Reader(data)
    r.at = 4
    refs = []
    for _ in range(r.count("references", MAX_REFS)):
        bins: dict[int, tuple[Chunk, ...]] = {}
        for _ in range(r.count("bins", len(data))):
            bin_id, n_chunk = r.take(_BIN_HEAD)
            if not 0 <= n_chunk <= len(data) or bin_id in bins:
                raise errors.BAD_BAI(f"bin {bin_id}: {n_chunk} chunks")
            chunks = tuple((lo, hi) for lo, hi in (r.take(_CHUNK) for _ in range(n_chunk)))
            if bin_id == PSEUDO_BIN:
                continue
            if bin_id > PSEUDO_BIN or any(lo > hi for lo, hi in chunks):
                raise errors.BAD_BAI(f"bin {bin_id} or its chunks are out of range")
            bins[bin_id] = chunks
        linear = tuple(r.take(_U64)[0] for _ in range(r.count("intervals", len(data))))
        refs.append(Reference(bins, linear))
    if len(data) - r.at not in (0, 8):  # the optional count of unplaced reads
        raise errors.BAD_BAI("bytes after the index")
    return BaiIndex(tuple(refs))


def file_ranges(chunks: Sequence[Chunk], block_end: Callable[[int], int],
                header_end: int) -> list[tuple[int, int]]:
    """Byte ranges ``[start, end)`` of the BAM file: ``[0, header_end)`` and each
    chunk's blocks, merged; ``block_end(offset)`` is the end of the block starting at
    ``offset`` (a chunk ending at a block's start needs none of it)."""
    wanted = [(0, header_end)] if header_end else []
    for lo, hi in chunks:
        end = hi >> 16 if hi & 0xFFFF == 0 else block_end(hi >> 16)
        wanted.append((lo >> 16, max(end, (lo >> 16) + 1)))
    merged: list[tuple[int, int]] = []
    for start, end in sorted(wanted):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class Blocks:
    """The decompressed BGZF blocks of (parts of) a BAM file, by file offset: enough to
    read from any virtual offset within the parts held."""

    def __init__(self, parts: Sequence[tuple[int, bytes]], *, partial: bool = False) -> None:
        self.partial = partial  # more blocks follow: reading past them is _NeedMore
        self.plain: dict[int, bytes] = {}
        self.next: dict[int, int] = {}
        for offset, data in parts:
            at = 0
            while (found := bgzf.parse_block(data, at)) is not None:
                size, plain = found
                self.plain[offset + at] = plain
                self.next[offset + at] = offset + at + size
                at += size
            if at != len(data):
                raise errors.BAD_BAM(f"bytes at {offset + at} are not whole BGZF blocks")

    def block_end(self, offset: int) -> int:
        if offset not in self.next:
            raise errors.BAD_BAM(f"no block at {offset}")
        return self.next[offset]

    def read(self, voffset: int, n: int) -> tuple[bytes, int]:
        """``n`` bytes from ``voffset`` and the virtual offset after them."""
        block, at = voffset >> 16, voffset & 0xFFFF
        out = bytearray()
        while len(out) < n:
            plain = self.plain.get(block)
            if plain is None:
                if self.partial and block not in self.next \
                        and block == max(self.next.values(), default=0):
                    raise _NeedMore
                raise errors.BAD_BAM(f"no block at {block}")
            piece = plain[at:at + n - len(out)]
            out += piece
            at += len(piece)
            if at >= len(plain) and len(out) < n:
                block, at = self.next[block], 0
                if self.partial and block not in self.plain:
                    raise _NeedMore
        if at >= len(self.plain[block]) and block in self.next \
                and self.next[block] in self.plain:
            block, at = self.next[block], 0
        return bytes(out), block << 16 | at


def read_header(blocks: Blocks) -> tuple[list[str], int]:
    """Reference names and the virtual offset of the first alignment (§4.2)."""
    magic, v = blocks.read(0, 8)
    if magic[:4] != b"BAM\x01":
        raise errors.BAD_BAM("no BAM magic")
    (l_text,) = _I32.unpack(magic[4:])
    if l_text < 0:
        raise errors.BAD_BAM("a negative header length")
    _, v = blocks.read(v, l_text)
    raw, v = blocks.read(v, 4)
    names = []
    for _ in range(_I32.unpack(raw)[0]):
        raw, v = blocks.read(v, 4)
        (l_name,) = _I32.unpack(raw)
        if not 0 < l_name <= 1 << 16:
            raise errors.BAD_BAM("a reference name length is out of range")
        name, v = blocks.read(v, l_name + 4)
        names.append(name[:l_name - 1].decode("ascii", "replace"))
    return names, v


def header_bytes(blocks: Blocks) -> bytes:
    """The BAM header as it is (magic to the last reference), for writing it again."""
    _, first = read_header(blocks)
    length, block = first & 0xFFFF, 0
    while block != first >> 16:
        length += len(blocks.plain[block])
        block = blocks.next[block]
    return blocks.read(0, length)[0]


def write_bam(header: bytes, records: Iterator[bytes] | Sequence[bytes],
              sink: BinaryIO) -> None:
    """A BAM file of ``header`` and ``records`` (each with its ``block_size``): BGZF
    with the EOF block, readable by samtools and htslib."""
    writer = bgzf.Writer(sink)
    writer.write(header)
    for record in records:
        writer.write(record)
    writer.close()


def alignment_span(record: bytes) -> tuple[int, int, int]:
    """``(ref_id, pos, end)`` of an alignment record (after its block_size), 0-based,
    end exclusive; an alignment consuming no reference covers one base."""
    try:
        ref_id, pos, l_name, _mapq, _bin, n_cigar, _flag, _l_seq = \
            struct.unpack_from("<iiBBHHHi", record, 0)
        at = 32 + l_name
        cigar = struct.unpack_from(f"<{n_cigar}I", record, at)
    except struct.error:
        raise errors.BAD_BAM("an alignment record is too short") from None
    length = sum(op >> 4 for op in cigar if op & 0xF in _REF_OPS)
    return ref_id, pos, pos + max(length, 1)


def alignments_in(blocks: Blocks, chunks: Sequence[Chunk], ref_id: int, beg: int,
                  end: int) -> Iterator[bytes]:
    """Each alignment record (``block_size`` included) in ``chunks`` that lies on
    ``ref_id`` and overlaps 0-based ``[beg, end)``, in file order, once."""
    seen: set[int] = set()
    for lo, hi in chunks:
        v = lo
        while v < hi:
            raw, after = blocks.read(v, 4)
            (size,) = _I32.unpack(raw)
            if not 32 <= size <= 1 << 28:
                raise errors.BAD_BAM(f"an alignment of {size} bytes")
            record, after = blocks.read(after, size)
            r_id, pos, stop = alignment_span(record)
            if v not in seen and r_id == ref_id and pos < end and stop > beg:
                seen.add(v)
                yield raw + record
            if r_id > ref_id or (r_id == ref_id and pos >= end):
                break  # sorted by coordinate: nothing further overlaps
            v = after


@dataclass(frozen=True)
class BamIndex:
    """What the vault keeps to answer htsget ``reads`` for a sealed BAM (beside the
    object, like a VCF's ``bgzf.RegionIndex``; no sequence data): the reference names,
    the header's blocks ``[0, header_end)``, the BAI, and the end of every block a chunk
    ends inside (the vault cannot read the encrypted file to find them)."""

    names: tuple[str, ...]
    header_end: int
    bai: bytes
    block_ends: dict[int, int]
    size: int
    eof: bool

    def ranges(self, region: bgzf.Region) -> tuple[list[tuple[int, int]], list[Chunk], int]:
        """File byte ranges (header, the region's chunks, the EOF block), the chunks
        and the reference id (-1, and no chunks, for a name the BAM does not have)."""
        ref_id = self.names.index(region.chrom) if region.chrom in self.names else -1
        chunks = parse_bai(self.bai).chunks(ref_id, region.start - 1, region.end)

        def block_end(offset: int) -> int:
            if offset not in self.block_ends:
                raise errors.BAD_BAI(f"no block end kept for {offset}")
            return self.block_ends[offset]

        ranges = file_ranges(chunks, block_end, self.header_end)
        if self.eof:
            ranges = _merge([*ranges, (self.size - len(bgzf.EOF_BLOCK), self.size)])
        return ranges, chunks, ref_id

    def to_json(self) -> dict[str, Any]:
        return {"kind": "bai", "names": list(self.names), "header_end": self.header_end,
                "bai": base64.b64encode(self.bai).decode(), "size": self.size,
                "eof": self.eof, "block_ends": sorted(map(list, self.block_ends.items()))}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> BamIndex:
        try:
            found = cls(tuple(str(n) for n in data["names"]), int(data["header_end"]),
                        base64.b64decode(data["bai"], validate=True),
                        {int(o): int(e) for o, e in data["block_ends"]},
                        int(data["size"]), bool(data["eof"]))
        except (KeyError, TypeError, ValueError, binascii.Error):
            raise errors.BAD_BAI("a BAM region index is malformed") from None
        parse_bai(found.bai)
        return found


def index_from_json(data: dict[str, Any]) -> bgzf.RegionIndex | BamIndex:
    """A stored region index: a BAM's (``"kind": "bai"``) or a bgzipped VCF's."""
    if isinstance(data, dict) and data.get("kind") == "bai":
        return BamIndex.from_json(data)
    return bgzf.RegionIndex.from_json(data)


def _merge(wanted: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted(wanted):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


class BamIndexBuilder:
    """Fed a BAM file's bytes in order (any split, as ``seal_stream``'s ``on_plain``),
    with its ``.bai`` given up front: the :class:`BamIndex` to keep. Only the header's
    blocks are inflated; of the others only the sizes are read."""

    def __init__(self, bai_bytes: bytes) -> None:
        self.bai = bai_bytes
        index = parse_bai(bai_bytes)
        self.needed = {hi >> 16 for ref in index.references for chunks in ref.bins.values()
                       for _, hi in chunks if hi & 0xFFFF}
        self.ends: dict[int, int] = {}
        self.pending = bytearray()
        self.offset = 0
        self.head: list[tuple[int, bytes]] = []  # the first blocks, until the header parses
        self.header: tuple[list[str], int] | None = None
        self.last_empty = False

    def feed(self, data: bytes) -> None:
        self.pending += data
        at = 0
        while (size := _block_size(self.pending, at)) is not None:
            start = self.offset + at
            if start in self.needed:
                self.ends[start] = start + size
            if self.header is None:
                self.head.append((start, bytes(self.pending[at:at + size])))
                self._try_header()
            self.last_empty = size == len(bgzf.EOF_BLOCK) and \
                bytes(self.pending[at:at + size]) == bgzf.EOF_BLOCK
            at += size
        del self.pending[:at]
        self.offset += at

    def _try_header(self) -> None:
        blocks = Blocks(self.head, partial=True)
        try:
            names, first = read_header(blocks)
        except _NeedMore:
            return  # the header goes on in the next block
        end = first >> 16 if first & 0xFFFF == 0 else blocks.block_end(first >> 16)
        self.header = (names, end)
        self.head = []

    def finish(self) -> BamIndex:
        if self.pending or self.header is None:
            raise errors.BAD_BAM("the file ends inside a block or its header")
        missing = self.needed - set(self.ends)
        if missing:
            raise errors.BAD_BAI(f"{len(missing)} chunk(s) end in no block of this BAM")
        names, header_end = self.header
        return BamIndex(tuple(names), header_end, self.bai, self.ends, self.offset,
                        self.last_empty)


def _block_size(data: bytearray, at: int) -> int | None:
    """The size of the BGZF block at ``at`` from its header (not inflated); None if
    ``data`` ends before the block does."""
    if len(data) - at < 18:
        return None
    if data[at:at + 4] != b"\x1f\x8b\x08\x04":
        raise errors.BAD_BAM(f"no BGZF block at {at}")
    (xlen,) = struct.unpack_from("<H", data, at + 10)
    extra, end = at + 12, at + 12 + xlen
    if len(data) < end:
        return None
    while extra + 4 <= end:
        slen = struct.unpack_from("<H", data, extra + 2)[0]
        if data[extra:extra + 2] == b"BC" and slen == 2:
            size = struct.unpack_from("<H", data, extra + 4)[0] + 1
            return size if len(data) - at >= size else None
        extra += 4 + slen
    raise errors.BAD_BAM(f"block at {at} has no BC field")
