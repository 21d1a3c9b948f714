"""A custodian vault's research release through the real vault gateway (issue 17):
only the institution's own staff with a release role may prepare and approve; the CLI
(``phrchain research release``) does both, the chain holds the manifest, only the
included donor's records are leaves, and the study's institute fetches the dataset
sealed for it."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path

import pytest

from phrchain.cli.main import main
from phrchain.client import builder
from phrchain.client.http import ApiError
from phrchain.client.session import RecordsError
from phrchain.client.vault import VaultClient
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.deid import default_config
from phrchain.fhir.synthetic import generate_patients
from phrchain.research import terms
from phrchain.research.vault import open_for_study
from tests.consortium import A1, A2, AUTHORITY, HOSPITAL_A, RESEARCH, RR, running
from tests.researchflow import oid, study_msg
from tests.trialflow import pseudonym

PASS = "a long enough passphrase"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_release_route_and_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with running(tmp_path) as c:
        admin = c.client(AUTHORITY)
        admin.node.send(AUTHORITY, [{"type": "research/set_params",
                                     **terms.params(min_k=1, min_l=1)}])
        admin.node.send(HOSPITAL_A, [builder.set_roles(A2.did, ["auditor", "physician"])])
        donors, records = [], {}
        for i, bundle in enumerate(generate_patients(2, seed=5, resources_per_patient=4)):
            seed = pseudonym(bytes([70 + i]) * 32, HOSPITAL_A.did, "custodian").seed
            donor = Wallet.from_secrets(seed, bytes([80 + i]) * 32, f"donor {i}")
            admin.node.send(donor, [builder.register_patient(donor.enc_key)])
            records[i] = [c.client(A1).records.add_resource(e["resource"], donor.did)
                          for e in bundle["entry"]]
            with c.client(donor) as me:
                me.research.donate({"code": "HMB"} if i == 0 else
                                   {"code": "DS", "disease": "MONDO:0004979"},
                                   [], {"all": True}, now_ms(), now_ms() + 86_400_000)
            donors.append(donor)
        # the wallet helper: a choice of FHIR types becomes the donor's own record ids
        with c.client(donors[0]) as me:
            assert me.research.donation_scope({"resources": ["Patient"]}) == {
                "records": [records[0][0]]}
            assert me.research.donation_scope({"all": True}) == {"all": True}
            with pytest.raises(RecordsError):
                me.research.donation_scope({"categories": ["no such category"]})
        study = study_msg(oid("route study"), irb=False, k=1, l=1)
        c.client(RR).research.register_study(study)
        request = c.client(RR).research.request(study.study)["request"]
        url = c.directory[HOSPITAL_A.did]
        raw = json.loads(json.dumps(default_config().raw))   # one donor: k = l = 1
        raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 1, "l": 1})
        config = {"request": request, "dataset": oid("route dataset"), "config": raw,
                  "reference_year": 2026, "recorded": "2026-12-07T10:00:00Z"}
        # a physician without a release role, and another institution's staff: refused
        for who in (A1, RR):
            with VaultClient(url, HOSPITAL_A.did, who) as vc, \
                    pytest.raises(ApiError) as refused:
                vc._request("POST", "/v1/vault/research/releases",
                            body=json.dumps(config).encode())
            assert (refused.value.codespace, refused.value.code) == ("research", 20)
        # approving what was never prepared, or with a signature of something else
        with VaultClient(url, HOSPITAL_A.did, A2) as vc:
            with pytest.raises(ApiError) as refused:
                vc._request("POST", f"/v1/vault/research/releases/{oid('x')}/approve",
                            body=b'{"approval": "00"}')
            assert refused.value.code == 21
            vc._request("POST", "/v1/vault/research/releases",
                        body=json.dumps({**config, "dataset": oid("forged")}).encode())
            with pytest.raises(ApiError) as refused:
                vc._request("POST", f"/v1/vault/research/releases/{oid('forged')}/approve",
                            body=json.dumps({"approval": A2.signing_key.sign(
                                b"something else").hex()}).encode())
            assert refused.value.code == 22
        assert c.query("research/dataset", dataset=oid("forged")) is None
        # the CLI: prepare, sign with the officer's wallet, approve
        wallet, pw, vaults = tmp_path / "a2.wallet", tmp_path / "pw", tmp_path / "vaults.json"
        A2.save(wallet, PASS, kdf=KdfParams(memory_kib=1024, iterations=1, lanes=1))
        pw.write_text(PASS + "\n")
        vaults.write_text(json.dumps(c.directory))
        (tmp_path / "config.json").write_text(json.dumps(raw))
        capsys.readouterr()
        assert main(["research", "release", request, "--custodian", HOSPITAL_A.did,
                     "--dataset", oid("route dataset"),
                     "--config", str(tmp_path / "config.json"), "--wallet", str(wallet),
                     "--passphrase-file", str(pw), "--vaults", str(vaults),
                     "--node", c.api_url]) == 0, capsys.readouterr().err
        shown = json.loads(capsys.readouterr().out)
        manifest = c.query("research/dataset", dataset=oid("route dataset"))
        assert shown["manifest"] == manifest and manifest["approver"] == A2.did
        assert manifest["leaves"] == len(records[0])
        for record in records[0]:
            assert c.query("research/leaf", dataset=oid("route dataset"),
                           record=record) is not None
        for record in records[1]:
            assert c.query("research/leaf", dataset=oid("route dataset"),
                           record=record) is None
        assert shown["report"]["k"]["reached"] >= 1
        # the study's researcher fetches the dataset sealed for the institute
        with VaultClient(url, HOSPITAL_A.did, RR) as vc:
            sealed = vc.research_package(oid("route dataset"))
        files = open_for_study(sealed, RESEARCH.encryption_key)
        assert b"Patient" in files["Patient.ndjson"]
        assert secrets.compare_digest(sealed["dataset"], oid("route dataset"))
        with VaultClient(url, HOSPITAL_A.did, A1) as vc, pytest.raises(ApiError):
            vc.research_package(oid("route dataset"))
        # study end: the key file is destroyed in the vault and recorded on chain
        key_file = c.vaults[HOSPITAL_A.did].config.directory / "research" / "keys" / \
            f"{oid('route dataset')}.key"
        assert key_file.exists()
        with VaultClient(url, HOSPITAL_A.did, A1) as vc, pytest.raises(ApiError):
            vc.research_destroy_key(oid("route dataset"))      # not a release officer
        assert key_file.exists()
        with VaultClient(url, HOSPITAL_A.did, A2) as vc:
            done = vc.research_destroy_key(oid("route dataset"))
        assert done["manifest"]["key_destroyed_height"] is not None
        assert not key_file.exists()
        assert len(donors) == 2
