"""The API's error bodies and how every failure maps to one.

Every error, whatever its source, has the body ``{"error": {"codespace", "code", "name",
"message"}}``. Codespace ``api`` codes are this server's own (below); the others are the
chain's stable codes (docs/errors.md)::

    CodedError (a stable code)      → 422 (a tx's consensus code, a FHIR refusal);
                                      query/* codes → 404, 400 or 500 (_QUERY_STATUS)
    HttpError (this server's)       → its own status
    NotServed (the engine lacks it) → 404 api/2 not_found
    NodeStopped (cannot commit)     → 503 api/7 node_stopped (e.g. a full disk)
    other PhrError                  → 400 api/1 bad_request
    request validation              → 422 api/1 bad_request (where and what, no input)
    Starlette 404/405/413/...       → api/2, api/4, api/3, else api/1
    anything else                   → 500 api/5 internal_error (logged by type only)
"""

from __future__ import annotations

import logging
from typing import Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from phrchain.core.errors import CodedError, ErrorCode, PhrError
from phrchain.engine.port import NodeStopped, NotServed
from phrchain.http_errors import where_invalid

log = logging.getLogger(__name__)

# Codespace "api": this server's own errors. Not consensus codes, so deliberately not
# in phrchain.core.errors.REGISTRY; stable all the same.
BAD_REQUEST: Final = ErrorCode("api", 1, "bad_request", "request is malformed")
NOT_FOUND: Final = ErrorCode("api", 2, "not_found", "no such resource")
BODY_TOO_LARGE: Final = ErrorCode("api", 3, "body_too_large", "request body is too large")
METHOD_NOT_ALLOWED: Final = ErrorCode("api", 4, "method_not_allowed",
                                      "method not allowed on this route")
INTERNAL: Final = ErrorCode("api", 5, "internal_error", "the server failed; see its log")
UNAVAILABLE: Final = ErrorCode("api", 6, "unavailable", "the server is busy, try later")
NODE_STOPPED: Final = ErrorCode("api", 7, "node_stopped",
                                "the node has stopped committing blocks; nothing was admitted")
# Answered by the connection layer (api/connections.py) before any app sees the request.
HEADERS_TOO_LARGE: Final = ErrorCode("api", 8, "headers_too_large",
                                     "request line and headers are too large")
# query/1 unknown path, 2 bad query, 3 height not retained, 4 nothing under that key,
# 5 the node's own state is damaged (its fault, not the caller's).
_QUERY_STATUS: Final = {1: 404, 2: 400, 3: 404, 4: 404, 5: 500}


class HttpError(Exception):
    """An API-level refusal with its HTTP status and stable code."""

    def __init__(self, status: int, error: ErrorCode, detail: str = "") -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


def error_json(status: int, codespace: str, code: int, name: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"codespace": codespace, "code": code, "name": name,
                                   "message": message}}, status_code=status)


def _code_json(status: int, error: ErrorCode, detail: str = "") -> JSONResponse:
    return error_json(status, error.codespace, error.code, error.name,
                      error.message + (f": {detail}" if detail else ""))


def _tx_error_status(exc: CodedError) -> int:
    return _QUERY_STATUS.get(exc.code, 400) if exc.codespace == "query" else 422


def install_error_handlers(app: FastAPI) -> None:
    async def on_tx_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, CodedError)
        return error_json(_tx_error_status(exc), exc.codespace, exc.code, exc.error.name,
                          exc.log)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HttpError)
        return _code_json(exc.status, exc.error, exc.detail)

    async def on_not_served(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, NotServed)
        return _code_json(404, NOT_FOUND, str(exc))

    async def on_node_stopped(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, NodeStopped)
        return _code_json(503, NODE_STOPPED, str(exc))

    async def on_phr_error(_: Request, exc: Exception) -> Response:
        return error_json(400, BAD_REQUEST.codespace, BAD_REQUEST.code, BAD_REQUEST.name,
                          str(exc))

    async def on_validation(_: Request, exc: Exception) -> Response:
        # Only where and what, never the offending input: it may be a health-data payload.
        assert isinstance(exc, RequestValidationError)
        return error_json(422, BAD_REQUEST.codespace, BAD_REQUEST.code, BAD_REQUEST.name,
                          f"{BAD_REQUEST.message}: {where_invalid(exc)}")

    async def on_starlette(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 413: BODY_TOO_LARGE}.get(
            exc.status_code, BAD_REQUEST)
        return error_json(exc.status_code, error.codespace, error.code, error.name,
                          error.message)

    async def on_crash(_: Request, exc: Exception) -> Response:
        log.error("request failed: %s", type(exc).__name__)  # no body, no arguments
        return error_json(500, INTERNAL.codespace, INTERNAL.code, INTERNAL.name,
                          INTERNAL.message)

    app.add_exception_handler(CodedError, on_tx_error)
    app.add_exception_handler(HttpError, on_http_error)
    app.add_exception_handler(NotServed, on_not_served)
    app.add_exception_handler(NodeStopped, on_node_stopped)
    app.add_exception_handler(PhrError, on_phr_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_starlette)
    app.add_exception_handler(Exception, on_crash)
