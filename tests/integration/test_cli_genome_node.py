"""``phrchain genome seal/grant/get --region/reads/revoke`` against a running consortium
(in-process ``main``, wallets as files, as an operator runs them)."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.genome import bgzf, vcf
from tests.consortium import A1, B1, HOSPITAL_A, P
from tests.integration.test_cli_records import Cli, Env, cli_env

DAY = 86_400_000


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    with cli_env(tmp_path_factory.mktemp("cli-genome"), {"p": P, "a1": A1, "b1": B1}) as e:
        yield e


def test_seal_grant_region_reads_revoke(env: Env, capsys: pytest.CaptureFixture[str],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    cli = Cli(env, capsys, monkeypatch)
    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(per_chrom=2000), sink)
    path: Path = env.tmp / "sample.vcf.gz"
    path.write_bytes(sink.getvalue())
    org = HOSPITAL_A.did
    sealed = json.loads(cli.ok("a1", "genome", "seal", str(path), "--patient", P.did))
    env.c.flush()
    assert sealed["custodian"] == org
    object_id, record = sealed["id"], sealed["record"]
    assert "no_consent" in cli.refused("b1", "genome", "get", object_id, "--org", org,
                                       "--region", "chr1:100-200")
    now = time.time_ns() // 1_000_000
    consent = env.c.client(P).consent.grant(
        {"kind": "practitioner", "id": B1.did}, actions=["read"],
        scope={"records": [record]}, purposes=["TREAT"], start_ms=now - 1000,
        end_ms=now + DAY, share_existing=False)
    cli.ok("p", "genome", "grant", object_id, "--org", org, "--reader", B1.did)
    out = cli.ok("b1", "genome", "get", object_id, "--org", org, "--region", "chr1:100-200")
    want = [line.decode() for line in bgzf.records_in(
        bgzf.decompress(sink.getvalue()), bgzf.Region.parse("chr1:100-200"))]
    assert out.splitlines() == want and len(want) == 10
    reads = json.loads(cli.ok("p", "genome", "reads", object_id, "--org", org))
    b1 = [(r["what"], r["decision"]) for r in reads if r["accessor"] == B1.did]
    assert b1[0] == ("htsget chr1:100-200", "deny:no_consent")
    assert ("htsget chr1:100-200", "permit:consent") in b1
    # the ticket's URLs: the header's bytes, then the region's blocks, each one read
    assert [w for w, d in b1 if w.startswith("bytes ") and d == "permit:consent"]
    env.c.client(P).consent.revoke(consent)
    assert json.loads(cli.ok("p", "genome", "revoke", object_id, "--org", org,
                             "--reader", B1.did))["dropped"] is True
    assert "consent_revoked" in cli.refused("b1", "genome", "get", object_id, "--org", org,
                                            "--region", "chr1:100-200")


def test_a_bam_sealed_with_its_bai_is_read_by_region(
        env: Env, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """``seal --format bam --bai FILE`` then ``get --reads --region R --out FILE``: the
    region's alignments as a BAM that pysam (test extra, an oracle) opens."""
    import pysam

    cli = Cli(env, capsys, monkeypatch)
    path = env.tmp / "reads.bam"
    header = {"HD": {"VN": "1.6", "SO": "coordinate"}, "SQ": [{"SN": "chr1", "LN": 50_000}]}
    with pysam.AlignmentFile(str(path), "wb", header=header) as out:
        for n, pos in enumerate(range(0, 49_000, 97)):
            a = pysam.AlignedSegment(out.header)
            a.query_name, a.reference_id, a.reference_start = f"r{n}", 0, pos
            a.cigarstring, a.query_sequence = "50M", "ACGTA" * 10
            out.write(a)
    pysam.index(str(path))
    org = HOSPITAL_A.did
    assert "--format bam" in cli.refused("a1", "genome", "seal", str(path), "--patient",
                                         P.did, "--bai", str(path) + ".bai")
    sealed = json.loads(cli.ok("a1", "genome", "seal", str(path), "--patient", P.did,
                               "--format", "bam", "--bai", str(path) + ".bai"))
    env.c.flush()
    region_bam = env.tmp / "region.bam"
    done = json.loads(cli.ok("p", "genome", "get", sealed["id"], "--org", org, "--reads",
                             "--region", "chr1:10001-10200", "--out", str(region_bam)))
    with pysam.AlignmentFile(str(path), "rb") as f:
        want = [a.query_name for a in f.fetch("chr1", 10_000, 10_200)]
    with pysam.AlignmentFile(str(region_bam), "rb") as f:
        assert [a.query_name for a in f] == want
    assert done["alignments"] == len(want) > 0
