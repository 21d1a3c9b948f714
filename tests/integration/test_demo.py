"""``phrchain demo``, the main job, as a real subprocess: the story completes, the chain it
leaves verifies from genesis, and nothing it prints identifies a synthetic patient."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from phrchain.cli.main import main
from phrchain.fhir.synthetic import generate_patients, identifying_strings

ENV = {k: v for k, v in os.environ.items() if k != "PHRCHAIN_PASSPHRASE"}
pytestmark = pytest.mark.slow


def _phrchain(*argv: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phrchain", *argv], capture_output=True,
                          text=True, timeout=timeout, env=ENV, check=False)


def test_demo_no_serve_completes_and_its_chain_verifies(tmp_path: Path) -> None:
    home = tmp_path / "demo"
    secret = tmp_path / "passphrase"
    secret.write_text("the demo's wallets\n")
    done = _phrchain("demo", "--no-serve", "--patients", "5", "--seed", "1",
                     "--home", str(home), "--passphrase-file", str(secret))
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    for step in ("Standing consent", "View:", "Push:", "Pull:", "Break-glass:",
                 "Revocation:", "Insurance:", "Drug supply:", "Portable record:",
                 "Clinical trials:", "Erasure:", "Access logs, verified"):
        assert step in out, f"the story lost its step {step!r}"
    assert "110 records validated against FHIR R4" in out       # 5 patients x 22 records
    assert "403 access_denied" in out and "consent_revoked" in out
    assert "410 erased" in out
    assert "break_glass permit" in out
    assert "contract decision: partial" in out and "(duplicate_claim)" in out
    assert "patient 1 paid it and can claim it in the web UI" in out  # the form's bill
    assert "refused (recalled)" in out and "refused at the counter: unknown_serial" in out
    assert "raised opioid_benzodiazepine" in out
    assert "a statutory read the patient is shown" in out
    assert "HEART-1 results: mortality: reported, qol: reported, readmission: reported" in out
    assert "HEART-2 results: mortality: reported/switched_primary_secondary" in out
    assert "readmission: reported/switched_primary_secondary" in out
    assert "verified it offline against the validator's key" in out
    assert "phrchain verify --home" in out
    # issue 14: patients act through pseudonyms, one per institution
    assert "treats patient 1 too, under another pseudonym" in out
    assert "emergency card names their Hanbit pseudonym" in out
    assert "linked by the Hanbit pseudonym's signature" in out
    assert "over 3 pseudonym log(s)" in out

    verified = _phrchain("verify", "--home", str(home / "node"))
    assert verified.returncode == 0, verified.stderr
    assert "chain ok" in verified.stdout

    # The account names roles and record types, never a patient's identity.
    printed = (out + done.stderr).lower()
    for bundle in generate_patients(5, 1, 24):
        for needle in identifying_strings(bundle):
            assert needle.lower() not in printed, "the demo printed an identifying string"

    # the wallet files keep each patient's pseudonyms (the web UI's login reads them),
    # each registered on chain; the wallet's own DID never is
    from phrchain.client.wallet import Wallet
    from phrchain.engine.solo.node import SoloNode

    patient = Wallet.load(home / "wallets" / "patient_1.json", "the demo's wallets")
    assert {p.kind for p in patient.pseudonyms()} == {"custodian", "insurer"}
    assert len(patient.emergency_card()) == 2
    node = SoloNode(home / "node")
    try:
        for p in patient.pseudonyms():
            assert node.query("identity/did", {"did": p.did})["value"]["kind"] == "patient"
        assert node.query("identity/did", {"did": patient.did})["value"] is None
    finally:
        node.close()

    members = json.loads((home / "directory.json").read_text())["members"]
    assert {"patient_1", "patient_5", "dr_lee", "auditor", "insurer"} <= set(members)
    assert all((home / "wallets" / f"{name}.json").exists() for name in members)


def test_demo_serves_the_api_on_loopback_until_terminated(tmp_path: Path) -> None:
    with (tmp_path / "stderr").open("w") as err, subprocess.Popen(
            [sys.executable, "-m", "phrchain", "demo", "--patients", "1",
             "--home", str(tmp_path / "d"), "--port", "0"],
            env=ENV, stdout=subprocess.PIPE, stderr=err, text=True) as proc:
        try:
            url, serving = "", False
            deadline = time.monotonic() + 240
            assert proc.stdout is not None
            while time.monotonic() < deadline and not url:
                line = proc.stdout.readline()
                if not line:
                    break
                serving = serving or line.startswith("Serving on loopback")
                if serving and line.strip().startswith("node API"):
                    url = line.split()[2]
            assert url.startswith("http://127.0.0.1:"), "the demo did not say where it serves"
            status = httpx.get(f"{url}/v1/status", timeout=10).json()
            assert status["chain_id"] == "phr-demo" and status["height"] > 10
            page = httpx.get(f"{url}/ui/", timeout=10)
            assert page.status_code == 200 and "<script" in page.text
            wallets = httpx.get(f"{url}/ui/api/wallets", timeout=10).json()
            names = {w["name"] for w in wallets["wallets"]}
            assert {"patient_1", "dr_lee", "auditor"} <= names
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=30) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def test_demo_refuses_a_folder_that_is_not_a_previous_demo(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    (tmp_path / "precious.txt").write_text("keep me")
    assert main(["demo", "--no-serve", "--home", str(tmp_path)]) == 2
    assert "not a previous demo" in capsys.readouterr().err
    assert (tmp_path / "precious.txt").read_text() == "keep me"
    assert main(["demo", "--no-serve", "--patients", "0", "--home", str(tmp_path / "x")]) == 2
