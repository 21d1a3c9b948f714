"""Clinical trials end to end (issue 16): a solo node and its API; the SDK for the
sponsor, the participant (under its trial pseudonym), the site investigator and the
regulator; the CLI (classify, report, export, verify); the regulator's offline proof
file, which fails on any flipped byte and on a tampered value re-signed by someone else."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.cli.main import main
from phrchain.client import builder
from phrchain.client.trialfile import TrialFileError
from phrchain.client.trials import counterpart, verify_audit
from phrchain.client.wallet import Wallet
from phrchain.core import encoding
from phrchain.core.errors import PhrError, ProofError
from phrchain.modules.trials.outcomes import Outcome
from tests.consortium import A1, A2, GA, HOSPITAL_A, RR, VALIDATOR, running
from tests.trialflow import OUTCOMES, protocol, pseudonym

SWITCHED = (Outcome("mortality", "All-cause mortality", "12 months", "secondary"),
            Outcome("qol", "Quality of life (EQ-5D)", "6 months", "primary"),
            Outcome("readmit", "Readmission", "30 days", "secondary"))


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("trials")
    with running(home) as c:
        sponsor = c.client(RR).trials
        trial = sponsor.register(now_ms() + 1_000, protocol(sites=(HOSPITAL_A.did,)))
        sponsor.commit(trial, "sap", b"the statistical analysis plan")
        sponsor.commit(trial, "randomisation", b"1:drug 2:placebo ...")
        root = b"\x07" * 32   # the patient's wallet root (issue 14's wallet derives it)
        seed = pseudonym(root, counterpart(trial)).seed
        me = Wallet.from_secrets(seed, b"\x08" * 32, "trial pseudonym")
        while now_ms() < sponsor.trial(trial)["start_ms"] + 100:
            time.sleep(0.05)
        with c.client(me) as participant:
            # (a block after the start: the node checks a tx as of its last block's time)
            participant.node.send(me, [builder.register_patient(me.enc_key)])
            enrolled = participant.trials.enrol(trial, HOSPITAL_A.did)
        doctor = c.client(A1).trials
        entry, _ = doctor.entry(trial, me.did, b"visit 1: ...")
        fixed, _ = doctor.entry(trial, me.did, b"visit 1 (corrected)", corrects=entry,
                                reason="transcription error")
        c.client(A2).trials.sign(trial, fixed, "review")
        sponsor.lock(trial)
        sponsor.unblind(trial)
        report = sponsor.results(trial, SWITCHED, b"the results paper")
        audit = c.client(GA).trials.export_audit(trial)
        registered_only = sponsor.register(now_ms() + 60_000, protocol(sites=(HOSPITAL_A.did,)))
        small = c.client(GA).trials.export_audit(registered_only)
        yield {"small": small, "c": c, "home": home, "trial": trial, "me": me, "enrolled": enrolled,
               "entry": entry, "fixed": fixed, "report": report, "audit": audit}


def test_the_sdk_runs_a_trial_that_switches_a_primary_outcome(world: dict[str, Any]) -> None:
    assert world["enrolled"]["participant"] == world["me"].did
    assert world["enrolled"]["consent_version"] == 1
    report = world["report"]
    assert report["baseline"] == 1
    assert report["labels"] == {
        "mortality": ["reported", "switched_primary_secondary"],
        "qol": ["reported", "switched_primary_secondary"],
        "stay": ["not_reported"], "readmit": ["added_silent"]}
    assert report["discrepancies"] == ["mortality", "qol", "readmit", "stay"]


def test_the_audit_file_verifies_offline(world: dict[str, Any]) -> None:
    proven = verify_audit(world["audit"], VALIDATOR.did, "phr-records")
    trial = world["trial"]
    state = proven["state"]
    assert state[f"trials/t/{trial}"]["reported_height"] is not None
    assert state[f"trials/l/{trial}/mortality"] == ["reported", "switched_primary_secondary"]
    assert state[f"trials/e/{trial}/{world['fixed']}"]["corrects"] == world["entry"]
    assert proven["exporter"] == GA.did
    with pytest.raises(PhrError):
        verify_audit(world["audit"], RR.did)                  # not the trusted validator
    with pytest.raises(ProofError):
        verify_audit(world["audit"], VALIDATOR.did, "another-chain")
    with pytest.raises(TrialFileError) as refused:   # a validator set for a solo file
        verify_audit(world["audit"], trust={"validators": []})
    assert (refused.value.codespace, refused.value.code) == ("trialfile", 6)
    with pytest.raises(TrialFileError) as refused:
        verify_audit(world["audit"], RR.did)
    assert refused.value.error.name == "untrusted_header"


def test_a_flipped_byte_anywhere_fails(world: dict[str, Any]) -> None:
    """Every byte position of a small file (a registered trial, ~10 kB; bit 0), and a
    spread of positions of the whole trial's file (bits 0 and 7): each variant is
    refused as malformed or unsealed (the seal covers the body's bytes as they stand,
    and the frame around it is fixed), as are a byte added or removed."""
    data = world["small"]
    assert verify_audit(data, VALIDATOR.did)["state"]
    codes: dict[int, int] = {}
    for at in range(len(data)):
        flipped = bytearray(data)
        flipped[at] ^= 0x01
        with pytest.raises(TrialFileError) as refused:
            verify_audit(bytes(flipped), VALIDATOR.did)
        codes[refused.value.code] = codes.get(refused.value.code, 0) + 1
    assert set(codes) == {1, 2}, codes
    data = world["audit"]
    for at in [*range(0, len(data), 97), len(data) - 1]:
        for bit in (0x01, 0x80):
            flipped = bytearray(data)
            flipped[at] ^= bit
            with pytest.raises(TrialFileError):
                verify_audit(bytes(flipped), VALIDATOR.did)
    for changed in (data + b" ", b" " + data, data[:-1], data[1:]):
        with pytest.raises(TrialFileError):
            verify_audit(changed, VALIDATOR.did)


def test_a_tampered_value_re_signed_by_its_exporter_still_fails(world: dict[str, Any]
                                                                 ) -> None:
    """The exporter's signature only seals the file; the proofs are what a reader
    trusts: a label changed to "reported" and signed again fails its proof."""
    from phrchain.client.trialfile.audit import EXPORT_TAG

    document = encoding.decode(world["audit"])
    body = document["body"]
    for item in body["entries"]:
        if item["key"].endswith("/mortality"):
            item["answer"]["raw_value"] = encoding.encode(["reported"]).hex()
            item["answer"]["value"] = item["answer"]["raw_value"]
    seal = GA.signing_key.sign(EXPORT_TAG + encoding.encode(body)).hex()
    forged = encoding.encode({"body": body, "exporter": GA.did, "signature": seal})
    with pytest.raises(ProofError):
        verify_audit(forged, VALIDATOR.did)


def test_the_cli(world: dict[str, Any], tmp_path: Path,
                 capsys: pytest.CaptureFixture[str]) -> None:
    c, trial = world["c"], world["trial"]
    assert main(["trials", "report", trial, "--node", c.api_url]) == 0
    assert json.loads(capsys.readouterr().out)["discrepancies"] == \
        ["mortality", "qol", "readmit", "stay"]
    audit = tmp_path / "audit.json"
    audit.write_bytes(world["audit"])
    assert main(["trials", "verify", str(audit), "--validator", VALIDATOR.did]) == 0
    out, err = capsys.readouterr()
    assert f"trials/t/{trial}" in json.loads(out) and "verifies" in err
    tampered = bytearray(world["audit"])
    tampered[len(tampered) // 2] ^= 0x01
    audit.write_bytes(bytes(tampered))
    assert main(["trials", "verify", str(audit), "--validator", VALIDATOR.did]) == 2
    assert capsys.readouterr().err.startswith("error:")


def test_fhir_views(world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    c, trial = world["c"], world["trial"]
    with c.client(GA) as regulator:
        study = regulator.trials.fhir_study(trial)
        subject = regulator.trials.fhir_subject(trial, world["me"].did)
        prov = regulator.trials.fhir_provenance(trial, world["fixed"])
    assert study["status"] == "completed" and subject["status"] == "on-study"
    assert [a["type"]["coding"][0]["code"] for a in prov["agent"]] == ["author", "verifier"]
    assert main(["trials", "show", trial, "--node", c.api_url, "--fhir", "ResearchStudy"]) == 0
    assert json.loads(capsys.readouterr().out) == study
    assert main(["trials", "show", trial, "--node", c.api_url, "--fhir", "Provenance",
                 "--entry", world["fixed"]]) == 0
    assert json.loads(capsys.readouterr().out) == prov


def _write(path: Path, outcomes: Any) -> str:
    path.write_text(json.dumps({"outcomes": outcomes}))
    return str(path)


def test_classify_is_a_stateless_command(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    registered = _write(tmp_path / "r.json", [
        {"id": o.id, "measure": o.measure, "time_frame": o.time_frame, "kind": o.kind}
        for o in OUTCOMES])
    reported = _write(tmp_path / "p.json", [
        {"id": "mortality", "measure": "All-cause mortality", "time_frame": "24 months",
         "kind": "primary", "declared_change": False},
        {"id": "qol", "measure": "Quality of life (EQ-5D)", "time_frame": "6 months",
         "kind": "secondary", "declared_change": True},
        {"id": "new", "measure": "Falls", "time_frame": "1 year", "kind": "primary",
         "declared_change": True}])
    assert main(["trials", "classify", registered, reported]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines == [
        {"id": "mortality", "labels": ["reported", "timeframe_changed"]},
        {"id": "qol", "labels": ["reported"]},
        {"id": "stay", "labels": ["not_reported"]},
        {"id": "new", "labels": ["added_declared"]}]
    bad = _write(tmp_path / "bad.json", [{"id": "x", "measure": "m", "time_frame": "t",
                                          "kind": "tertiary", "declared_change": False}])
    assert main(["trials", "classify", registered, bad]) == 2
    assert "kind" in capsys.readouterr().err


def test_a_resealed_file_that_leaves_out_implied_state_is_incomplete(
        world: dict[str, Any]) -> None:
    """Each state entry dropped in turn from the file (sealed again): every one the
    trial's own state implies (versions, sites, participants and consents, entries and
    their indexes, corrections, commitments, results and labels) makes it incomplete.
    Signatures are the one kind nothing counts (README: what completeness covers)."""
    from phrchain.client.trialfile.audit import EXPORT_TAG

    body = encoding.decode(world["audit"])["body"]
    outcome: dict[str, set[str]] = {}
    for i, item in enumerate(body["entries"]):
        cut = {**body, "entries": body["entries"][:i] + body["entries"][i + 1:]}
        seal = GA.signing_key.sign(EXPORT_TAG + encoding.encode(cut)).hex()
        data = encoding.encode({"body": cut, "exporter": GA.did, "signature": seal})
        try:
            verify_audit(data, VALIDATOR.did)
            result = "accepted"
        except TrialFileError as exc:
            result = exc.error.name
        outcome.setdefault(item["key"].split("/")[1], set()).add(result)
    assert outcome == {kind: {"accepted"} if kind == "sg" else
                       {"foreign_entry"} if kind == "t" else {"incomplete"}
                       for kind in outcome}, outcome
    assert {"v", "s", "p", "pc", "e", "ep", "cx", "c", "r", "l", "sg"} <= set(outcome)
