"""The ABCI socket server: wire protocol only, no state.

CometBFT opens four connections (consensus, mempool, query, snapshot) and sends each a
stream of ``Request`` frames. Each connection is served by its own thread, strictly in
order: a reply is never sent before the replies to earlier requests. Replies are
buffered and written when the client asks for them with ``Flush``, or when every request
received so far is answered (before waiting for more), so a burst of ``CheckTx`` costs
one write. The :class:`Handler` (the adapter) decides what the answers are.

A handler that raises is answered with ``ResponseException``; CometBFT then stops using
the connection and halts the node (this process never exits on its own). So the
adapter turns every expected failure into a result code and lets only real faults
(e.g. the state store failing in ``Commit``) through.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Protocol

from google.protobuf.message import DecodeError

from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.wire import FramingError, frame, next_frame

log = logging.getLogger(__name__)

_RECV_BYTES = 1 << 20
# Request kinds a Handler answers; the reply field has the same name (abci.proto).
KINDS = frozenset({
    "echo", "info", "init_chain", "query", "check_tx", "commit", "list_snapshots",
    "offer_snapshot", "load_snapshot_chunk", "apply_snapshot_chunk", "prepare_proposal",
    "process_proposal", "extend_vote", "verify_vote_extension", "finalize_block"})


class Handler(Protocol):
    def handle(self, kind: str, request: object, response: object) -> None:
        """Fill ``response`` (the ``Response`` field named ``kind``) for ``request``."""


def answer(handler: Handler, request: pb.Request) -> pb.Response:
    """One request's reply; a handler failure becomes a ``ResponseException``."""
    response = pb.Response()
    kind = request.WhichOneof("value")
    if kind == "flush":
        response.flush.SetInParent()
        return response
    if kind not in KINDS:
        response.exception.error = f"unsupported request {kind!r}"
        return response
    try:
        sub = getattr(response, kind)
        sub.SetInParent()
        handler.handle(kind, getattr(request, kind), sub)
    except Exception as exc:  # reported to CometBFT, which decides whether to halt
        log.exception("ABCI %s failed", kind)
        response = pb.Response()
        response.exception.error = f"{kind}: {type(exc).__name__}: {exc}"
    return response


def serve_connection(sock: socket.socket, handler: Handler) -> None:
    """Answer one CometBFT connection until it closes."""
    buf = bytearray()
    out = bytearray()
    try:
        while True:
            pos = 0
            while (found := next_frame(buf, pos)) is not None:
                payload, pos = found
                request = pb.Request.FromString(payload)
                out += frame(answer(handler, request).SerializeToString())
                if request.WhichOneof("value") == "flush":
                    sock.sendall(out)
                    out.clear()
            del buf[:pos]
            if out:  # everything received is answered: send before waiting for more
                sock.sendall(out)
                out.clear()
            data = sock.recv(_RECV_BYTES)
            if not data:
                return
            buf += data
    except (FramingError, DecodeError, OSError) as exc:  # a peer's bytes end its connection
        log.warning("ABCI connection closed: %s: %s", type(exc).__name__, exc)
    finally:
        sock.close()


class AbciServer:
    """Listens on ``host:port`` (loopback by default) and serves each connection."""

    def __init__(self, handler: Handler, host: str = "127.0.0.1", port: int = 26658) -> None:
        self.handler = handler
        self._listener = socket.create_server((host, port), reuse_port=False)
        self.address = self._listener.getsockname()[:2]
        self._threads: list[threading.Thread] = []
        self._closed = threading.Event()

    def serve_forever(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                if self._closed.is_set():
                    return
                raise
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            thread = threading.Thread(target=serve_connection, args=(conn, self.handler),
                                      name="abci-conn", daemon=True)
            thread.start()
            self._threads.append(thread)

    def start(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="abci-accept", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self._closed.set()
        try:
            self._listener.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self._listener.close()
