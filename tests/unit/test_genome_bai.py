"""BAM region reads with a BAI index (``genome/bai.py``), against pysam (htslib; test
extra only) as the oracle: a coordinate-sorted BAM and its ``.bai`` written by pysam;
for each region, the byte ranges our reading of the index asks for hold exactly the
alignments ``pysam.AlignmentFile.fetch`` returns, decoded from those bytes alone; a
small region needs a small part of the file; malformed indexes are refused."""

from __future__ import annotations

import json
import random
import struct
from pathlib import Path

import pysam
import pytest

from phrchain.genome import bai
from phrchain.genome.bgzf import Region
from phrchain.genome.errors import GenomeError

REFS = (("chr1", 2_000_000), ("chr2", 600_000), ("chrM", 16_569))


@pytest.fixture(scope="module")
def bam(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, bytes, Path]:
    """~12k reads: 100 bp matches, some spliced (N) or with deletions (D), a few 9 kb
    spans crossing 16 kb windows, and unplaced reads at the end."""
    rng = random.Random(18)
    path = tmp_path_factory.mktemp("bam") / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": name, "LN": length} for name, length in REFS]}
    reads = []
    for ref_id, (_, length) in enumerate(REFS):
        for _ in range(length // 250):
            reads.append((ref_id, rng.randrange(0, length - 12_000)))
    reads.sort()
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for n, (ref_id, pos) in enumerate(reads):
            a = pysam.AlignedSegment(out.header)
            a.query_name = f"read{n}"
            a.reference_id, a.reference_start, a.mapping_quality = ref_id, pos, 60
            a.query_sequence = "".join(rng.choice("ACGT") for _ in range(100))
            a.query_qualities = pysam.qualitystring_to_array("I" * 100)
            shape = n % 400
            a.cigarstring = ("50M9000N50M" if shape == 0 else "40M5D60M" if shape == 1
                             else "100M")
            out.write(a)
        for n in range(20):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.flag = f"unplaced{n}", 4
            a.reference_id, a.reference_start = -1, -1
            a.query_sequence = "ACGT" * 25
            out.write(a)
    pysam.index(str(path))
    return path.read_bytes(), Path(str(path) + ".bai").read_bytes(), path


def name_and_pos(record: bytes) -> tuple[str, int]:
    (pos,) = struct.unpack_from("<i", record, 8)
    l_name = record[12]
    return record[36:36 + l_name - 1].decode(), pos


def fetch_ours(data: bytes, index: bytes, contig: str, beg: int, end: int
               ) -> tuple[list[tuple[str, int]], int]:
    whole = bai.Blocks([(0, data)])
    names, first = bai.read_header(whole)
    header_end = first >> 16 if first & 0xFFFF == 0 else whole.block_end(first >> 16)
    chunks = bai.parse_bai(index).chunks(names.index(contig), beg, end)
    ranges = bai.file_ranges(chunks, whole.block_end, header_end)
    fetched = bai.Blocks([(lo, data[lo:hi]) for lo, hi in ranges])  # only these bytes
    assert bai.read_header(fetched)[0] == names
    got = [name_and_pos(r) for r in
           bai.alignments_in(fetched, chunks, names.index(contig), beg, end)]
    return got, sum(hi - lo for lo, hi in ranges)


REGIONS = [("chr1", 0, 1), ("chr1", 100_000, 100_500), ("chr1", 16_380, 16_390),
           ("chr1", 500_000, 800_000), ("chr1", 1_987_000, 2_000_000),
           ("chr2", 0, 600_000), ("chr2", 300_000, 300_001), ("chrM", 0, 16_569),
           ("chr1", 1_000_000, 1_000_000 + (1 << 14) * 3 + 7)]


@pytest.mark.parametrize(("contig", "beg", "end"), REGIONS)
def test_region_reads_are_what_htslib_fetches(bam: tuple[bytes, bytes, Path],
                                              contig: str, beg: int, end: int) -> None:
    data, index, path = bam
    with pysam.AlignmentFile(str(path), "rb") as f:
        expected = [(a.query_name, a.reference_start) for a in f.fetch(contig, beg, end)]
    got, fetched = fetch_ours(data, index, contig, beg, end)
    assert got == expected
    if end - beg <= 1000:  # htslib moves bins under 64 KB into their parent: on a file
        # this small the 1 Mb bins hold most chunks, and the linear index trims them
        assert fetched < len(data) // 2, "a small region reads a part of the file"


def test_reg2bins_is_the_spec_s() -> None:
    """§5.3: every level's bins for the span, from the root down to 16 kb."""
    assert bai.reg2bins(0, 1) == [0, 1, 9, 73, 585, 4681]
    assert bai.reg2bins(16_384, 16_385) == [0, 1, 9, 73, 585, 4682]
    assert bai.reg2bins(0, 1 << 17) == [0, 1, 9, 73, 585, *range(4681, 4689)]


def test_a_malformed_index_is_refused(bam: tuple[bytes, bytes, Path]) -> None:
    _, index, _ = bam
    for bad in (b"", b"BAI\x02" + index[4:], index[:len(index) // 2], index + b"x",
                index[:4] + struct.pack("<i", -1)):
        with pytest.raises(GenomeError) as exc:
            bai.parse_bai(bad)
        assert (exc.value.codespace, exc.value.code) == ("c4gh", 24)


def test_blocks_that_are_not_held_are_refused(bam: tuple[bytes, bytes, Path]) -> None:
    data, index, _ = bam
    whole = bai.Blocks([(0, data)])
    names, _ = bai.read_header(whole)
    chunks = bai.parse_bai(index).chunks(names.index("chr2"), 0, 600_000)
    with pytest.raises(GenomeError) as exc:  # the header's blocks only
        list(bai.alignments_in(bai.Blocks([(0, data[:whole.block_end(0)])]), chunks,
                               names.index("chr2"), 0, 600_000))
    assert (exc.value.codespace, exc.value.code) == ("c4gh", 25)
    with pytest.raises(GenomeError) as exc:  # half a block
        bai.Blocks([(0, data[:100])])
    assert exc.value.code == 25


def test_the_index_kept_at_seal_time_gives_the_same_ranges(
        bam: tuple[bytes, bytes, Path]) -> None:
    """Built from the BAM's bytes as the sealer streams them (odd pieces) and the .bai,
    kept as JSON: the same ranges as reading the whole file, and the EOF block."""
    data, index, path = bam
    builder = bai.BamIndexBuilder(index)
    for at in range(0, len(data), 70_001):
        builder.feed(data[at:at + 70_001])
    kept = bai.index_from_json(json.loads(json.dumps(builder.finish().to_json())))
    assert isinstance(kept, bai.BamIndex) and kept.size == len(data) and kept.eof
    whole = bai.Blocks([(0, data)])
    names, _ = bai.read_header(whole)
    assert list(kept.names) == names
    for contig, beg, end in REGIONS:
        ranges, chunks, ref_id = kept.ranges(Region(contig, beg + 1, end))
        assert ref_id == names.index(contig)
        assert chunks == bai.parse_bai(index).chunks(ref_id, beg, end)
        fetched = bai.Blocks([(lo, data[lo:hi]) for lo, hi in ranges])
        with pysam.AlignmentFile(str(path), "rb") as f:
            expected = [(a.query_name, a.reference_start) for a in f.fetch(contig, beg, end)]
        assert [name_and_pos(r) for r in
                bai.alignments_in(fetched, chunks, ref_id, beg, end)] == expected
        assert ranges[-1][1] == len(data)  # the EOF block closes every ticket
    assert kept.ranges(Region("chrUn", 1, 10))[1:] == ([], -1)
    with pytest.raises(GenomeError) as exc:  # the .bai of another file
        other = bai.BamIndexBuilder(index)
        other.feed(data[:whole.block_end(0)] + b"\x1f\x8b\x08\x04" + bytes(20))
    assert exc.value.code == 25
