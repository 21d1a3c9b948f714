"""Running the node API: :func:`serve` (the node and its API until a signal) and
:class:`BackgroundServer` (an app on loopback in a thread, for tests and the demo).
The app itself is assembled in :mod:`phrchain.api.app`; ``create_app`` is re-exported
here because callers start it with one of these.

Both (and ``phrchain vault serve``) run uvicorn through :func:`uvicorn_config`: the
transport limits of :mod:`phrchain.api.connections` (slow clients, header size,
concurrency) and, given a :class:`~phrchain.tls.ServerTLS`, HTTPS (mutual TLS when it
names a client CA)."""

from __future__ import annotations

import signal
import socket
import threading
import time
from typing import Any

import uvicorn

from phrchain.api.app import create_app
from phrchain.api.connections import ServerLimits, guarded_protocol
from phrchain.engine.port import NodePort
from phrchain.tls import ServerTLS

__all__ = ["BackgroundServer", "ServerLimits", "create_app", "serve", "uvicorn_config"]


def uvicorn_config(app: Any, tls: ServerTLS | None = None,
                   limits: ServerLimits | None = None, **options: Any) -> uvicorn.Config:
    """One uvicorn configuration for every phrchain server: h11 with the slow-client
    guard, a bounded head size, keep-alive and concurrency limits, and TLS if given."""
    limits = limits or ServerLimits()
    options.setdefault("log_level", "warning")
    options.setdefault("access_log", False)
    return uvicorn.Config(
        app, http=guarded_protocol(limits), h11_max_incomplete_event_size=limits.max_head_bytes,
        timeout_keep_alive=int(max(1, limits.keep_alive_s)),
        limit_concurrency=limits.max_concurrency, backlog=limits.backlog,
        **(tls.uvicorn_options() if tls is not None else {}), **options)


class _Stopped(Exception):
    """Raised by our SIGTERM handler when uvicorn re-delivers the signal it handled."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stopped


def serve(node: NodePort, host: str = "127.0.0.1", port: int = 8645,
          log_level: str = "info", access_log: bool = False,
          tls: ServerTLS | None = None, limits: ServerLimits | None = None) -> None:
    """Run the node and its API until SIGINT/SIGTERM, then close the node and return.

    uvicorn shuts down gracefully on either signal and then re-delivers it to the
    previous handler; for SIGINT that is a KeyboardInterrupt and for SIGTERM, by default,
    death before ``node.close()``. So SIGTERM gets a handler that raises, and both end
    here as a normal return after the node is closed."""
    config = uvicorn_config(create_app(node), tls, limits, host=host, port=port,
                            log_level=log_level, access_log=access_log,
                            timeout_graceful_shutdown=5)
    in_main = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _stopped) if in_main else None
    node.start()
    try:
        uvicorn.Server(config).run()
    except (KeyboardInterrupt, _Stopped):
        pass
    finally:
        node.close()
        if in_main:
            signal.signal(signal.SIGTERM, previous)


class BackgroundServer:
    """Serve an ASGI app on loopback, on a free port (or ``port``), in a daemon thread; for
    tests, notebooks and the demo. ``with BackgroundServer(app) as url: ...``; the URL is
    ``https://`` when ``tls`` is given."""

    def __init__(self, app: Any, host: str = "127.0.0.1", start_timeout: float = 10.0,
                 port: int = 0, tls: ServerTLS | None = None,
                 limits: ServerLimits | None = None) -> None:
        self.app, self.host, self.start_timeout, self.port = app, host, start_timeout, port
        self.tls, self.limits = tls, limits
        self.url = ""
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def __enter__(self) -> str:
        # proto=IPPROTO_TCP explicitly: asyncio sets TCP_NODELAY on accepted connections
        # only for sockets whose proto says TCP, and without it every response waits
        # ~40 ms for the client's delayed ACK (Nagle).
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))  # 0: the kernel picks a free port, no race
        port = sock.getsockname()[1]
        config = uvicorn_config(self.app, self.tls, self.limits,
                                timeout_graceful_shutdown=2, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, kwargs={"sockets": [sock]},
                                        name="phrchain-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + self.start_timeout
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("API server did not start")
            time.sleep(0.01)
        self.url = f"{'https' if self.tls else 'http'}://{self.host}:{port}"
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
