"""A backup of a running node and a vault holding a genome object and a research release
(prepared, then released) restores into a new home and vault that serve both: the
object's region and crypt4gh body, the study's package with its dataset key kept (mode
0600); ``vault verify`` finds the restored vault clean against the chain; a tampered
copied object is refused at restore (``storage/backup_vault.py``)."""

from __future__ import annotations

import io
import json
import sqlite3
import time
from contextlib import closing
from pathlib import Path

import pytest

from phrchain.api.server import BackgroundServer
from phrchain.client import builder
from phrchain.client.http import NodeClient
from phrchain.client.vault import VaultClient
from phrchain.client.wallet import Wallet
from phrchain.deid import default_config
from phrchain.engine.solo.node import SoloNode
from phrchain.fhir.synthetic import generate_patients
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.genome_verify import check_genome
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.research_store import ReleaseStore
from phrchain.gateway.research_verify import check_research
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.gateway.verify import NodeChainView, verify_vault
from phrchain.genome import bgzf, vcf
from phrchain.genome.store import GenomeStore
from phrchain.research import terms
from phrchain.research.vault import open_for_study
from phrchain.storage import backup_vault
from phrchain.storage.backup import BackupError, _sqlite_copy, backup, restore
from phrchain.vault.check import Report
from tests.consortium import A1, A2, AUTHORITY, HOSPITAL_A, RESEARCH, RR, Consortium, P, running
from tests.researchflow import oid, study_msg
from tests.trialflow import pseudonym

ORG = HOSPITAL_A.did


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _release(c: Consortium) -> str:
    """A dataset prepared by the release officer and approved (released on chain)."""
    admin = c.client(AUTHORITY)
    admin.node.send(AUTHORITY, [{"type": "research/set_params",
                                 **terms.params(min_k=1, min_l=1)}])
    admin.node.send(HOSPITAL_A, [builder.set_roles(A2.did, ["auditor", "physician"])])
    seed = pseudonym(bytes([90]) * 32, ORG, "custodian").seed
    donor = Wallet.from_secrets(seed, bytes([91]) * 32, "donor")
    admin.node.send(donor, [builder.register_patient(donor.enc_key)])
    for entry in generate_patients(1, seed=9, resources_per_patient=4)[0]["entry"]:
        c.client(A1).records.add_resource(entry["resource"], donor.did)
    with c.client(donor) as me:
        me.research.donate({"code": "HMB"}, [], {"all": True}, now_ms(),
                           now_ms() + 86_400_000)
    study = study_msg(oid("backup study"), irb=False, k=1, l=1)
    c.client(RR).research.register_study(study)
    request = c.client(RR).research.request(study.study)["request"]
    raw = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 1, "l": 1})
    dataset = oid("backup dataset")
    body = {"request": request, "dataset": dataset, "config": raw,
            "reference_year": 2026, "recorded": "2026-12-07T10:00:00Z"}
    with VaultClient(c.directory[ORG], ORG, A2) as vc:
        prepared = vc._request("POST", "/v1/vault/research/releases",
                               body=json.dumps(body).encode()).json()
        vc._request("POST", f"/v1/vault/research/releases/{dataset}/approve",
                    body=json.dumps({"approval": A2.signing_key.sign(
                        bytes.fromhex(prepared["sign"])).hex()}).encode())
    return dataset


def _erased_while_copying(vault: Path, out: Path, record: str, dataset: str) -> None:
    """An object and a key erased after their index was copied stay erased in the copy:
    the object's rows are dropped with its file, the key is not copied."""
    def copy_then_erase(source: Path, target: Path) -> None:
        _sqlite_copy(source, target)
        if source.name == "genome.sqlite3":
            GenomeStore(vault / "genome").shred(bytes.fromhex(record))
        else:
            store = ReleaseStore(vault / "research")
            assert store.shred_key(dataset)
            store.close()

    assert backup_vault.copy_genome(vault, out, copy_then_erase) == [record]
    assert not (out / "genome/objects" / f"{record}.c4gh").exists()
    with closing(sqlite3.connect(out / "genome/genome.sqlite3")) as db:
        assert db.execute("SELECT count(*) FROM objects").fetchone() == (0,)
        assert db.execute("SELECT count(*) FROM packets").fetchone() == (0,)
    backup_vault.copy_research(vault, out, copy_then_erase)
    assert (out / "research/releases.sqlite3").is_file()
    assert list((out / "research/keys").iterdir()) == []
    report = Report()  # the partial copy holds these two stores only
    check_genome(out, report)
    check_research(out, report)
    assert report.ok, [str(f) for f in report.findings]
    assert "genome store: 0 object(s) checked" in report.notes


