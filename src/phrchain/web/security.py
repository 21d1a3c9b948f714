"""The browser-facing defences of the UI (``docs/web.md``, "Threat model").

:class:`LoopbackGuard` (ASGI middleware, outermost) refuses any request that did not
come from a loopback address, or whose ``Host`` header is not a loopback name with the
port the request arrived on — a page on another site whose name an attacker re-points
at 127.0.0.1 (DNS rebinding) sends its own name as ``Host`` and is refused. It adds the
security headers to every answer: a strict Content-Security-Policy (nothing inline,
nothing from elsewhere), ``no-store``, no framing, no referrer.

:func:`check_csrf` is for state-changing requests: the ``X-CSRF-Token`` header must
carry the expected token (a cross-site form cannot set headers, and a cross-site
``fetch`` with one needs a CORS preflight this app never grants), and an ``Origin`` or
``Sec-Fetch-Site`` header, when the browser sends one, must say same-origin.
"""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any, Final

from fastapi.responses import JSONResponse
from starlette.requests import Request

from phrchain.web.errors import BAD_HOST, CSRF, UiError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSRF_HEADER: Final = "x-csrf-token"
LOOPBACK_NAMES: Final = frozenset({"localhost", "127.0.0.1", "::1"})
CONTENT_SECURITY_POLICY: Final = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'")
SECURITY_HEADERS: Final = (
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"cache-control", b"no-store"),
    (b"pragma", b"no-cache"),
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
)


def is_loopback_address(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """``Host`` header → (lowercased name, port or None); raises ValueError."""
    value = value.strip().lower()
    if value.startswith("["):  # [::1]:8645
        name, _, rest = value[1:].partition("]")
        port = rest[1:] if rest.startswith(":") else ""
        if rest and not rest.startswith(":"):
            raise ValueError("bad host")
    else:
        name, _, port = value.partition(":")
    if port and not port.isdigit():
        raise ValueError("bad port")
    return name, int(port) if port else None


def host_allowed(scope: Scope) -> bool:
    client = scope.get("client")
    if client is not None and not is_loopback_address(client[0]):
        return False
    headers = dict(scope.get("headers") or ())
    try:
        name, port = split_host(headers.get(b"host", b"").decode("latin-1"))
    except ValueError:
        return False
    if name not in LOOPBACK_NAMES:
        return False
    server = scope.get("server")
    if server is not None and server[1] is not None:
        return bool((port or 80) == server[1])
    return True


class LoopbackGuard:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                names = {k.lower() for k, _ in message.get("headers", ())}
                message["headers"] = [*message.get("headers", ()),
                                      *(h for h in SECURITY_HEADERS if h[0] not in names)]
            await send(message)

        if not host_allowed(scope):
            refusal = JSONResponse({"error": {"codespace": BAD_HOST.codespace,
                                              "code": BAD_HOST.code, "name": BAD_HOST.name,
                                              "message": BAD_HOST.message}},
                                   status_code=403)
            await refusal(scope, receive, with_headers)
            return
        await self.app(scope, receive, with_headers)


def check_csrf(request: Request, expected: str) -> None:
    """Raise ui/4 unless the request carries ``expected`` and nothing says cross-site."""
    given = request.headers.get(CSRF_HEADER, "")
    if not given or not hmac.compare_digest(given.encode(), expected.encode()):
        raise UiError(403, CSRF, "send the session's token in the X-CSRF-Token header")
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        raise UiError(403, CSRF, f"a {site} request")
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.headers.get('host')}":
        raise UiError(403, CSRF, "the Origin is not this UI")
