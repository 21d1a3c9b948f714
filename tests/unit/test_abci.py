"""The ABCI layer without CometBFT: framing, the socket server's ordering and Flush,
and the adapter's mapping of every ABCI method onto the application."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.core.store import MemoryStateStore
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.adapter import AbciApplication, timestamp_ms
from phrchain.engine.abci.server import AbciServer, answer
from phrchain.engine.abci.wire import FramingError, encode_uvarint, frame, next_frame
from phrchain.storage.sqlite_state import SqliteStateStore
from tests.helpers import AUTHORITY, CHAIN_ID, enc_key, genesis, signing_key

GENESIS_SECONDS = 1_700_000_000


# -- framing ----------------------------------------------------------------------------------
@pytest.mark.parametrize(("n", "encoded"), [(0, b"\x00"), (1, b"\x01"), (127, b"\x7f"),
                                            (128, b"\x80\x01"), (300, b"\xac\x02"),
                                            (2**32, b"\x80\x80\x80\x80\x10")])
def test_uvarint_is_protobufs_unsigned_varint(n: int, encoded: bytes) -> None:
    assert encode_uvarint(n) == encoded
    if n < 1000:
        assert next_frame(encoded + bytes(n), 0) == (bytes(n), len(encoded) + n)


def test_next_frame_waits_for_the_whole_frame() -> None:
    data = frame(b"hello") + frame(b"") + frame(b"x" * 200)
    payload, pos = next_frame(data, 0)  # type: ignore[misc]
    assert payload == b"hello"
    payload, pos = next_frame(data, pos)  # type: ignore[misc]
    assert payload == b""
    for cut in range(pos, len(data)):
        assert next_frame(data[:cut], pos) is None
    assert next_frame(data, pos) == (b"x" * 200, len(data))


@pytest.mark.parametrize("data", [b"\xff" * 11, encode_uvarint(200 * 1024 * 1024)])
def test_next_frame_refuses_bad_prefixes(data: bytes) -> None:
    with pytest.raises(FramingError):
        next_frame(data, 0)


# -- the socket server --------------------------------------------------------------------------
class Recorder:
    """A handler that answers Echo and CheckTx, and fails on Query."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def handle(self, kind: str, request: Any, response: Any) -> None:
        self.seen.append(kind)
        if kind == "echo":
            response.message = request.message
        elif kind == "check_tx":
            response.code = len(request.tx)
        elif kind == "query":
            raise RuntimeError("boom")


@pytest.fixture
def served() -> Iterator[tuple[Recorder, socket.socket]]:
    handler = Recorder()
    server = AbciServer(handler, "127.0.0.1", 0)
    server.start()
    conn = socket.create_connection(server.address, timeout=5)
    try:
        yield handler, conn
    finally:
        conn.close()
        server.close()


def _read_responses(conn: socket.socket, count: int) -> list[pb.Response]:
    buf, out, pos = b"", [], 0
    while len(out) < count:
        found = next_frame(buf, pos)
        if found is None:
            chunk = conn.recv(65536)
            assert chunk, "server closed the connection"
            buf += chunk
            continue
        payload, pos = found
        out.append(pb.Response.FromString(payload))
    return out


def test_server_answers_in_order_and_honours_flush(
        served: tuple[Recorder, socket.socket]) -> None:
    handler, conn = served
    requests = [pb.Request(echo=pb.RequestEcho(message="hi"))]
    requests += [pb.Request(check_tx=pb.RequestCheckTx(tx=b"x" * n)) for n in range(1, 6)]
    requests.append(pb.Request(flush=pb.RequestFlush()))
    data = b"".join(frame(r.SerializeToString()) for r in requests)
    for i in range(0, len(data), 7):  # split mid-frame: the server must reassemble
        conn.sendall(data[i:i + 7])
    responses = _read_responses(conn, len(requests))
    assert [r.WhichOneof("value") for r in responses] == \
        ["echo"] + ["check_tx"] * 5 + ["flush"]
    assert responses[0].echo.message == "hi"
    assert [r.check_tx.code for r in responses[1:6]] == [1, 2, 3, 4, 5]
    assert handler.seen == ["echo"] + ["check_tx"] * 5


