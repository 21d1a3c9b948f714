"""CI replay of the fuzzing campaign (``bench/fuzz.py``): every saved input of every
target goes through that target's contract (``tests/fuzz/targets.py``), and every crash
the fuzzer found stays fixed (the regression tests below, one per finding)."""

from __future__ import annotations

import logging
import socket
import threading
from pathlib import Path

import pytest

from phrchain.engine.abci.server import serve_connection
from phrchain.fhir import jsonio
from phrchain.fhir.errors import INVALID_RESOURCE, FhirError
from tests.fuzz.targets import CORPUS, TARGETS, abci, fhir

INPUTS = sorted(p for p in CORPUS.glob("*/*") if p.is_file())


def test_every_target_has_a_saved_corpus() -> None:
    assert sorted(p.name for p in CORPUS.iterdir() if p.is_dir()) == sorted(TARGETS)
    for target in TARGETS:
        assert any((CORPUS / target).iterdir()), target
    assert sum(p.stat().st_size for p in INPUTS) < 1 << 20  # a small corpus, not a dump


@pytest.mark.parametrize("path", INPUTS, ids=lambda p: f"{p.parent.name}/{p.name[:16]}")
def test_saved_input_keeps_its_targets_contract(path: Path) -> None:
    TARGETS[path.parent.name](path.read_bytes())


# -- regressions: each finding of bench/fuzz.py, as found ----------------------------------
def test_abci_peer_sending_a_malformed_protobuf_only_loses_its_connection(
        caplog: pytest.LogCaptureFixture) -> None:
    """Finding 1 (abci): ``Request.FromString`` raised protobuf's ``DecodeError`` out of
    ``serve_connection``, killing the connection thread with a traceback. Now the
    connection is closed and a warning logged, like a framing error."""
    ours, peer = socket.socketpair()
    peer.sendall(b"\x03\x0a\x08\x01")  # one frame: field 1, length 8, but 1 byte follows
    peer.shutdown(socket.SHUT_WR)
    failures: list[BaseException] = []
    thread = threading.Thread(target=lambda: _serve(ours, failures))
    with caplog.at_level(logging.WARNING, logger="phrchain.engine.abci.server"):
        thread.start()
        thread.join(timeout=10)
    assert not thread.is_alive() and failures == []
    assert "DecodeError" in caplog.text
    assert peer.recv(100) == b""  # closed without an answer
    peer.close()


def _serve(sock: socket.socket, failures: list[BaseException]) -> None:
    try:
        serve_connection(sock, handler=None)  # type: ignore[arg-type]  # never reached
    except BaseException as exc:
        failures.append(exc)


@pytest.mark.parametrize("data", [b"[" * 100_000, b'{"a":' * 50_000])
def test_fhir_json_nested_too_deeply_is_an_invalid_resource(data: bytes) -> None:
    """Finding 2 (fhir): ``jsonio.loads`` let the parser's ``RecursionError`` out of a
    deeply nested document; it is a FHIR refusal like any malformed JSON."""
    with pytest.raises(FhirError) as caught:
        jsonio.loads(data)
    assert caught.value.error is INVALID_RESOURCE and caught.value.rule == "json"
    fhir(data)  # and the target's contract holds
    abci(data)
