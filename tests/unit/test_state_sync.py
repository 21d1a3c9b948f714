"""State-sync snapshots through the ABCI adapter: a node snapshots its state, an empty
node restores it chunk by chunk and continues with the same app hashes; a bad chunk is
fetched again, a snapshot whose state is not the trusted app hash is rejected and leaves
the store empty, heights below the snapshot are unavailable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phrchain.core.errors import HEIGHT_UNAVAILABLE, TxError
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci import snapshots
from phrchain.engine.abci.adapter import AbciApplication
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.unit.test_abci import block, call, init, patient_tx

MS = 1_700_000_000_000


def node(home: Path, interval: int = 0) -> AbciApplication:
    home.mkdir(parents=True)
    return AbciApplication(SqliteStateStore(home / "state.db"), home, interval)


@pytest.fixture
def source(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(snapshots, "CHUNK_BYTES", 300)  # several chunks from a small state
    app = node(tmp_path / "a", interval=3)
    init(app)
    for height in range(1, 8):
        block(app, height, [patient_tx(100 + 3 * height + i) for i in range(3)],
              MS + 1000 * height)
    yield app
    app.close()


def offer(target: AbciApplication, snapshot_bytes: bytes, app_hash: bytes) -> Any:
    return call(target, "offer_snapshot", snapshot=snapshot_bytes, app_hash=app_hash).result


def test_an_empty_node_restores_a_snapshot_and_goes_on(source: AbciApplication,
                                                       tmp_path: Path) -> None:
    listed = call(source, "list_snapshots").snapshots
    offered = [snapshots.decode_snapshot(raw) for raw in listed]
    assert [s.height for s in offered] == [3, 6]  # the newest two of 3, 6
    snap = offered[-1]
    assert snap.chunks > 1
    target = node(tmp_path / "b")
    assert offer(target, listed[-1], source.store.root(6)) == pb.ResponseOfferSnapshot.ACCEPT
    for index in range(snap.chunks):
        chunk = call(source, "load_snapshot_chunk", height=6, format=1, chunk=index).chunk
        if index == 1:  # a peer sends a damaged copy first: fetched again
            bad = call(target, "apply_snapshot_chunk", index=1, chunk=chunk.replace(b"0", b"1", 1),
                       sender="peer-x")
            assert bad.result == pb.ResponseApplySnapshotChunk.RETRY
        answer = call(target, "apply_snapshot_chunk", index=index, chunk=chunk,
                      sender="peer-a")
        assert answer.result == pb.ResponseApplySnapshotChunk.ACCEPT
    info = call(target, "info")
    assert (info.last_block_height, info.last_block_app_hash) == (6, source.store.root(6))
    assert target.app.chain_id == source.app.chain_id
    assert target.app.last_block_time_ms == MS + 6000
    # the next block gives the same result on both
    assert block(target, 7, [patient_tx(100 + 21 + i) for i in range(3)],
                 MS + 7000).app_hash == source.store.root(7)
    # below the snapshot nothing is retained
    with pytest.raises(TxError) as exc:
        target.app.query("identity/did", {"did": "did:key:z6Mk"}, height=5)
    assert exc.value.error is HEIGHT_UNAVAILABLE
    # a node with state never takes a snapshot
    assert offer(target, listed[-1], source.store.root(6)) == pb.ResponseOfferSnapshot.REJECT
    target.close()
    reopened = AbciApplication.open(tmp_path / "b")  # a restart checks the restored state
    try:
        info = call(reopened, "info")
        assert (info.last_block_height, info.last_block_app_hash) == (7, source.store.root(7))
        assert reopened.app.last_block_time_ms == MS + 7000
    finally:
        reopened.close()


def test_a_snapshot_that_is_not_the_trusted_state_is_rejected(source: AbciApplication,
                                                             tmp_path: Path) -> None:
    raw = call(source, "list_snapshots").snapshots[-1]
    snap = snapshots.decode_snapshot(raw)
    target = node(tmp_path / "c")
    wrong = source.store.root(5)  # the light client says height 6 has another app hash
    assert offer(target, raw, wrong) == pb.ResponseOfferSnapshot.ACCEPT
    results = [call(target, "apply_snapshot_chunk", index=i, sender="p", chunk=call(
        source, "load_snapshot_chunk", height=6, format=1, chunk=i).chunk).result
        for i in range(snap.chunks)]
    assert results[-1] == pb.ResponseApplySnapshotChunk.REJECT_SNAPSHOT
    assert target.store.version() == -1  # nothing written
    forged = snapshots.encode_snapshot(snapshots.Snapshot(6, 1, snap.chunks, b"\x00" * 32,
                                                          snap.metadata))
    assert offer(target, forged, source.store.root(6)) == pb.ResponseOfferSnapshot.REJECT
    other_format = snapshots.encode_snapshot(snapshots.Snapshot(6, 2, snap.chunks, snap.hash,
                                                                snap.metadata))
    assert offer(target, other_format, source.store.root(6)) \
        == pb.ResponseOfferSnapshot.REJECT_FORMAT
    target.close()


def test_a_pruning_node_keeps_its_last_versions_and_tells_cometbft(tmp_path: Path) -> None:
    home = tmp_path / "p"
    home.mkdir()
    app = AbciApplication(SqliteStateStore(home / "state.db"), home, snapshot_interval=4,
                          keep_versions=3)
    archive = node(tmp_path / "archive")
    init(app)
    init(archive)
    retained = []
    for height in range(1, 10):
        txs = [patient_tx(700 + 2 * height + i) for i in range(2)]
        for target in (app, archive):
            call(target, "finalize_block", txs=txs, height=height,
                 time={"seconds": (MS + 1000 * height) // 1000, "nanos": 0})
        retained.append(call(app, "commit").retain_height)
        call(archive, "commit")
    # pruned every 3 blocks to the last 3 versions; never above the oldest snapshot (4)
    assert retained == [0, 0, 1, 2, 3, 4, 4, 4, 4]
    assert app.store.root() == archive.store.root()
    answer = call(app, "query", path="identity/nonce", data=b'{"did": "x"}', height=6)
    assert (answer.codespace, answer.code) == ("query", 3)  # pruned at height 9: 7..9 kept
    kept = call(app, "query", path="identity/nonce", data=b'{"did": "x"}', height=7)
    assert kept.code == 0
    app.close()
    archive.close()
