"""Pruning on the embedded solo engine: a node keeping its last K state versions and an
archive node run the same long chain of overwrites (an organization re-setting its
practitioners' roles block after block, so live state stays the same size while history
grows). Measured: the pruned state database stops growing, the archive's keeps growing;
both commit the same app hashes; a query below the kept versions answers ``query/3``
(the archive answers it); ``phrchain verify`` passes on the pruned home; a restart works.
"""

from __future__ import annotations

import os
import sqlite3
from itertools import count
from pathlib import Path

import httpx
import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.core.errors import HEIGHT_UNAVAILABLE, TxError
from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.engine.solo.verify import verify_chain
from tests.helpers import (
    AUTHORITY,
    CHAIN_ID,
    VALIDATOR,
    admit_org_msg,
    admit_practitioner_msg,
    genesis,
    signing_key,
)

KEEP = 8
BLOCKS = 150
ORG = signing_key(50)
STAFF = [signing_key(60 + i) for i in range(24)]
ROLES = (["physician"], ["emergency", "physician"])


def chain_txs() -> list[list[bytes]]:
    """Per block, its txs: the org and its staff, then role changes over and over."""
    nonce = count(1)
    blocks = [[build_tx(AUTHORITY, CHAIN_ID, 1, [admit_org_msg(ORG)])],
              [build_tx(ORG, CHAIN_ID, next(nonce),
                        [admit_practitioner_msg(ORG, who) for who in STAFF])]]
    for b in range(BLOCKS - 2):
        msgs = [{"type": "identity/set_roles", "did": who.did, "roles": ROLES[(b + i) % 2]}
                for i, who in enumerate(STAFF)]
        blocks.append([build_tx(ORG, CHAIN_ID, next(nonce), msgs)])
    return blocks


def disk(home: Path) -> int:
    """Bytes of the state database on disk, once its write-ahead log is folded in."""
    db = home / "data" / "state.db"
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return sum(os.path.getsize(p) for p in (db, Path(f"{db}-wal")) if p.exists())


def start(home: Path) -> SoloNode:
    clock = count(1_700_000_000_000, 1000)
    return SoloNode(home, clock=lambda: next(clock))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    tmp = tmp_path_factory.mktemp("pruning")
    homes = {"pruned": tmp / "pruned", "archive": tmp / "archive"}
    for name, home in homes.items():
        init_home(home, genesis(), VALIDATOR.seed,
                  NodeConfig(block_interval_ms=10, verify_workers=0, state_writer=False,
                             keep_versions=KEEP if name == "pruned" else 0))
    nodes = {name: start(home) for name, home in homes.items()}
    sizes: dict[str, list[int]] = {name: [] for name in homes}
    try:
        for b, txs in enumerate(chain_txs(), start=1):
            for name, node in nodes.items():
                for raw in txs:
                    assert node.submit(raw).ok
                result = node.produce_block()
                assert result is not None and all(r.ok for r in result.tx_results), b
                if b in (50, 100, BLOCKS):
                    sizes[name].append(disk(homes[name]))
        pruned, archive = nodes["pruned"], nodes["archive"]
        hashes = {name: [n.blocks.header(h).header.app_hash  # type: ignore[union-attr]
                         for h in range(1, BLOCKS + 1)] for name, n in nodes.items()}
        with pytest.raises(TxError) as below:
            pruned.query("identity/did", {"did": STAFF[0].did}, height=BLOCKS - 2 * KEEP)
        kept = pruned.query("identity/did", {"did": STAFF[0].did}, height=BLOCKS - KEEP + 1,
                            prove=True)
        old = archive.query("identity/did", {"did": STAFF[0].did}, height=5, prove=True)
        lowest = pruned.state.lowest_version()
        with BackgroundServer(create_app(pruned)) as url:  # the same over the REST API
            http = httpx.get(f"{url}/v1/query/identity/did",
                             params={"did": STAFF[0].did, "height": 5}, timeout=30)
    finally:
        for node in nodes.values():
            node.close()
    return {"sizes": sizes, "hashes": hashes, "below": below.value, "kept": kept,
            "http": (http.status_code, http.json()),
            "old": old, "lowest": lowest, "homes": homes}


def test_pruned_disk_stays_bounded_while_the_archive_grows(run: dict) -> None:  # type: ignore[type-arg]
    pruned, archive = run["sizes"]["pruned"], run["sizes"]["archive"]
    print(f"state.db bytes at blocks 50/100/{BLOCKS}: pruned {pruned}, archive {archive}")
    assert pruned[2] <= pruned[0] * 1.15  # bounded: no growth with history
    assert archive[2] >= archive[0] * 1.8  # the archive grows with every write
    assert pruned[2] * 3 < archive[2]


def test_pruning_changes_no_app_hash(run: dict) -> None:  # type: ignore[type-arg]
    assert run["hashes"]["pruned"] == run["hashes"]["archive"]


def test_a_query_below_the_kept_versions_is_refused_with_query_3(
        run: dict) -> None:  # type: ignore[type-arg]
    err = run["below"]
    assert err.error is HEIGHT_UNAVAILABLE and (err.codespace, err.code) == ("query", 3)
    # pruned at the last multiple of KEEP, to its last KEEP versions
    assert run["lowest"] == BLOCKS // KEEP * KEEP - KEEP + 1
    assert run["kept"]["value"]["did"] == STAFF[0].did and run["kept"]["proof"]
    assert run["old"]["value"]["did"] == STAFF[0].did  # the archive keeps everything
    status, body = run["http"]
    assert status == 404 and (body["error"]["codespace"], body["error"]["code"]) == ("query", 3)


def test_a_pruned_home_verifies_and_restarts(run: dict) -> None:  # type: ignore[type-arg]
    home = run["homes"]["pruned"]
    report = verify_chain(home)
    assert report.ok, report.reason
    node = start(home)
    try:
        assert node.state.version() == BLOCKS and node.recover() == 0
    finally:
        node.close()


def test_verify_catches_an_edited_row_the_pruning_kept_from_below(
        run: dict, tmp_path: Path) -> None:  # type: ignore[type-arg]
    import shutil

    home = tmp_path / "copy"
    shutil.copytree(run["homes"]["pruned"], home)
    conn = sqlite3.connect(home / "data" / "state.db")
    try:
        key, height, value = conn.execute(
            "SELECT key, height, value FROM kv WHERE height < ? AND value IS NOT NULL "
            "LIMIT 1", (run["lowest"],)).fetchone()
        conn.execute("UPDATE kv SET value = ? WHERE key = ? AND height = ?",
                     (b"\0" + bytes(value), key, height))
        conn.commit()
    finally:
        conn.close()
    report = verify_chain(home)
    assert not report.ok and "state database differs" in report.reason


def test_init_keep_versions_goes_to_the_node_config(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    from phrchain.cli.main import main
    from phrchain.engine.solo.home import load_config

    pw = tmp_path / "pw"
    pw.write_text("a long enough passphrase\n")
    assert main(["init", "--home", str(tmp_path / "a"), "--passphrase-file", str(pw),
                 "--keep-versions", "100"]) == 0
    assert load_config(tmp_path / "a").keep_versions == 100
    assert main(["init", "--home", str(tmp_path / "b"), "--passphrase-file", str(pw)]) == 0
    assert load_config(tmp_path / "b").keep_versions == 0  # archive by default
    assert main(["init", "--home", str(tmp_path / "c"), "--passphrase-file", str(pw),
                 "--keep-versions", "-1"]) != 0
    assert "--keep-versions" in capsys.readouterr().err
