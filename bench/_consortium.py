"""``tests/consortium.py`` for the benches, with TCP_NODELAY on its loopback servers.

``phrchain.api.server.BackgroundServer`` binds ``socket.socket(AF_INET, SOCK_STREAM)``
(``proto`` 0) and hands it to uvicorn; asyncio sets TCP_NODELAY on accepted connections
only when ``sock.proto == IPPROTO_TCP`` (``asyncio.base_events._set_nodelay``), so every
response (uvicorn writes the head and the body separately) waits for the client's
delayed ACK: ~44 ms per request on this machine instead of ~0.9 ms. uvicorn binding its
own host/port (``phrchain.api.server.serve``) is not affected. Until BackgroundServer
passes ``socket.IPPROTO_TCP``, :func:`running` makes the sockets it creates do so.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests import consortium

import phrchain.api.server as api_server


class _TcpSockets:
    """``socket`` module stand-in whose ``socket()`` asks for IPPROTO_TCP."""

    def __getattr__(self, name: str) -> Any:
        return getattr(socket, name)

    @staticmethod
    def socket(family: int = socket.AF_INET, kind: int = socket.SOCK_STREAM) -> socket.socket:
        return socket.socket(family, kind, socket.IPPROTO_TCP)


@contextlib.contextmanager
def running(tmp: Path, block_interval_ms: int = 20,
            nodelay: bool = True) -> Iterator[consortium.Consortium]:
    saved = api_server.socket
    if nodelay:
        api_server.socket = _TcpSockets()  # type: ignore[assignment]
    try:
        with consortium.running(tmp, block_interval_ms) as c:
            yield c
    finally:
        api_server.socket = saved
