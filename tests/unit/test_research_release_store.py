"""The vault's research releases are durable (``gateway/research_store.py``): a prepared
release survives a restart and is approved and fetched after it; a committed manifest
whose row was not yet marked is found on chain and served; an abandoned preparation
expires and is deleted with its package and key file; a crash between the package's
commit and its row's leaves no release; ``vault verify`` reports orphans
(``research/27``).

The vault here is a test double of ``gateway.service.Vault`` in front of the in-process
chain (``ResearchWorld``); "restart" is a new ``ResearchReleases`` on the same
directory (the release store, key files and chain state are all that survive)."""

from __future__ import annotations

import json
import logging
import sqlite3
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from phrchain.core import keys
from phrchain.core.errors import CodedError
from phrchain.deid import default_config
from phrchain.fhir.synthetic import generate_patients
from phrchain.gateway import research_http, research_verify
from phrchain.gateway.research_http import ResearchReleases
from phrchain.gateway.research_store import DB_NAME, ReleaseStore
from phrchain.gateway.verify import verify_vault
from phrchain.research import vault as release_lib
from phrchain.research.vault import HeldRecord, open_for_study
from phrchain.vault.blobs import BlobStore
from tests.researchflow import PO, ResearchWorld, oid
from tests.world import HOSPITAL_A, RR

INSTITUTE_KEY = keys.EncryptionKey((7 + 1_000_000).to_bytes(32, "big"))  # testing.enc_key(7)
TTL_S = 3600


class VaultDouble:
    """What ``ResearchReleases`` uses of a vault, over the in-process chain."""

    def __init__(self, w: ResearchWorld, home: Path, held: list[HeldRecord]) -> None:
        self.w, self.org = w, HOSPITAL_A.did
        self.config = SimpleNamespace(directory=home, research_release_ttl_s=TTL_S)
        self.store = SimpleNamespace(
            record_ids=lambda: [bytes.fromhex(h.record) for h in held])
        self.sender = self

    def query(self, path: str, data: dict[str, Any]) -> Any:
        return self.w.query(path, **data)

    def acting(self, did: str) -> dict[str, Any] | None:
        found = self.w.query("identity/did", did=did)
        return None if found is None or found["status"] != "active" else dict(found)

    def send_now(self, msgs: list[dict[str, Any]]) -> dict[str, Any]:
        result = self.w.chain.run(HOSPITAL_A, *msgs)
        return {"code": result.code, "codespace": result.codespace, "log": result.log}


class World:
    def __init__(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
        self.w = w = ResearchWorld()
        donors = [w.donor(i) for i in range(4)]
        self.held = [HeldRecord(w.record(HOSPITAL_A, d), e["resource"])
                     for d, b in zip(donors, generate_patients(4, seed=17,
                                                               resources_per_patient=20),
                                     strict=True) for e in b["entry"]]
        for d in donors:
            w.donate(d)
        w.study(oid("store study"))
        self.request = w.request(oid("store request"), oid("store study"))["request"]
        self.home = tmp_path
        BlobStore(tmp_path / "blobs").close()     # the vault's (empty) record store
        self.clock = [w.now + 1]
        monkeypatch.setattr(research_http, "wall_clock_ms", lambda: self.clock[0])
        monkeypatch.setattr(research_verify, "_now_ms", lambda: self.clock[0])
        monkeypatch.setattr(release_lib, "open_held", lambda vault, records: [
            h for h in self.held if h.record in set(records)])

    def vault(self) -> ResearchReleases:
        return ResearchReleases(VaultDouble(self.w, self.home, self.held))  # type: ignore[arg-type]

    def body(self, dataset: str, k: int = 2, part: int = 1) -> bytes:
        raw = json.loads(json.dumps(default_config().raw))
        raw["parameters"].update({"quasiIdentifiers": ["Patient.active"], "k": k, "l": 1})
        return json.dumps({"request": self.request, "dataset": dataset, "config": raw,
                           "reference_year": 2026, "recorded": "2026-12-07T10:00:00Z",
                           "part": part}).encode()

    def count(self, table: str) -> int:
        with sqlite3.connect(self.home / "research" / DB_NAME) as db:
            found: int = db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]  # noqa: S608
        return found


