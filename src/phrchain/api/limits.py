"""Request body limit: ASGI middleware in front of the whole app."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from phrchain.api.errors import BODY_TOO_LARGE, error_json
from phrchain.core.tx import MAX_TX_BYTES

# A maximal tx is 64 KiB of bytes = 128 KiB of hex, plus the JSON around it.
MAX_BODY_BYTES: Final = 2 * MAX_TX_BYTES + 16 * 1024

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyLimit:
    """ASGI middleware: refuse (413) any request body over ``max_bytes``, whether or not
    it declares a Content-Length. Bodies are small JSON, so it buffers then replays."""

    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or ()).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size, more = 0, True
        while more:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away before sending its body
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            if size > self.max_bytes:
                await self._refuse(scope, receive, send)
                return
            more = message.get("more_body", False)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # e.g. http.disconnect for streaming responses
            replayed = True
            return {"type": "http.request", "body": b"".join(chunks), "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = error_json(413, BODY_TOO_LARGE.codespace, BODY_TOO_LARGE.code,
                              BODY_TOO_LARGE.name,
                              f"{BODY_TOO_LARGE.message} (max {self.max_bytes} bytes)")
        await response(scope, receive, send)
