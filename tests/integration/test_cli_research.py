"""``phrchain research deidentify``: the stateless command an institution runs on its
own FHIR exports — NDJSON per resource type and a report; a refusal below k writes only
the report and exits 2; the same key file gives the same pseudonyms."""

from __future__ import annotations

import json
from pathlib import Path

from phrchain.cli.main import main
from phrchain.deid import default_config
from phrchain.fhir.synthetic import generate_patients, identifying_strings


def _inputs(tmp: Path, n: int = 6) -> list[str]:
    paths = []
    for i, bundle in enumerate(generate_patients(n, seed=11, resources_per_patient=12)):
        path = tmp / f"bundle{i}.json"
        path.write_text(json.dumps(bundle))
        paths.append(str(path))
    return paths


def _config(tmp: Path, k: int) -> str:
    raw = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": k, "l": 1})
    path = tmp / f"config{k}.json"
    path.write_text(json.dumps(raw))
    return str(path)


def test_deidentify_writes_ndjson_and_a_report(tmp_path: Path) -> None:
    bundles = _inputs(tmp_path)
    key = tmp_path / "key"
    key.write_text("ab" * 32)
    runs = []
    for name in ("out1", "out2"):
        out = tmp_path / name
        assert main(["research", "deidentify", *bundles, "--out", str(out), "--config",
                     _config(tmp_path, 1), "--key-file", str(key)]) == 0
        runs.append(out)
    names = sorted(p.name for p in runs[0].iterdir())
    assert "Patient.ndjson" in names and "Provenance.ndjson" in names
    assert "report.json" in names
    report = json.loads((runs[0] / "report.json").read_text())
    assert report["patients"] == 6 and report["refused"] is None and report["key"] == "file"
    assert report["k"]["reached"] >= 1 and report["changes"]
    text = "".join(p.read_text() for p in runs[0].glob("*.ndjson"))
    for bundle in bundles:
        for secret in identifying_strings(json.loads(Path(bundle).read_text())):
            assert secret not in text
    assert (runs[0] / "Patient.ndjson").read_text() == (runs[1] / "Patient.ndjson").read_text()


def test_deidentify_refuses_below_k_and_writes_only_the_report(tmp_path: Path) -> None:
    out = tmp_path / "refused"
    assert main(["research", "deidentify", *_inputs(tmp_path), "--out", str(out),
                 "--config", _config(tmp_path, 50)]) == 2
    assert sorted(p.name for p in out.iterdir()) == ["report.json"]
    report = json.loads((out / "report.json").read_text())
    assert report["refused"]["name"] == "below_k" and report["key"] == "ephemeral"


def test_bad_key_file_and_bad_input_are_errors(tmp_path: Path) -> None:
    short = tmp_path / "short"
    short.write_bytes(b"too short")
    bundles = _inputs(tmp_path, 1)
    assert main(["research", "deidentify", *bundles, "--out", str(tmp_path / "o"),
                 "--key-file", str(short)]) == 2
    patient = tmp_path / "patient.json"
    patient.write_text(json.dumps({"resourceType": "Patient"}))
    assert main(["research", "deidentify", str(patient), "--out", str(tmp_path / "p")]) == 2
