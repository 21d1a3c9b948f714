"""A prepared research release survives a vault restart (``gateway/research_store.py``):
the release officer prepares through the vault's HTTP route, the vault stops, a new
``Vault`` opens the same home, and the officer's approval and the institute's fetch go
through the new one; ``vault verify`` finds the home clean."""

from __future__ import annotations

import json
import time
from pathlib import Path

from phrchain.api.server import BackgroundServer
from phrchain.client import builder
from phrchain.client.vault import VaultClient
from phrchain.client.wallet import Wallet
from phrchain.deid import default_config
from phrchain.fhir.synthetic import generate_patients
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.gateway.verify import verify_vault
from phrchain.research import terms
from phrchain.research.vault import open_for_study
from tests.consortium import A1, A2, AUTHORITY, HOSPITAL_A, RESEARCH, RR, running
from tests.researchflow import oid, study_msg
from tests.trialflow import pseudonym


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_a_prepared_release_survives_a_vault_restart(tmp_path: Path) -> None:
    with running(tmp_path) as c:
        admin = c.client(AUTHORITY)
        admin.node.send(AUTHORITY, [{"type": "research/set_params",
                                     **terms.params(min_k=1, min_l=1)}])
        admin.node.send(HOSPITAL_A, [builder.set_roles(A2.did, ["auditor", "physician"])])
        seed = pseudonym(bytes([90]) * 32, HOSPITAL_A.did, "custodian").seed
        donor = Wallet.from_secrets(seed, bytes([91]) * 32, "donor")
        admin.node.send(donor, [builder.register_patient(donor.enc_key)])
        bundle = generate_patients(1, seed=9, resources_per_patient=4)[0]
        for entry in bundle["entry"]:
            c.client(A1).records.add_resource(entry["resource"], donor.did)
        with c.client(donor) as me:
            me.research.donate({"code": "HMB"}, [], {"all": True}, now_ms(),
                               now_ms() + 86_400_000)
        study = study_msg(oid("restart study"), irb=False, k=1, l=1)
        c.client(RR).research.register_study(study)
        request = c.client(RR).research.request(study.study)["request"]
        raw = json.loads(json.dumps(default_config().raw))
        raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 1, "l": 1})
        dataset = oid("restart dataset")
        body = {"request": request, "dataset": dataset, "config": raw,
                "reference_year": 2026, "recorded": "2026-12-07T10:00:00Z"}
        with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A2) as vc:
            prepared = vc._request("POST", "/v1/vault/research/releases",
                                   body=json.dumps(body).encode()).json()
        old = c.vaults[HOSPITAL_A.did]
        home = old.config.directory
        old.close()                                          # the vault stops
        vault = Vault(VaultConfig(home, flush_interval_s=0.05, sync_interval_s=3600),
                      LocalChain(c.node), HOSPITAL_A.signing_key, HOSPITAL_A.encryption_key)
        vault.start()
        try:
            with BackgroundServer(create_vault_app(vault)) as url:
                with VaultClient(url, HOSPITAL_A.did, A2) as vc:
                    done = vc._request(
                        "POST", f"/v1/vault/research/releases/{dataset}/approve",
                        body=json.dumps({"approval": A2.signing_key.sign(
                            bytes.fromhex(prepared["sign"])).hex()}).encode()).json()
                assert done["manifest"]["root"] == prepared["manifest"]["root"]
                assert c.query("research/dataset", dataset=dataset)["approver"] == A2.did
                with VaultClient(url, HOSPITAL_A.did, RR) as vc:
                    files = open_for_study(vc.research_package(dataset),
                                           RESEARCH.encryption_key)
                assert b"Patient" in files["Patient.ndjson"]
        finally:
            vault.close()
        report = verify_vault(home)
        assert report.ok, [str(f) for f in report.findings]
        assert "research releases: 1 prepared or released part(s)" in report.notes