def test_a_failing_handler_becomes_an_exception_response(
        served: tuple[Recorder, socket.socket]) -> None:
    _, conn = served
    conn.sendall(frame(pb.Request(query=pb.RequestQuery(path="x")).SerializeToString())
                 + frame(pb.Request(flush=pb.RequestFlush()).SerializeToString()))
    failed, flushed = _read_responses(conn, 2)
    assert failed.WhichOneof("value") == "exception" and "boom" in failed.exception.error
    assert flushed.WhichOneof("value") == "flush"


def test_empty_responses_are_still_sent() -> None:
    # ResponseCommit with retain_height 0 has no set field; the oneof must still be set.
    class Nothing:
        def handle(self, kind: str, request: Any, response: Any) -> None:
            pass

    response = answer(Nothing(), pb.Request(commit=pb.RequestCommit()))
    assert response.WhichOneof("value") == "commit"


# -- the adapter -------------------------------------------------------------------------------
def _ts(ms: int) -> dict[str, int]:
    return {"seconds": ms // 1000, "nanos": (ms % 1000) * 1_000_000 + 123_456}


def init(app: AbciApplication) -> bytes:
    g = genesis()
    res = pb.ResponseInitChain()
    app.handle("init_chain", pb.RequestInitChain(
        chain_id=CHAIN_ID, time=_ts(g["genesis_time_ms"]), initial_height=1,
        app_state_bytes=json.dumps(g["app_state"]).encode()), res)
    return bytes(res.app_hash)


def call(app: AbciApplication, kind: str, **fields: Any) -> Any:
    request = getattr(pb, "Request" + "".join(p.title() for p in kind.split("_")))(**fields)
    response = getattr(pb, "Response" + "".join(p.title() for p in kind.split("_")))()
    app.handle(kind, request, response)
    return response


def patient_tx(n: int, nonce: int = 1) -> bytes:
    from phrchain.core.tx import build_tx

    return build_tx(signing_key(n), CHAIN_ID, nonce,
                    [{"type": "identity/register_patient", "enc_key": enc_key(n)}])


def block(app: AbciApplication, height: int, txs: list[bytes], ms: int) -> Any:
    result = call(app, "finalize_block", txs=txs, height=height, time=_ts(ms))
    call(app, "commit")
    return result


def test_timestamp_is_truncated_to_milliseconds() -> None:
    assert timestamp_ms(pb.RequestFinalizeBlock(time={"seconds": 5, "nanos": 999_999_999})
                        .time) == 5999


def test_info_init_chain_and_a_block() -> None:
    app = AbciApplication(MemoryStateStore())
    assert call(app, "info").last_block_height == 0
    genesis_hash = init(app)
    info = call(app, "info")
    assert (info.last_block_height, info.last_block_app_hash) == (0, genesis_hash)
    assert init(app) == genesis_hash  # InitChain again before block 1: same answer
    assert call(app, "check_tx", tx=patient_tx(10)).code == 0
    bad = call(app, "check_tx", tx=patient_tx(11, nonce=2))
    assert (bad.codespace, bad.code) == ("tx", 7)  # nonce_skipped
    result = block(app, 1, [patient_tx(10), patient_tx(11, nonce=2)],
                   1_700_000_001_000)
    assert [r.code for r in result.tx_results] == [0, 7]
    assert result.tx_results[1].codespace == "tx" and result.tx_results[1].log
    events = {e.type: {a.key: a.value for a in e.attributes}
              for e in result.tx_results[0].events}
    assert events["message"]["action"] == "identity/register_patient"
    assert all(a.index for e in result.tx_results[0].events for a in e.attributes)
    assert len(result.tx_results[0].data) == 32  # hash of the consensus result
    info = call(app, "info")
    assert (info.last_block_height, info.last_block_app_hash) == (1, result.app_hash)
    assert app.app.last_block_time_ms == 1_700_000_001_000


def test_prepare_drops_failing_txs_and_process_rejects_them() -> None:
    app = AbciApplication(MemoryStateStore())
    init(app)
    good, skipped, replay = patient_tx(20), patient_tx(21, nonce=2), patient_tx(20)
    txs = [good, skipped, replay, patient_tx(22)]
    ms = 1_700_000_002_000
    prepared = call(app, "prepare_proposal", txs=txs, height=1, time=_ts(ms),
                    max_tx_bytes=1_000_000)
    assert list(prepared.txs) == [good, patient_tx(22)]
    small = call(app, "prepare_proposal", txs=txs, height=1, time=_ts(ms),
                 max_tx_bytes=len(good) + 11)
    assert list(small.txs) == [good]
    accept = pb.ResponseProcessProposal.ACCEPT
    assert call(app, "process_proposal", txs=prepared.txs, height=1, time=_ts(ms)).status \
        == accept
    for bad in ([skipped], [good, replay], [b"not a tx"]):
        assert call(app, "process_proposal", txs=bad, height=1, time=_ts(ms)).status == \
            pb.ResponseProcessProposal.REJECT
    assert call(app, "info").last_block_height == 0  # trials leave no trace


def test_query_with_proof_and_refusals() -> None:
    app = AbciApplication(MemoryStateStore())
    init(app)
    result = call(app, "query", path="identity/did", prove=True,
                  data=json.dumps({"did": AUTHORITY.did}).encode())
    assert result.code == 0 and result.height == 0
    answer_ = json.loads(result.value)
    assert answer_["value"]["kind"] == "authority" and answer_["proof"]
    assert result.key.hex() == answer_["key"]
    unknown = call(app, "query", path="nope/x", data=b"{}")
    assert unknown.code != 0 and unknown.codespace == "query"
    not_json = call(app, "query", path="identity/did", data=b"{")
    assert (not_json.codespace, not_json.code) == ("query", 2)


def test_a_failing_query_is_a_code_never_an_exception(monkeypatch: pytest.MonkeyPatch) -> None:
    app = AbciApplication(MemoryStateStore())
    init(app)

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError("a module bug")

    monkeypatch.setattr(app.app, "query", broken)
    result = answer(app, pb.Request(query=pb.RequestQuery(path="identity/did", data=b"{}")))
    assert result.WhichOneof("value") == "query"
    assert (result.query.codespace, result.query.code) == ("query", 2)


def test_crash_between_finalize_and_commit_recovers(tmp_path: Path) -> None:
    app = AbciApplication(SqliteStateStore(tmp_path / "state.db"), tmp_path)
    init(app)
    block(app, 1, [patient_tx(30)], 1_700_000_003_000)
    expected = call(app, "finalize_block", txs=[patient_tx(31)], height=2,
                    time=_ts(1_700_000_004_000)).app_hash
    app.close()  # the process dies here: block 2 finalized, never committed
    app = AbciApplication(SqliteStateStore(tmp_path / "state.db"), tmp_path)
    try:
        assert call(app, "info").last_block_height == 1  # CometBFT replays block 2
        assert app.app.last_block_time_ms == 1_700_000_003_000
        again = call(app, "finalize_block", txs=[patient_tx(31)], height=2,
                     time=_ts(1_700_000_004_000))
        assert again.app_hash == expected
        call(app, "commit")
        assert call(app, "info").last_block_height == 2
    finally:
        app.close()


def test_a_restarted_cometbft_finds_an_uncommitted_block_dropped() -> None:
    app = AbciApplication(MemoryStateStore())
    init(app)
    first = call(app, "finalize_block", txs=[patient_tx(40)], height=1,
                 time=_ts(1_700_000_005_000)).app_hash
    assert call(app, "info").last_block_height == 0  # the app lives on; CometBFT restarts
    assert block(app, 1, [patient_tx(40)], 1_700_000_005_000).app_hash == first


def test_info_between_finalize_and_commit_changes_nothing() -> None:
    # RPC /abci_info reaches Info on the query connection at any moment.
    app = AbciApplication(MemoryStateStore())
    genesis_hash = init(app)
    result = call(app, "finalize_block", txs=[patient_tx(41)], height=1,
                  time=_ts(1_700_000_006_000))
    info = call(app, "info")
    assert (info.last_block_height, info.last_block_app_hash) == (0, genesis_hash)
    call(app, "commit")
    assert call(app, "info").last_block_app_hash == result.app_hash


# -- governance: genesis validators and validator updates --------------------------------------
def _validators(pairs: list[tuple[bytes, int]]) -> list[Any]:
    return [pb.ValidatorUpdate(pub_key=pb.PublicKey(ed25519=k), power=p) for k, p in pairs]


def _init_council(app: AbciApplication, cometbft: list[tuple[bytes, int]]) -> Any:
    from tests.unit.test_governance import council_genesis

    g = council_genesis()
    res = pb.ResponseInitChain()
    app.handle("init_chain", pb.RequestInitChain(
        chain_id=CHAIN_ID, time=_ts(g["genesis_time_ms"]), initial_height=1,
        validators=_validators(cometbft),
        app_state_bytes=json.dumps(g["app_state"]).encode()), res)
    return res


def test_init_chain_matches_cometbft_validators_with_the_governed_set() -> None:
    from tests.unit.test_governance import VALIDATOR_KEYS

    same = [(k, 10) for k in VALIDATOR_KEYS[:4]]
    res = _init_council(AbciApplication(MemoryStateStore()), same)
    assert len(res.validators) == 0 and res.app_hash  # CometBFT's set stands
    res = _init_council(AbciApplication(MemoryStateStore()), [])
    assert sorted((bytes(v.pub_key.ed25519), v.power) for v in res.validators) == sorted(same)
    with pytest.raises(ValueError, match="differ"):
        _init_council(AbciApplication(MemoryStateStore()), [(VALIDATOR_KEYS[0], 11), *same[1:]])


def test_finalize_block_returns_the_validator_update_of_a_passed_proposal() -> None:
    from phrchain.core.tx import build_tx
    from phrchain.modules.governance.messages import Propose, Vote
    from tests.unit.test_governance import A0, A1, A2, VALIDATOR_KEYS, add_fifth

    app = AbciApplication(MemoryStateStore())
    _init_council(app, [(k, 10) for k in VALIDATOR_KEYS[:4]])
    ms = GENESIS_SECONDS * 1000
    propose = build_tx(A0, CHAIN_ID, 1, [Propose(add_fifth()).to_msg()])
    first = block(app, 1, [propose, build_tx(A1, CHAIN_ID, 1, [Vote(1, "yes").to_msg()])],
                  ms + 1000)
    assert [r.code for r in first.tx_results] == [0, 0]
    assert list(first.validator_updates) == []  # 2 of the 3 votes needed
    last = block(app, 2, [build_tx(A2, CHAIN_ID, 1, [Vote(1, "yes").to_msg()])], ms + 2000)
    assert [(bytes(u.pub_key.ed25519), u.power) for u in last.validator_updates] \
        == [(VALIDATOR_KEYS[4], 10)]
    events = {e.type: {a.key: a.value for a in e.attributes} for e in last.events}
    assert events["governance.executed"]["proposal"] == "1"
    assert events["governance.validator"]["pub_key"] == VALIDATOR_KEYS[4].hex()
    assert list(block(app, 3, [], ms + 3000).validator_updates) == []  # reported once
