"""Per-connection limits of the HTTP servers (the node API and the vaults).

uvicorn bounds the time a connection may sit idle *between* requests (keep-alive) but
not the time a client may take to send one: a client that sends a byte a second (or
nothing at all after connecting) holds its connection, and a slot of the concurrency
limit, forever, and a few hundred of them deny service to everyone (slowloris).
:func:`guarded_protocol` makes uvicorn's h11 protocol close such a connection: the
request head must be complete within ``head_timeout_s`` of its first byte (or of the
connection), and a body must keep arriving at ``min_body_rate`` bytes/s or more, checked
every ``check_interval_s`` (the minimum data rate of Kestrel, rather than a deadline for
the whole body, so a large upload over a slow link still goes through). Time the
application spends on a request is not counted: only the client's sending.

h11 bounds a request head only while it is incomplete: a 60 KiB head that arrives in one
read is parsed whole. So the head is measured here, before h11 sees it, and one over
``max_head_bytes`` is answered ``431 api/8 headers_too_large`` and the connection closed.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from typing import Any, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("phrchain.api.connections")

MAX_HEAD_BYTES: Final = 16 * 1024  # request line + headers; h11's own default, made explicit
_HEAD_END: Final = b"\r\n\r\n"


def _too_large_body(limit: int) -> bytes:
    """api/8 (phrchain.api.errors.HEADERS_TOO_LARGE), written here below the ASGI app."""
    return json.dumps({"error": {
        "codespace": "api", "code": 8, "name": "headers_too_large",
        "message": f"request line and headers are too large (max {limit} bytes)"}}).encode()


@dataclass(frozen=True)
class ServerLimits:
    """The transport limits of one server; the defaults are what ``phrchain start`` and
    ``phrchain vault serve`` use (docs/security.md gives the measured behaviour)."""

    head_timeout_s: float = 10.0
    min_body_rate: int = 1024  # bytes/s, averaged over each check interval
    check_interval_s: float = 5.0
    keep_alive_s: float = 5.0
    max_head_bytes: int = MAX_HEAD_BYTES
    max_concurrency: int = 1000  # connections + running requests; beyond it: 503
    backlog: int = 2048


def guarded_protocol(limits: ServerLimits) -> type[asyncio.Protocol]:
    """uvicorn's h11 protocol with the slow-client deadlines of ``limits``."""

    class Guarded(_GuardedH11):
        pass

    Guarded.limits = limits
    return Guarded


class _GuardedH11(H11Protocol):
    limits = ServerLimits()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timer: asyncio.TimerHandle | None = None
        self._receiving = False
        self._begin()  # a connection that never sends a byte is a slow head too

    def _begin(self) -> None:
        self._receiving = True
        self._head_open, self._head_size, self._head_tail = True, 0, b""
        self._head_deadline = self.loop.time() + self.limits.head_timeout_s
        self._received, self._paused = 0, False
        self._schedule()

    def _schedule(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        delay = min(self.limits.check_interval_s,
                    max(0.0, self._head_deadline - self.loop.time()))
        if self.conn.their_state is h11.SEND_BODY:
            delay = self.limits.check_interval_s
        self._timer = self.loop.call_later(delay, self._check)

    def _end(self) -> None:
        self._receiving = False
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def data_received(self, data: bytes) -> None:
        if not self._receiving:
            self._begin()  # the next request on a kept-alive connection
        self._received += len(data)
        if self._head_open and self._head_too_large(data):
            self._refuse_head()
            return
        super().data_received(data)
        self._paused = self._paused or self.flow.read_paused  # the app is behind, not us
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._end()  # the whole request is in (or the connection is over)

    def _head_too_large(self, data: bytes) -> bool:
        """Count the head's bytes up to its blank line (which may straddle two reads)."""
        window = self._head_tail + data
        end = window.find(_HEAD_END)
        if end >= 0:
            self._head_open = False
            size = self._head_size + end + len(_HEAD_END) - len(self._head_tail)
        else:
            size = self._head_size + len(data)
            self._head_size, self._head_tail = size, window[-3:]
        return size > self.limits.max_head_bytes

    def _refuse_head(self) -> None:
        self._end()
        body = _too_large_body(self.limits.max_head_bytes)
        self.transport.write(b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
                             b"content-type: application/json\r\nconnection: close\r\n"
                             b"content-length: %d\r\n\r\n%s" % (len(body), body))
        self.transport.close()

    def connection_lost(self, exc: Exception | None) -> None:
        self._end()
        super().connection_lost(exc)

    def _check(self) -> None:
        self._timer = None
        if not self._receiving or self.transport.is_closing():
            return
        state = self.conn.their_state
        if state is h11.IDLE and self.loop.time() >= self._head_deadline:
            self._close("request head not complete in %.1f s", self.limits.head_timeout_s)
            return
        paused = self._paused or self.flow.read_paused  # reading paused: the app is slow
        if state is h11.SEND_BODY and not paused:
            if self._received < self.limits.min_body_rate * self.limits.check_interval_s:
                self._close("request body slower than %d bytes/s", self.limits.min_body_rate)
                return
        self._received, self._paused = 0, False
        self._schedule()

    def _close(self, why: str, *args: Any) -> None:
        log.debug("closing a slow connection: " + why, *args)
        self._end()
        self.transport.close()
