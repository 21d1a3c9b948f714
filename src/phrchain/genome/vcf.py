"""VCF helpers: a synthetic VCF for tests and benches, bgzipped writing, and the
pseudonymised export for research (``docs/genomics.md`` § Research export).

The export replaces every sample id by a per-study keyed pseudonym,
``"S" + hex(HMAC-SHA256(study key, "phrchain/genome/study-pseudonym/v1" ‖ 0x00 ‖ study
‖ 0x00 ‖ sample id))[:32]``: the same person gets the same pseudonym within a study and
unrelated ones across studies, and nobody without the vault-held study key can test a
guess (a plain hash of a sample id could be). Header lines that identify a run or a
person are dropped: command lines (``##commandline``, ``##…Command…``), dates
(``##fileDate`` and any line with a date), filesystem paths and URLs with a host, and
per-sample metadata (``##SAMPLE``, ``##PEDIGREE``).
"""

from __future__ import annotations

import random
import re
from collections.abc import Iterable, Iterator
from typing import BinaryIO, Final

from cryptography.hazmat.primitives import hashes, hmac

from phrchain.core.hashing import domain_prefix
from phrchain.genome import bgzf, errors

PSEUDONYM_TAG: Final = "phrchain/genome/study-pseudonym/v1"
KEY_SIZE: Final = 32
_DROP: Final = re.compile(
    rb"^##(?:commandline|fileDate|SAMPLE|PEDIGREE|\w*[Cc]ommand\w*)[=<]|"
    rb"(?:19|20)\d\d-?[01]\d-?[0-3]\d|"  # a date anywhere in a header line
    rb"(?:file:/|=/|\"/|[A-Za-z]:\\\\|https?://|ftp://)")  # a path or a host
BASES: Final = b"ACGT"


def study_pseudonym(key: bytes, study: str, sample: str) -> str:
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise errors.BAD_PSEUDONYM_KEY(f"{KEY_SIZE} bytes")
    mac = hmac.HMAC(key, hashes.SHA256())
    mac.update(domain_prefix(PSEUDONYM_TAG) + study.encode() + b"\0" + sample.encode())
    return "S" + mac.finalize().hex()[:32]


def pseudonymise(lines: Iterable[bytes], study: str, key: bytes) -> Iterator[bytes]:
    """The VCF ``lines`` (without newlines) for study ``study``: identifying header
    lines dropped, sample columns renamed; records pass unchanged."""
    for line in lines:
        if line.startswith(b"##"):
            if _DROP.search(line) is None:
                yield line
        elif line.startswith(b"#CHROM"):
            cols = line.split(b"\t")
            if len(cols) < 8:
                raise errors.BAD_VCF("the #CHROM line has fewer than 8 columns")
            samples = [study_pseudonym(key, study, s.decode("utf-8", "replace")).encode()
                       for s in cols[9:]]
            yield b"\t".join(cols[:9] + samples)
        else:
            yield line


def synthetic(samples: int = 2, per_chrom: int = 200, chroms: Iterable[str] = ("chr1",
              "chr2"), seed: int = 7, sample_prefix: str = "NA") -> Iterator[bytes]:
    """A small, valid VCF 4.3 (no real person's data), records sorted, one per 10 bp."""
    rng = random.Random(seed)  # noqa: S311 (synthetic data, not a secret)
    names = [f"{sample_prefix}{12878 + i}" for i in range(samples)]
    yield b"##fileformat=VCFv4.3"
    yield b"##fileDate=20240131"
    yield b"##source=phrchain-synthetic"
    yield b"##reference=file:///data/ref/GRCh38.fa"
    yield b"##commandline=\"caller --in /home/lab/run7/sample.bam\""
    chrom_list = list(chroms)
    for chrom in chrom_list:
        yield b"##contig=<ID=" + chrom.encode() + b">"
    yield b'##FORMAT=<ID=GT,Number=1,Type=String,Description="Genotype">'
    yield b"#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO\tFORMAT\t" + \
        "\t".join(names).encode()
    for chrom in chrom_list:
        for i in range(per_chrom):
            ref = bytes([BASES[rng.randrange(4)]])
            alt = bytes([b for b in BASES if b != ref[0]][rng.randrange(3):][:1])
            gts = b"\t".join(rng.choice((b"0/0", b"0/1", b"1/1")) for _ in names)
            yield b"\t".join((chrom.encode(), str(10 * i + 1).encode(), b".", ref, alt,
                              b"50", b"PASS", b".", b"GT", gts))


def write_bgzf(lines: Iterable[bytes], sink: BinaryIO) -> None:
    """Write VCF lines as BGZF, the header in blocks of its own."""
    writer = bgzf.Writer(sink)
    in_header = True
    for line in lines:
        if in_header and not line.startswith(b"#"):
            writer.flush_block()
            in_header = False
        writer.write(line + b"\n")
    writer.close()
