"""Privacy: after importing synthetic patients, no byte the consortium wrote names them.

Synthetic patients (names, birth dates, addresses, identifiers, phone numbers from
``identifying_strings``) are imported by hospital A, read, exported, shared by consent
and audited. Then every file under the run's directory — the node's home (block store,
state store, their ``-wal``/``-shm``), the vaults' journals and blob stores — every log
record emitted at DEBUG by any logger (``phrchain.*`` and uvicorn's included), and
everything written to stdout/stderr, is searched for each identifying string: case
insensitively, as UTF-8, JSON-escaped (ASCII-only and not) and hex. The blob stores must
hold the records (they decrypt through the vault) yet none of those strings.

The scanner is checked first: it must find strings planted in a file, in a log record
and in the plaintext Bundles, else a silent scanner would pass.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.client import builder
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.wallet import Wallet
from phrchain.fhir.synthetic import generate_bundle, identifying_strings
from tests.consortium import B1, HOSPITAL_A, Consortium, running, wallet

PATIENTS = 4
DAY_MS = 86_400_000
LOGGERS = ("", "phrchain", "uvicorn", "uvicorn.error", "uvicorn.access", "fastapi", "httpx",
           "httpcore")


def forms(text: str) -> set[bytes]:
    """The byte strings that would reveal ``text``, lowercased for a case-insensitive
    search: UTF-8, JSON-escaped (ASCII-only and UTF-8), and lowercase hex of UTF-8."""
    raw = text.encode()
    out = {raw, json.dumps(text)[1:-1].encode(),
           json.dumps(text, ensure_ascii=False)[1:-1].encode(), raw.hex().encode()}
    return {f.lower() for f in out}


def find(haystack: bytes, needles: dict[str, set[bytes]]) -> set[str]:
    lowered = haystack.lower()
    return {text for text, variants in needles.items() if any(v in lowered for v in variants)}


def scan_tree(root: Path, needles: dict[str, set[bytes]]) -> dict[str, set[str]]:
    """``{file: identifying strings found in it}`` for every regular file under root."""
    hits: dict[str, set[str]] = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and not path.is_symlink():
            found = find(path.read_bytes(), needles)
            if found:
                hits[str(path.relative_to(root))] = found
    return hits


def files_under(root: Path) -> list[Path]:
    return [p for p in root.rglob("*") if p.is_file()]


class Captured(logging.Handler):
    """Every record any logger emits, formatted with its arguments."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        line = f"{record.name} {record.levelname} {record.getMessage()}"
        if record.exc_info:
            line += "\n" + logging.Formatter().formatException(record.exc_info)
        self.lines.append(line)


@pytest.fixture
def captured() -> Iterator[Captured]:
    handler = Captured()
    saved = {name: (logging.getLogger(name).level, logging.getLogger(name).disabled)
             for name in LOGGERS}
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        for name, (level, disabled) in saved.items():
            logging.getLogger(name).setLevel(level)
            logging.getLogger(name).disabled = disabled


