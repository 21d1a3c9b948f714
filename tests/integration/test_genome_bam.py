"""A BAM sealed with its BAI index and read by region through htsget ``reads`` on the
in-process consortium: the alignments are those pysam (htslib; test extra, an oracle)
fetches, decoded from the ticket's proven ranges alone; the ticket is a part of the
file; a BAM is not served as ``variants``; a reader without consent is refused."""

from __future__ import annotations

import io
import random
import struct
from collections.abc import Iterator
from pathlib import Path

import pysam
import pytest

from phrchain.client.http import ApiError
from phrchain.genome import bgzf
from tests.consortium import A1, B1, HOSPITAL_A, Consortium, P, running

ORG = HOSPITAL_A.did
REFS = (("chr1", 400_000), ("chr2", 150_000))


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("genome-bam")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def bam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rng = random.Random(7)
    path = tmp_path_factory.mktemp("bam") / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"},
              "SQ": [{"SN": name, "LN": length} for name, length in REFS]}
    reads = sorted((ref_id, rng.randrange(0, length - 200))
                   for ref_id, (_, length) in enumerate(REFS) for _ in range(length // 100))
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for n, (ref_id, pos) in enumerate(reads):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.reference_id, a.reference_start = f"r{n}", ref_id, pos
            a.mapping_quality, a.cigarstring = 60, "100M"
            a.query_sequence = "".join(rng.choice("ACGT") for _ in range(100))
            a.query_qualities = pysam.qualitystring_to_array("I" * 100)
            out.write(a)
    pysam.index(str(path))
    return path


@pytest.fixture(scope="module")
def sealed(c: Consortium, bam: Path) -> str:
    bai_bytes = Path(str(bam) + ".bai").read_bytes()
    obj = c.client(A1).genome.seal(io.BytesIO(bam.read_bytes()), P.did, fmt="bam",
                                   custodian=ORG, bai_index=bai_bytes)
    c.flush()
    return obj.id


def names(records: list[bytes]) -> list[tuple[str, int]]:
    out = []
    for r in records:
        (pos,) = struct.unpack_from("<i", r, 8)
        out.append((r[36:36 + r[12] - 1].decode(), pos))
    return out


@pytest.mark.parametrize("region", ["chr1:1-100", "chr1:200001-201000", "chr2:1-150000",
                                    "chrX:1-100"])
def test_a_region_is_what_htslib_fetches(c: Consortium, sealed: str, bam: Path,
                                         region: str) -> None:
    r = bgzf.Region.parse(region)
    with pysam.AlignmentFile(str(bam), "rb") as f:
        want = [] if r.chrom not in f.references else [
            (a.query_name, a.reference_start) for a in f.fetch(r.chrom, r.start - 1, r.end)]
    got = c.client(P).genome.alignments(ORG, sealed, r, purpose="PATRQT")
    assert names(got) == want


def test_the_ticket_is_bam_and_a_part_of_the_file(c: Consortium, sealed: str,
                                                  bam: Path) -> None:
    p = c.client(P).genome
    region = bgzf.Region.parse("chr1:200001-201000")
    ticket = p.htsget(ORG, sealed, region, purpose="PATRQT", endpoint="reads")
    assert ticket["htsget"]["format"] == "BAM" and ticket["phrchain"]["chunks"]
    part = p.fetch_ticket(ORG, ticket)
    whole = p.fetch_ticket(ORG, p.htsget(ORG, sealed, None, purpose="PATRQT",
                                         endpoint="reads"))
    assert whole == bam.read_bytes()
    # on a file this small htslib keeps most chunks in the 1 Mb bins (bins under 64 KB
    # move to their parent): the linear index trims the start, the reference the rest
    assert 0 < len(part) < len(whole)
    chr2 = p.fetch_ticket(ORG, p.htsget(ORG, sealed, bgzf.Region.parse("chr2:1-1000"),
                                        purpose="PATRQT", endpoint="reads"))
    assert 0 < len(chr2) < len(whole) // 2
    with pytest.raises(ApiError) as wrong:  # a BAM is not served as variants
        p.htsget(ORG, sealed, region, purpose="PATRQT")
    assert (wrong.value.codespace, wrong.value.code) == ("c4gh", 23)


def test_a_reader_without_consent_is_refused(c: Consortium, sealed: str) -> None:
    with pytest.raises(ApiError) as denied:
        c.client(B1).genome.alignments(ORG, sealed, bgzf.Region.parse("chr1:1-100"))
    assert (denied.value.codespace, denied.value.code) == ("vault", 26)


def test_a_region_as_a_bam_file_opens_with_htslib(c: Consortium, sealed: str, bam: Path,
                                                  tmp_path: Path) -> None:
    region = bgzf.Region.parse("chr2:50001-52000")
    out = tmp_path / "region.bam"
    with out.open("wb") as sink:
        n = c.client(P).genome.region_bam(ORG, sealed, region, sink, purpose="PATRQT")
    with pysam.AlignmentFile(str(bam), "rb") as f:
        want = [a.to_string() for a in f.fetch("chr2", 50_000, 52_000)]
    with pysam.AlignmentFile(str(out), "rb", check_sq=True) as f:
        assert f.references == ("chr1", "chr2")
        got = [a.to_string() for a in f]
    assert got == want and n == len(want) > 0
