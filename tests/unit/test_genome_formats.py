"""refget digests (published vectors), BGZF written by hand and read by gzip, the
tabix-style region index, proven range reads (a tampered, swapped or missing segment
fails), the sealed genome descriptor, and the pseudonymised research export."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
from pathlib import Path

import pytest

from phrchain.core import rfc9162
from phrchain.deid.pseudonyms import study_pseudonym
from phrchain.genome import bgzf, objects, refget, vcf
from phrchain.genome import crypt4gh as c4
from phrchain.genome import descriptor as gdesc
from phrchain.genome.errors import GenomeError

VECTORS = Path(__file__).parent.parent / "vectors" / "genome"


@pytest.mark.parametrize("path", sorted(VECTORS.glob("refget_*.json")), ids=lambda p: p.stem)
def test_refget_published_vectors(path: Path) -> None:
    case = json.loads(path.read_text())
    seq = case["sequence"].encode()
    assert refget.sha512t24u(seq) == case["sha512t24u"]
    assert refget.sequence_id(seq.lower()) == case["refget_id"]
    fasta = [b">s1 test", seq[:2], seq[2:], b">s2", b""]
    assert next(iter(refget.fasta_digests(fasta))) == ("s1", case["refget_id"], len(seq))


def bgzipped(per_chrom: int = 3000) -> tuple[bytes, bytes]:
    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(per_chrom=per_chrom, chroms=("chr1", "chr2", "chrX")), sink)
    return sink.getvalue(), gzip.decompress(sink.getvalue())


def test_bgzf_is_gzip_with_bc_fields_and_the_eof_block() -> None:
    data, plain = bgzipped()
    assert data.endswith(bgzf.EOF_BLOCK) and bgzf.decompress(data) == plain
    assert data[12:16] == b"BC\x02\x00"  # the BC subfield of the first block
    with pytest.raises(GenomeError) as bad:
        bgzf.decompress(b"\x1f\x8b\x08\x00" + bytes(20))
    assert (bad.value.codespace, bad.value.code) == ("c4gh", 15)


@pytest.mark.parametrize("text", ["chr1:1-100", "chr2:1,001-2,000", "chrX:29991-30000",
                                  "chr1:29000-40000", "chr2", "chr9:1-100"])
def test_region_index_ranges_hold_exactly_the_regions_records(text: str) -> None:
    data, plain = bgzipped()
    index = bgzf.build_index(data[i:i + 777] for i in range(0, len(data), 777))
    region = bgzf.Region.parse(text)
    fetched = b"".join(data[a:b] for a, b in index.ranges(region))
    got = list(bgzf.records_in(gzip.decompress(fetched), region))
    assert got == list(bgzf.records_in(plain, region))
    if text != "chr2":
        assert len(fetched) < len(data) // 2  # not the whole file


def test_unaligned_bgzf_is_served_whole() -> None:
    """Blocks cut inside lines (as plain bgzip does): the index answers the whole file
    rather than a range that could start inside a record."""
    _, plain = bgzipped(800)
    sink = io.BytesIO()
    for i in range(0, len(plain), 5000):
        sink.write(bgzf.compress_block(plain[i:i + 5000]))
    sink.write(bgzf.EOF_BLOCK)
    index = bgzf.build_index([sink.getvalue()])
    assert not index.aligned
    assert index.ranges(bgzf.Region.parse("chr1:1-10")) == [(0, len(sink.getvalue()))]


@pytest.mark.parametrize("text", ["chr1:0-5", "chr1:9-3", "chr1:-", ":1-2", "chr 1"])
def test_bad_regions_are_refused(text: str) -> None:
    with pytest.raises(GenomeError) as bad:
        bgzf.Region.parse(text)
    assert (bad.value.codespace, bad.value.code) == ("c4gh", 14)


def sealed_object(size: int = 5 * c4.SEGMENT_SIZE + 99) -> tuple[objects.Sealed, bytes,
                                                                  list[bytes]]:
    plain = os.urandom(size)
    segments: list[bytes] = []
    sealed = objects.seal_stream(os.urandom(16), "did:key:zP", io.BytesIO(plain),
                                 lambda _i, s, _leaf: segments.append(s))
    return sealed, plain, segments


def parts_for(segments: list[bytes], indices: range) -> list[objects.SegmentPart]:
    leaves = [rfc9162.leaf_hash(s) for s in segments]
    return [objects.SegmentPart(i, segments[i],
                                tuple(rfc9162.inclusion_proof(leaves, i, len(leaves))))
            for i in indices]


def test_range_reads_with_proofs_and_tampering() -> None:
    sealed, plain, segments = sealed_object()
    meta = sealed.meta
    assert meta.root == rfc9162.root_from_leaf_hashes(list(sealed.leaf_hashes))
    assert sealed.sha256 == hashlib.sha256(plain).hexdigest()
    assert meta.size == c4.cipher_size(len(plain)) == sum(map(len, segments))
    start, end = c4.SEGMENT_SIZE - 10, 3 * c4.SEGMENT_SIZE + 7
    indices = objects.covering(meta.plain_size, start, end)
    kw = {"root": meta.root, "segments": meta.segments, "plain_size": meta.plain_size,
          "start": start, "end": end}
    assert objects.read_range([sealed.data_key], parts_for(segments, indices),
                              **kw) == plain[start:end]  # type: ignore[arg-type]
    tampered = list(segments)
    tampered[2] = tampered[2][:20] + bytes([tampered[2][20] ^ 1]) + tampered[2][21:]
    good = parts_for(segments, indices)
    swapped = [good[0], objects.SegmentPart(2, segments[1], good[1].proof), *good[2:]]
    bad_parts = {
        "flipped": [good[0], objects.SegmentPart(2, tampered[2], good[1].proof), *good[2:]],
        "swapped": swapped,
        "dropped": good[:-1],
        "other root": None,
    }
    for name, parts in bad_parts.items():
        with pytest.raises(GenomeError) as bad:
            if parts is None:
                objects.read_range([sealed.data_key], good, **{**kw, "root": bytes(32)})  # type: ignore[arg-type]
            else:
                objects.read_range([sealed.data_key], parts, **kw)  # type: ignore[arg-type]
        assert bad.value.code in (12, 13), name
    with pytest.raises(GenomeError):
        objects.covering(meta.plain_size, 0, meta.plain_size + 1)
    # the segments with a header are a standard crypt4gh file
    reader = os.urandom(32)
    file = objects.to_crypt4gh(c4.new_header(sealed.data_key, [c4.public_key_of(reader)]),
                               segments)
    out = io.BytesIO()
    c4.decrypt_stream(io.BytesIO(file), out, reader)
    assert out.getvalue() == plain


def test_the_genome_descriptor_seals_and_checks_its_commitment() -> None:
    key, record = os.urandom(32), os.urandom(16)
    d = gdesc.GenomeDescriptor.new(record=record.hex(), author="did:key:zA", format="vcf",
                                   size=100, segments=1, plain_size=72, sha256="ab" * 32,
                                   refget=[["chr1", "SQ.aKF498dAxcJAqme6QYQ7EZ07-fiw8Kw2", 4]])
    sealed = gdesc.seal(d, key)
    assert len(sealed) == gdesc.SEALED_SIZE
    assert gdesc.open_sealed(sealed, key, record, d.commitment()) == d
    for args in ((sealed, os.urandom(32), record, d.commitment()),
                 (sealed, key, record, bytes(32)),
                 (sealed[:-1] + bytes([sealed[-1] ^ 1]), key, record, d.commitment())):
        with pytest.raises(GenomeError) as bad:
            gdesc.open_sealed(*args)
        assert bad.value.code == 18


def test_research_export_pseudonymises_samples_and_drops_identifying_lines() -> None:
    key = os.urandom(32)
    lines = list(vcf.synthetic(samples=2, per_chrom=3))
    lines.insert(3, b"##GATKCommandLine=<ID=HaplotypeCaller,CommandLine=\"x\">")
    lines.insert(3, b"##SAMPLE=<ID=NA12878,Individual=Jane>")
    lines.insert(3, b"##INFO=<ID=DP,Number=1,Type=Integer,Description=\"Depth\">")
    out = list(vcf.pseudonymise(lines, "study-1", key))
    header = b"\n".join(x for x in out if x.startswith(b"##"))
    for gone in (b"fileDate", b"commandline", b"CommandLine", b"/data/ref", b"NA12878",
                 b"SAMPLE", b"/home/lab"):
        assert gone not in b"\n".join(out)
    assert b"##INFO=<ID=DP" in header and b"##fileformat=VCFv4.3" in header
    cols = next(x for x in out if x.startswith(b"#CHROM")).split(b"\t")
    assert cols[9].decode() == vcf.study_pseudonym(key, "study-1", "NA12878")
    # one key, one study: the VCF sample's pseudonym is the FHIR de-identification's
    assert cols[9].decode() == "S" + study_pseudonym(key, "study-1", "vcf-sample", "NA12878")
    assert cols[9].decode()[1:] != study_pseudonym(key, "study-1", "id", "NA12878")
    assert cols[9] != vcf.study_pseudonym(key, "study-2", "NA12878").encode()
    assert cols[9] != vcf.study_pseudonym(os.urandom(32), "study-1", "NA12878").encode()
    assert cols[9].decode() != hashlib.sha256(b"NA12878").hexdigest()[:33]
    records = [x for x in lines if not x.startswith(b"#")]
    assert [x for x in out if not x.startswith(b"#")] == records
    with pytest.raises(GenomeError) as bad_key:
        vcf.study_pseudonym(b"short", "s", "x")
    assert bad_key.value.code == 21


def test_the_vcf_sample_pseudonym_is_pinned() -> None:
    """Known answer (key 00..1f): a change of the pseudonym's derivation shows here."""
    assert vcf.study_pseudonym(bytes(range(32)), "study-1", "NA12878") == \
        "Sb61ecf000104c4d294f4f0aba3d8d97a"