def test_a_vaults_genome_and_research_stores_survive_backup_and_restore(tmp_path: Path
                                                                        ) -> None:
    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(samples=2, per_chrom=3000, chroms=("chr1",)), sink)
    region = bgzf.Region.parse("chr1:1-20000")
    with running(tmp_path / "net") as c:
        sealed = c.client(A1).genome.seal(io.BytesIO(sink.getvalue()), P.did, custodian=ORG)
        dataset = _release(c)
        c.flush()
        expected = c.client(P).genome.region(ORG, sealed.id, region, purpose="PATRQT")
        assert expected
        vault_dir = c.vaults[ORG].config.directory
        out = tmp_path / "backup"
        manifest = backup(c.home, out, vault=vault_dir)  # node and vault both running
        files = manifest["files"]
        held = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_file()}
        assert held == set(files) | {"manifest.json"}  # no unhashed -wal/-shm beside
        record = sealed.record
        assert f"vault/genome/objects/{record}.c4gh" in files
        assert {"vault/genome/genome.sqlite3", "vault/research/releases.sqlite3",
                f"vault/research/keys/{dataset}.key"} <= set(files)
        assert (out / "vault/research/keys" / f"{dataset}.key").stat().st_mode & 0o777 \
            == 0o600

        home, vault_home = tmp_path / "restored", tmp_path / "restored-vault"
        restore(out, home, vault_home)
        assert (vault_home / "research/keys" / f"{dataset}.key").stat().st_mode & 0o777 \
            == 0o600
        assert (vault_home / "research/keys" / f"{dataset}.key").read_bytes() == \
            (vault_dir / "research/keys" / f"{dataset}.key").read_bytes()
        with NodeClient(c.api_url) as api:
            report = verify_vault(vault_home, NodeChainView(api))
        assert report.ok, [str(f) for f in report.findings]
        assert any(n.startswith("genome store: 1 object") for n in report.notes)

        node = SoloNode(home)  # replays to the backup's height
        node.start()
        vault = Vault(VaultConfig(vault_home, flush_interval_s=0.05, sync_interval_s=3600),
                      LocalChain(node), HOSPITAL_A.signing_key, HOSPITAL_A.encryption_key)
        vault.start()
        original = c.directory[ORG]
        try:
            with BackgroundServer(create_vault_app(vault)) as url:
                c.directory[ORG] = url  # the restored vault serves the chain's pointers
                assert c.client(P).genome.region(ORG, sealed.id, region,
                                                 purpose="PATRQT") == expected
                assert expected == list(bgzf.records_in(bgzf.decompress(sink.getvalue()),
                                                        region))
                with VaultClient(url, ORG, RR) as vc:
                    package = open_for_study(vc.research_package(dataset),
                                             RESEARCH.encryption_key)
                assert b"Patient" in package["Patient.ndjson"]
        finally:
            c.directory[ORG] = original
            vault.close()
            node.close()
        _erased_while_copying(vault_dir, tmp_path / "partial", record, dataset)

    stray = out / "vault/genome/genome.sqlite3-wal"  # SQLite would apply it: refused
    stray.write_bytes(b"\x00" * 32)
    with pytest.raises(BackupError, match="not in the manifest"):
        restore(out, tmp_path / "again", tmp_path / "again-vault")
    stray.unlink()
    damaged = out / "vault/genome/objects" / f"{record}.c4gh"
    raw = damaged.read_bytes()
    damaged.write_bytes(raw[:100] + bytes([raw[100] ^ 1]) + raw[101:])
    with pytest.raises(BackupError, match="differs from the manifest"):
        restore(out, tmp_path / "again", tmp_path / "again-vault")
    assert not (tmp_path / "again").exists() and not (tmp_path / "again-vault").exists()