def approval(prepared: dict[str, Any]) -> bytes:
    return json.dumps({"approval": PO.sign(bytes.fromhex(prepared["sign"])).hex()}).encode()


def code(exc: pytest.ExceptionInfo[CodedError]) -> tuple[str, int]:
    return exc.value.error.codespace, exc.value.error.code


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    return World(tmp_path, monkeypatch)


def test_a_prepared_release_survives_a_restart(world: World) -> None:
    dataset = oid("restart dataset")
    first = world.vault()
    prepared = first.prepare(PO.did, world.body(dataset))
    first.store.close()                                  # the vault stops
    second = world.vault()                               # and starts again
    with pytest.raises(CodedError) as refused:           # someone else's signature
        second.approve(PO.did, dataset, json.dumps(
            {"approval": PO.sign(b"other bytes").hex()}).encode())
    assert code(refused) == ("research", 22)
    done = second.approve(PO.did, dataset, approval(prepared))
    assert done["manifest"]["root"] == prepared["manifest"]["root"]
    assert done["manifest"]["approver"] == PO.did
    second.store.close()
    third = world.vault()                                # a released part is served
    sealed = third.package(RR.did, dataset)
    files = open_for_study(sealed, INSTITUTE_KEY)
    assert len(files["Patient.ndjson"].splitlines()) == 4
    with pytest.raises(CodedError) as refused:
        third.package(PO.did, dataset)                   # not of the study's institute
    assert code(refused) == ("research", 20)
    world.clock[0] += 10 * TTL_S * 1000                  # released parts never expire
    assert third.sweep() == 0 and third.package(RR.did, dataset) == sealed
    assert third.store.key_path(dataset).exists()        # kept for continuation parts
    third.destroy_key(PO.did, dataset)                   # study over: no new key for it
    with pytest.raises(CodedError) as refused:
        third.prepare(PO.did, world.body(dataset, part=2))
    assert code(refused) == ("research", 23)
    assert not third.store.key_path(dataset).exists()


def test_an_abandoned_preparation_expires(world: World) -> None:
    dataset = oid("abandoned dataset")
    releases = world.vault()
    prepared = releases.prepare(PO.did, world.body(dataset))
    assert world.count("releases") == world.count("packages") == 1
    world.clock[0] += TTL_S * 1000 - 1
    assert releases.sweep() == 0                         # not yet
    world.clock[0] += 1
    with pytest.raises(CodedError) as refused:           # expired, before any sweep
        releases.approve(PO.did, dataset, approval(prepared))
    assert code(refused) == ("research", 21)
    assert world.count("releases") == world.count("packages") == 0   # approve swept it
    assert not releases.store.key_path(dataset).exists()
    # expired while the vault was stopped: verify notes it, the vault deletes it at open
    again = oid("abandoned again")
    releases.prepare(PO.did, world.body(again))
    releases.store.close()
    assert not any("expired" in n for n in verify_vault(world.home).notes)
    world.clock[0] += TTL_S * 1000
    assert "research releases: 1 expired preparation(s); the vault deletes them when it " \
        "next opens, prepares or approves" in verify_vault(world.home).notes
    after = world.vault()
    assert world.count("releases") == world.count("packages") == 0
    assert not any(after.store.keys.iterdir())
    assert world.w.query("research/dataset", dataset=dataset) is None
    assert verify_vault(world.home).ok