@pytest.mark.parametrize("size", [1, 2, 3, 5, 8, 13, 64, 100])
def test_the_stores_memoised_proofs_are_rfc9162s(size: int) -> None:
    from phrchain.genome.store import _Tree

    leaves = [rfc9162.leaf_hash(bytes([i])) for i in range(size)]
    tree = _Tree(leaves)
    for i in range(size):
        assert tree.proof(i) == rfc9162.inclusion_proof(leaves, i, size)
    assert tree.hash(0, size) == rfc9162.root_from_leaf_hashes(leaves)


def test_the_store_writes_back_while_sealing(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """Through the page cache (the fallback where direct I/O is refused): every
    ``WRITEBACK_BYTES`` written, the writer starts an ``fdatasync`` on a thread
    (the disk works while the sealer goes on), waits for it before the final fsync, and
    the object is whole; with 0 only the final fsync runs."""
    import io
    import os

    from phrchain.genome import objects
    from phrchain.genome import store as genome_store

    synced: list[int] = []
    real = os.fdatasync
    monkeypatch.setattr(genome_store.os, "fdatasync",
                        lambda fd: (synced.append(fd), real(fd))[1])
    monkeypatch.setattr(genome_store, "DIRECT_IO", False)
    plain = os.urandom(5 * 64 * 1024 + 7)
    for every, background in ((128 * 1024, True), (0, False)):
        monkeypatch.setattr(genome_store, "WRITEBACK_BYTES", every)
        synced.clear()
        store = genome_store.GenomeStore(tmp_path / str(every))
        record = os.urandom(16)
        with store.writer(record, "did:key:zP") as w:
            sealed = objects.seal_stream(record, "did:key:zP", io.BytesIO(plain), w.add)
            w.finish(sealed.meta, {}, b"", None, None, {"sha256": sealed.sha256})
        assert bool(synced) == background  # one at a time: 1 or 2 here
        parts = store.parts(record, range(sealed.meta.segments))
        assert objects.read_range([sealed.data_key], parts, root=sealed.meta.root,
                                  segments=sealed.meta.segments,
                                  plain_size=len(plain), start=0, end=len(plain)) == plain


def test_a_failed_background_writeback_fails_the_object(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An I/O error seen by the background ``fdatasync`` is reported once per file:
    ``finish`` raises it (the final fsync alone would not see it) and nothing is kept."""
    import io
    import os

    from phrchain.genome import objects
    from phrchain.genome import store as genome_store

    def failing(fd: int) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(genome_store.os, "fdatasync", failing)
    monkeypatch.setattr(genome_store, "DIRECT_IO", False)
    monkeypatch.setattr(genome_store, "WRITEBACK_BYTES", 64 * 1024)
    store = genome_store.GenomeStore(tmp_path)
    record = os.urandom(16)
    with pytest.raises(OSError), store.writer(record, "did:key:zP") as w:
        sealed = objects.seal_stream(record, "did:key:zP",
                                     io.BytesIO(os.urandom(3 * 64 * 1024)), w.add)
        w.finish(sealed.meta, {}, b"", None, None, {"sha256": sealed.sha256})
    assert store.holder(record) is None and not list(store.files.iterdir())