def debug_everywhere(handler: Captured) -> None:
    """uvicorn sets its loggers' levels (and may stop propagation) when a server
    starts, so this runs after the consortium is up."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
        if name and not logger.propagate and handler not in logger.handlers:
            logger.addHandler(handler)


def register_patients(c: Consortium, n: int) -> list[Wallet]:
    patients = [wallet(40 + i, f"synthetic patient {i}") for i in range(n)]
    with NodeClient(c.api_url, timeout=30) as admin:
        for p in patients:
            admin.send(p, [builder.register_patient(p.enc_key)])
    return patients


def exercise(c: Consortium, bundles: list[dict[str, Any]], patients: list[Wallet]) -> int:
    """Import, read, share and audit; returns how many records were imported."""
    hospital = c.client(HOSPITAL_A)
    imported = 0
    for bundle, patient in zip(bundles, patients, strict=True):
        fhir_id = next(e["resource"]["id"] for e in bundle["entry"]
                       if e["resource"]["resourceType"] == "Patient")
        ids = hospital.records.import_bundle(bundle, {fhir_id: patient.did})
        imported += len(ids[patient.did])
    first = c.client(patients[0])
    exported = first.records.export()  # every record read back through the vault (audited)
    assert len(exported["entry"]) == imported // len(bundles)
    now = time.time_ns() // 1_000_000
    consent = first.consent.grant(
        {"kind": "practitioner", "id": B1.did}, actions=["read"],
        scope={"resources": ["Patient"]}, purposes=["TREAT"], start_ms=now - 1000,
        end_ms=now + DAY_MS)  # re-wraps the Patient record's key for B1
    record = first.records.my_records()[0]["record"]
    opened = [first.records.open(d["record"]) for d in first.records.my_records()
              if d["resource"] == "Patient"]
    # chosen by type in the wallet; on chain, the one Patient record's id
    assert first.session.q("consent/get", consent=consent)["scope"] == \
        {"records": [opened[0].record]}
    assert opened and opened[0].resource()["resourceType"] == "Patient"
    c.client(B1).records.open(opened[0].record)
    with pytest.raises(ApiError, match=r"no_consent|out_of_scope"):
        c.client(B1).records.open(record if record != opened[0].record else
                                  first.records.my_records()[1]["record"])
    c.flush()  # audit entries to the chain
    return imported


def settle(c: Consortium) -> None:
    deadline = time.monotonic() + 30
    while c.node.state.version() < c.node.blocks.height() and time.monotonic() < deadline:
        time.sleep(0.01)


def test_scanner_finds_planted_strings(tmp_path: Path, captured: Captured) -> None:
    needles = {"Aurelia482 Kessler527": forms("Aurelia482 Kessler527"),
               "Zoë Ångström": forms("Zoë Ångström")}
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "plain.bin").write_bytes(os.urandom(4096) + b"aurelia482 KESSLER527"
                                               + os.urandom(4096))
    (tmp_path / "a" / "escaped.json").write_text(json.dumps({"n": "Zoë Ångström"}))
    (tmp_path / "a" / "hex.txt").write_text(b"Aurelia482 Kessler527".hex())
    (tmp_path / "clean.bin").write_bytes(os.urandom(8192))
    hits = scan_tree(tmp_path, needles)
    assert hits == {"a/plain.bin": {"Aurelia482 Kessler527"},
                    "a/escaped.json": {"Zoë Ångström"},
                    "a/hex.txt": {"Aurelia482 Kessler527"}}
    debug_everywhere(captured)
    logging.getLogger("phrchain.gateway.service").debug("planted %s", "Zoë Ångström")
    logging.getLogger("uvicorn.error").debug("planted %s", "AURELIA482 kessler527")
    assert find("\n".join(captured.lines).encode(), needles) == set(needles)


def test_no_identifying_data_in_stores_journals_blobs_or_logs(
        tmp_path: Path, captured: Captured, capfd: pytest.CaptureFixture[str]) -> None:
    bundles = [generate_bundle(2024, i, resources=30) for i in range(PATIENTS)]
    strings = sorted({s for b in bundles for s in identifying_strings(b)})
    needles = {s: forms(s) for s in strings}
    fhir_patients = [e["resource"] for b in bundles for e in b["entry"]
                     if e["resource"]["resourceType"] == "Patient"]
    # the needles are what the plaintext carries (besides "given family" display names)
    display = {f"{n['given'][0]} {n['family']}" for p in fhir_patients for n in p["name"]}
    assert find(json.dumps(bundles, ensure_ascii=False).encode(), needles) \
        == set(strings) - display
    patient = fhir_patients[0]
    assert {"name", "birthDate", "address", "identifier", "telecom"} <= set(patient)
    assert {patient["birthDate"], patient["telecom"][0]["value"],
            patient["address"][0]["line"][0], patient["identifier"][1]["value"],
            patient["name"][0]["family"]} <= set(strings)
    own = sum(1 for b in bundles for e in b["entry"]
              if e["resource"]["resourceType"] not in ("Organization", "Practitioner"))

    run = tmp_path / "run"
    with running(run) as c:
        debug_everywhere(captured)
        patients = register_patients(c, PATIENTS)
        imported = exercise(c, bundles, patients)
        settle(c)
        assert imported == own
        live = scan_tree(run, needles)  # while running: WAL files still hold the pages
        live_files = files_under(run)
    after = scan_tree(run, needles)  # after shutdown (checkpointed files)
    out, err = capfd.readouterr()

    names = {str(p.relative_to(run)) for p in live_files}
    assert {"node/data/blocks.db", "node/data/state.db"} <= names
    assert any(n.endswith("-wal") for n in names)
    vault_dirs = [n for n in names if n.startswith("vault-hospital A/")]
    assert "vault-hospital A/gateway.sqlite3" in vault_dirs
    assert "vault-hospital A/blobs/blobs.sqlite3" in vault_dirs
    plaintext_bytes = sum(len(json.dumps(e["resource"])) for b in bundles for e in b["entry"])
    blob_bytes = sum(p.stat().st_size for p in (run / "vault-hospital A" / "blobs").iterdir())
    assert blob_bytes > plaintext_bytes  # the records are there, encrypted

    assert live == {}, f"identifying strings in files while running: {live}"
    assert after == {}, f"identifying strings in files after shutdown: {after}"
    assert len(captured.lines) > 0
    leaked = {line: find(line.encode(), needles) for line in captured.lines}
    assert {k: v for k, v in leaked.items() if v} == {}
    assert find((out + err).encode(), needles) == set()