def test_a_crash_between_package_and_row_leaves_no_release(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    dataset = oid("crashed dataset")
    releases = world.vault()

    def crash(*_: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(releases.store, "_put_row", crash)
    with pytest.raises(RuntimeError):
        releases.prepare(PO.did, world.body(dataset))
    # what the crash left before any cleanup ran: a package of no row
    assert world.count("packages") == 1 and world.count("releases") == 0
    assert not releases.store.key_path(dataset).exists()  # the failed path removed it
    report = verify_vault(world.home)
    assert [(f.error.codespace, f.error.code) for f in report.findings] == [("research", 27)]
    world.vault()                                        # reopened: recovered
    assert world.count("packages") == 0
    assert verify_vault(world.home).ok


def test_orphan_key_files_are_reported_and_removed(
        world: World, caplog: pytest.LogCaptureFixture) -> None:
    """A crash after the key file and before anything else, and a temporary key file of
    a crash mid-write: ``vault verify`` names both; the vault removes them (the chain
    has no manifest of that dataset)."""
    dataset = oid("orphan dataset")
    store = ReleaseStore(world.home / "research")
    store.key(dataset)
    (store.keys / f"{dataset}.key.1.2.tmp").write_bytes(b"\0" * 5)
    store.close()
    report = verify_vault(world.home)
    found = sorted((f.subject, f.error.code) for f in report.findings)
    assert found == [(f"research key file {dataset}.key.1.2.tmp", 27),
                     (f"research key of dataset {dataset}", 27)]
    assert all(dataset in str(f) and "power" not in str(f) for f in report.findings)
    with caplog.at_level(logging.INFO, logger="phrchain.gateway"):
        releases = world.vault()                         # open: recover and sweep
    assert not any(releases.store.keys.iterdir())
    lines = [r.getMessage() for r in caplog.records]     # counts only, no dataset id
    assert len(lines) == 2 and not any(dataset in line for line in lines)
    releases.store.key(oid("later orphan"))              # while running: the next sweep
    assert releases.sweep() == 1
    assert not any(releases.store.keys.iterdir())
    assert verify_vault(world.home).ok


def test_a_failed_preparation_leaves_no_key(world: World) -> None:
    releases = world.vault()
    dataset = oid("refused dataset")
    with pytest.raises(CodedError):                      # 4 donors cannot be 5-anonymous
        releases.prepare(PO.did, world.body(dataset, k=5))
    assert not releases.store.key_path(dataset).exists()
    assert world.count("releases") == world.count("packages") == 0


def test_a_manifest_committed_before_a_crash_is_served(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    """The chain committed the manifest, the vault stopped before marking its row: after
    the restart the row is found on chain, served, and not expired away."""
    dataset = oid("committed dataset")
    releases = world.vault()
    prepared = releases.prepare(PO.did, world.body(dataset))

    def crash(*_: Any) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(releases.store, "mark_released", crash)
    with pytest.raises(RuntimeError):
        releases.approve(PO.did, dataset, approval(prepared))
    assert world.w.query("research/dataset", dataset=dataset) is not None
    world.clock[0] += 2 * TTL_S * 1000
    after = world.vault()
    assert after.sweep() == 0                            # kept: the chain has it
    assert after.store.rows(dataset)[0].status == "released"
    assert open_for_study(after.package(RR.did, dataset), INSTITUTE_KEY)


def test_verify_names_a_damaged_release(world: World) -> None:
    """A released part whose package was deleted behind the vault's back, and a key file
    cut short: ``vault/16 store_damaged``, each naming the dataset."""
    dataset = oid("damaged dataset")
    releases = world.vault()
    releases.approve(PO.did, dataset, approval(releases.prepare(PO.did, world.body(dataset))))
    releases.store.close()
    assert verify_vault(world.home).ok
    with sqlite3.connect(world.home / "research" / DB_NAME) as db:
        db.execute("DELETE FROM packages")
    releases.store.key_path(dataset).write_bytes(b"short")
    found = sorted((f.subject, f.error.codespace, f.error.code)
                   for f in verify_vault(world.home).findings)
    assert found == [(f"research dataset {dataset} part 1", "vault", 16),
                     (f"research key of dataset {dataset}", "vault", 16)]
