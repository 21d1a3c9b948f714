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
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any, Final

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("phrchain.api.connections")

MAX_HEAD_BYTES: Final = 16 * 1024  # request line + headers; h11's own default, made explicit


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
        self._head_deadline = self.loop.time() + self.limits.head_timeout_s
        self._received = 0
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
        super().data_received(data)
        if self.conn.their_state not in (h11.IDLE, h11.SEND_BODY):
            self._end()  # the whole request is in (or the connection is over)

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
        if state is h11.SEND_BODY and not self.flow.read_paused:  # paused: the app is slow
            if self._received < self.limits.min_body_rate * self.limits.check_interval_s:
                self._close("request body slower than %d bytes/s", self.limits.min_body_rate)
                return
        self._received = 0
        self._schedule()

    def _close(self, why: str, *args: Any) -> None:
        log.debug("closing a slow connection: " + why, *args)
        self._end()
        self.transport.close()
