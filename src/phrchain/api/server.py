"""The node REST API (FastAPI): submit signed txs, query state with proofs, read signed
headers and blocks, follow events (server-sent events), scrape metrics.

Routes (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``)::

    POST /v1/txs                      {"tx": hex, "wait": "commit"|"check"}
    GET  /v1/txs/{hash}               tx status
    GET  /v1/query/{path}?height=&prove=&<data...>
    POST /v1/query                    {"path", "data", "height", "prove"}
    GET  /v1/headers/latest, /v1/headers/{height}, /v1/blocks/{height}, /v1/status
    GET  /v1/identities/{did}         one identity, with its state proof
    GET  /v1/identities?organization=|role=|kind=
    GET  /v1/events?kind=tx|block&event=<event type>   text/event-stream
    GET  /metrics                     Prometheus text format

Status codes: a tx refused at check → 422 with its consensus code (``tx/5`` for a bad
signature); a tx that was *committed* but failed in its block → 200 with the failing
``result`` (it changed nothing, not even the nonce); still pending after the commit
timeout → 202. Every error, whatever its source, has the body
``{"error": {"codespace", "code", "name", "message"}}``; codespace ``api`` codes are
this server's own (below), the others are the chain's stable codes (docs/errors.md).

Privacy: request bodies are never logged, and uvicorn's access log is off by default
(URLs carry DIDs, which are pseudonymous but linkable).
"""

from __future__ import annotations

import asyncio
import json
import logging
import queue
import signal
import socket
import threading
import time
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Annotated, Any, Final, Literal

import uvicorn
from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from phrchain import __version__
from phrchain.api.models import (
    BlockModel,
    ErrorBody,
    QueryAnswer,
    QueryRequest,
    SignedHeaderModel,
    StatusModel,
    SubmitTxRequest,
    SubmitTxResponse,
    TxStatus,
)
from phrchain.core import encoding
from phrchain.core.errors import MALFORMED_TX, REGISTRY, ErrorCode, PhrError, TxError
from phrchain.core.errors import NOT_FOUND as QUERY_NOT_FOUND
from phrchain.core.tx import MAX_TX_BYTES
from phrchain.engine.solo.node import SoloNode

log = logging.getLogger(__name__)

# A maximal tx is 64 KiB of bytes = 128 KiB of hex, plus the JSON around it.
MAX_BODY_BYTES: Final = 2 * MAX_TX_BYTES + 16 * 1024
COMMIT_TIMEOUT_S: Final = 30.0
HEARTBEAT_S: Final = 15.0
EVENT_POLL_S: Final = 0.1
MAX_SUBSCRIBERS: Final = 256
HASH_RE: Final = r"^[0-9a-f]{64}$"

# Codespace "api": this server's own errors. Not consensus codes, so deliberately not
# in phrchain.core.errors.REGISTRY; stable all the same.
BAD_REQUEST: Final = ErrorCode("api", 1, "bad_request", "request is malformed")
NOT_FOUND: Final = ErrorCode("api", 2, "not_found", "no such resource")
BODY_TOO_LARGE: Final = ErrorCode("api", 3, "body_too_large", "request body is too large")
METHOD_NOT_ALLOWED: Final = ErrorCode("api", 4, "method_not_allowed",
                                      "method not allowed on this route")
INTERNAL: Final = ErrorCode("api", 5, "internal_error", "the server failed; see its log")
UNAVAILABLE: Final = ErrorCode("api", 6, "unavailable", "the server is busy, try later")
# query/1 unknown path, 2 bad query, 3 height not retained, 4 nothing under that key.
_QUERY_STATUS: Final = {1: 404, 2: 400, 3: 404, 4: 404}


class HttpError(Exception):
    """An API-level refusal with its HTTP status and stable code."""

    def __init__(self, status: int, error: ErrorCode, detail: str = "") -> None:
        super().__init__(detail)
        self.status, self.error, self.detail = status, error, detail


# -- shared state ---------------------------------------------------------------------------
class _ApiState:
    """Counters and limits of one app instance (not module globals: tests run several)."""

    def __init__(self, node: SoloNode, commit_timeout: float, heartbeat_s: float) -> None:
        self.node = node
        self.commit_timeout = commit_timeout
        self.heartbeat_s = heartbeat_s
        self._lock = threading.Lock()
        self.submitted = 0
        self.rejected = 0
        self.subscribers = 0

    def count(self, rejected: bool) -> None:
        with self._lock:
            self.submitted += 1
            self.rejected += int(rejected)


async def _api(request: Request) -> _ApiState:
    state: _ApiState = request.app.state.api
    return state


Api = Annotated[_ApiState, Depends(_api)]


def _error_json(status: int, codespace: str, code: int, name: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"codespace": codespace, "code": code, "name": name,
                                   "message": message}}, status_code=status)


def _tx_error_status(exc: TxError) -> int:
    return _QUERY_STATUS.get(exc.code, 400) if exc.codespace == "query" else 422


_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    400: {"model": ErrorBody}, 404: {"model": ErrorBody}, 413: {"model": ErrorBody},
    422: {"model": ErrorBody}}

router = APIRouter(prefix="/v1", responses=_ERRORS)


# -- transactions ---------------------------------------------------------------------------
@router.post("/txs", response_model=SubmitTxResponse, tags=["txs"],
             responses={202: {"model": SubmitTxResponse, "description": "still pending"}})
def submit_tx(body: SubmitTxRequest, api: Api) -> JSONResponse:
    """Submit a signed tx. Runs in the threadpool: the commit wait blocks a worker
    thread, never the event loop."""
    try:
        raw = encoding.hex_bytes(body.tx, what="tx")
    except PhrError as exc:
        api.count(rejected=True)
        raise MALFORMED_TX(str(exc)) from None
    check = api.node.submit(raw)
    api.count(rejected=not check.ok)
    if not check.ok:
        known = REGISTRY.get((check.codespace, check.code))
        return _error_json(422, check.codespace, check.code,
                           known.name if known else "rejected", check.log)
    answer: dict[str, Any] = {"hash": check.hash.hex(), "check": check.to_json(),
                              "status": "pending", "height": None, "index": None,
                              "result": None}
    if body.wait == "commit":
        answer.update(api.node.wait_committed(check.hash, api.commit_timeout))
    return JSONResponse(answer, status_code=202 if answer["status"] == "pending" else 200)


@router.get("/txs/{tx_hash}", response_model=TxStatus, tags=["txs"])
def get_tx(tx_hash: Annotated[str, Path(pattern=HASH_RE)], api: Api) -> dict[str, Any]:
    status = api.node.tx_status(bytes.fromhex(tx_hash))
    if status["status"] == "unknown":
        raise HttpError(404, NOT_FOUND, f"no tx {tx_hash} in the mempool or the chain")
    return {"hash": tx_hash, **status}


# -- queries --------------------------------------------------------------------------------
_ANSWER: Final[dict[str, Any]] = {"response_model": QueryAnswer,
                                  "response_model_exclude_unset": True, "tags": ["query"]}


@router.get("/query/{path:path}", **_ANSWER)
def query_get(path: str, request: Request, api: Api,
              height: Annotated[int | None, Query(ge=0)] = None,
              prove: bool = False) -> dict[str, Any]:
    """Every query parameter other than ``height`` and ``prove`` is query data, e.g.
    ``/v1/query/identity/did?did=did:key:z…&prove=true``."""
    data = {k: v for k, v in request.query_params.items() if k not in ("height", "prove")}
    return api.node.query(path, data, height, prove)


@router.post("/query", **_ANSWER)
def query_post(body: QueryRequest, api: Api) -> dict[str, Any]:
    return api.node.query(body.path, body.data, body.height, body.prove)


# -- chain ------------------------------------------------------------------------------------
@router.get("/headers/latest", response_model=SignedHeaderModel, tags=["chain"])
def latest_header(api: Api) -> dict[str, Any]:
    signed = api.node.header()
    if signed is None:
        raise HttpError(404, NOT_FOUND, "no block has been produced yet")
    return signed.to_json()


@router.get("/headers/{height}", response_model=SignedHeaderModel, tags=["chain"])
def header_at(height: Annotated[int, Path(ge=1)], api: Api) -> dict[str, Any]:
    signed = api.node.header(height)
    if signed is None:
        raise HttpError(404, NOT_FOUND, f"no block at height {height}")
    return signed.to_json()


@router.get("/blocks/{height}", response_model=BlockModel, tags=["chain"])
def block_at(height: Annotated[int, Path(ge=1)], api: Api) -> dict[str, Any]:
    block = api.node.block(height)
    if block is None:
        raise HttpError(404, NOT_FOUND, f"no committed block at height {height}")
    signed, txs = block
    return {"signed_header": signed.to_json(), "txs": [t.raw.hex() for t in txs],
            "results": [t.result for t in txs]}


@router.get("/status", response_model=StatusModel, tags=["chain"])
def status(api: Api) -> dict[str, Any]:
    return {**api.node.status(), "version": __version__}


# -- FHIR views of chain objects -----------------------------------------------------------
@router.get("/fhir/Consent/{consent}", tags=["fhir"])
def fhir_consent(consent: str, api: Api) -> dict[str, Any]:
    """A consent as a FHIR R4 ``Consent`` resource."""
    from phrchain.fhir.mapping import consent_to_fhir

    value = api.node.query("consent/get", {"consent": consent})["value"]
    if value is None:
        raise QUERY_NOT_FOUND(consent)
    return consent_to_fhir(value, patient_did=value["patient"])


@router.get("/fhir/{resource_type}/{claim}", tags=["fhir"])
def fhir_claim(resource_type: Literal["Claim", "ClaimResponse", "ExplanationOfBenefit"],
               claim: str, api: Api) -> Response:
    """A claim as a FHIR R4 ``Claim``, ``ClaimResponse`` or ``ExplanationOfBenefit``.
    Codes appear as the tags the chain holds (``urn:phrchain:code-tag``): only the
    insurer's product key turns them back into codes (``phrchain claims show --fhir``)."""
    from phrchain.fhir.claims import claim_resources
    from phrchain.fhir.jsonio import dumps
    from phrchain.modules.claims.reasons import REASONS

    c = api.node.query("claims/claim", {"claim": claim})["value"]
    if c is None:
        raise QUERY_NOT_FOUND(claim)
    product = api.node.query("claims/product", {"insurer": c["insurer"],
                                                "product": c["product"],
                                                "version": str(c["version"])})["value"]
    bill = api.node.query("settlement/bill", {"bill": c["bill"]})["value"]

    def time_of(height: int) -> int:
        signed = api.node.header(height)
        return signed.header.time_ms if signed is not None else 0

    resources = claim_resources(
        c, currency=product["currency"], provider=bill["provider"],
        created_ms=time_of(c["filed_height"]),
        decided_ms=time_of(c.get("decided_height") or c["filed_height"]),
        reasons={k: str(v) for k, v in REASONS.items()})
    return Response(dumps(resources[resource_type]), media_type="application/fhir+json")


@router.get("/fhir/AuditEvent", tags=["fhir"])
def fhir_audit(api: Api, patient: str, start: Annotated[int, Query(ge=0)] = 0,
               limit: Annotated[int, Query(ge=1, le=1000)] = 100) -> dict[str, Any]:
    """A patient's audit entries as FHIR R4 ``AuditEvent`` resources in a ``collection``
    Bundle; ``recorded`` is the time of the block that included each entry."""
    from phrchain.fhir.bundle import export_bundle
    from phrchain.fhir.mapping import audit_to_fhir

    page = api.node.query("audit/entries", {"patient": patient, "start": start,
                                            "limit": limit})["value"]
    events = []
    for item in page["entries"]:
        signed = api.node.header(item["entry"]["height"])
        time_ms = signed.header.time_ms if signed is not None else 0
        events.append(audit_to_fhir(item["entry"], time_ms=time_ms))
    return export_bundle(events)


# -- identities -------------------------------------------------------------------------------
@router.get("/identities/{did}", **_ANSWER)
def identity(did: str, api: Api) -> dict[str, Any]:
    """One identity with a membership proof. Unknown DID → 404; to get a *proof of
    absence*, ask ``/v1/query/identity/did?did=…&prove=true`` (value null)."""
    answer = api.node.query("identity/did", {"did": did}, prove=True)
    if answer["value"] is None:
        raise QUERY_NOT_FOUND(did)
    return answer


@router.get("/identities", **_ANSWER)
def identities(api: Api, organization: str | None = None, role: str | None = None,
               kind: str | None = None, limit: Annotated[int, Query(ge=1, le=1000)] = 100,
               after: str | None = None) -> dict[str, Any]:
    """Exactly one filter: members of an organization, holders of a role, or a kind
    (``authority``, ``organization``, ``organization/<org_type>``, ``practitioner``,
    ``patient``). Paged in DID order: pass the answer's ``next`` as ``after``."""
    given = {k: v for k, v in (("organization", organization), ("role", role),
                               ("kind", kind)) if v is not None}
    if len(given) != 1:
        raise HttpError(400, BAD_REQUEST, "give exactly one of organization, role, kind")
    (name, value), = given.items()
    data: dict[str, Any] = {name: value, "limit": limit}
    if after is not None:
        data["after"] = after
    return api.node.query(f"identity/{name}", data)


# -- events -----------------------------------------------------------------------------------
def _matches(item: dict[str, Any], kind: str | None, event: str | None) -> bool:
    if kind is not None and item.get("kind") != kind:
        return False
    if event is not None:
        return any(e.get("type") == event for e in item.get("events", ()))
    return True


async def _event_stream(api: _ApiState, kind: str | None,
                        event: str | None) -> AsyncIterator[str]:
    """Drain the node's (thread) queue by polling: no thread is parked per subscriber,
    and a client disconnect cancels the sleep at once. Subscribing here, not in the
    route, means a client that leaves before the stream starts leaves nothing behind."""
    subscription: queue.Queue[dict[str, Any]] = await run_in_threadpool(api.node.subscribe)
    api.subscribers += 1  # only the event loop thread touches this counter
    try:
        yield ": subscribed\n\n"  # sends the headers now, so clients see the stream live
        last_beat = time.monotonic()
        while True:
            while True:
                try:
                    item = subscription.get_nowait()
                except queue.Empty:
                    break
                if _matches(item, kind, event):
                    yield f"event: {item.get('kind', 'message')}\ndata: " \
                          f"{json.dumps(item, separators=(',', ':'))}\n\n"
            if time.monotonic() - last_beat >= api.heartbeat_s:
                last_beat = time.monotonic()
                if not api.node.is_subscribed(subscription):
                    # Cut off for falling behind: say so, rather than go quiet.
                    yield 'event: dropped\ndata: {"reason":"subscriber fell behind"}\n\n'
                    return
                yield ": heartbeat\n\n"
            await asyncio.sleep(EVENT_POLL_S)
    finally:
        api.node.unsubscribe(subscription)
        api.subscribers -= 1


@router.get("/events", tags=["events"], response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "server-sent events: 'block' and 'tx' items"}})
async def events(api: Api, kind: Literal["block", "tx"] | None = None,
                 event: str | None = None) -> StreamingResponse:
    """Follow new blocks and tx results. ``event`` keeps only txs that emitted an event
    of that type (e.g. ``identity.revoked``). A comment line every 15 s keeps proxies
    from closing an idle stream."""
    if api.subscribers >= MAX_SUBSCRIBERS:
        raise HttpError(503, UNAVAILABLE, "too many event subscribers")
    return StreamingResponse(_event_stream(api, kind, event),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# -- metrics ----------------------------------------------------------------------------------
def metrics(request: Request) -> PlainTextResponse:
    api: _ApiState = request.app.state.api
    status_ = api.node.status()
    lines = []
    for name, kind, help_, value in (
            ("phrchain_height", "gauge", "Last committed block height.", status_["height"]),
            ("phrchain_mempool_txs", "gauge", "Txs waiting in the mempool.",
             status_["mempool_txs"]),
            ("phrchain_txs_submitted_total", "counter", "Txs submitted to this API.",
             api.submitted),
            ("phrchain_txs_rejected_total", "counter", "Submitted txs refused at check.",
             api.rejected),
            ("phrchain_event_subscribers", "gauge", "Open event streams.", api.subscribers)):
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return PlainTextResponse("\n".join(lines) + "\n",
                             media_type="text/plain; version=0.0.4; charset=utf-8")


# -- errors and limits ------------------------------------------------------------------------
def _install_error_handlers(app: FastAPI) -> None:
    async def on_tx_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, TxError)
        return _error_json(_tx_error_status(exc), exc.codespace, exc.code, exc.error.name,
                           exc.log)

    async def on_http_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, HttpError)
        return _error_json(exc.status, exc.error.codespace, exc.error.code, exc.error.name,
                           exc.error.message + (f": {exc.detail}" if exc.detail else ""))

    async def on_phr_error(_: Request, exc: Exception) -> Response:
        return _error_json(400, BAD_REQUEST.codespace, BAD_REQUEST.code, BAD_REQUEST.name,
                           str(exc))

    async def on_validation(_: Request, exc: Exception) -> Response:
        # Only where and what, never the offending input: it may be a health-data payload.
        assert isinstance(exc, RequestValidationError)
        where = "; ".join(".".join(str(p) for p in e.get("loc", ())) + ": " + str(e.get("msg"))
                          for e in exc.errors())
        return _error_json(422, BAD_REQUEST.codespace, BAD_REQUEST.code, BAD_REQUEST.name,
                           f"{BAD_REQUEST.message}: {where}")

    async def on_starlette(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        error = {404: NOT_FOUND, 405: METHOD_NOT_ALLOWED, 413: BODY_TOO_LARGE}.get(
            exc.status_code, BAD_REQUEST)
        return _error_json(exc.status_code, error.codespace, error.code, error.name,
                           error.message)

    async def on_crash(_: Request, exc: Exception) -> Response:
        log.error("request failed: %s", type(exc).__name__)  # no body, no arguments
        return _error_json(500, INTERNAL.codespace, INTERNAL.code, INTERNAL.name,
                           INTERNAL.message)

    app.add_exception_handler(TxError, on_tx_error)
    app.add_exception_handler(HttpError, on_http_error)
    app.add_exception_handler(PhrError, on_phr_error)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_starlette)
    app.add_exception_handler(Exception, on_crash)


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
        response = _error_json(413, BODY_TOO_LARGE.codespace, BODY_TOO_LARGE.code,
                               BODY_TOO_LARGE.name,
                               f"{BODY_TOO_LARGE.message} (max {self.max_bytes} bytes)")
        await response(scope, receive, send)


# -- app and server ---------------------------------------------------------------------------
def create_app(node: SoloNode, commit_timeout: float = COMMIT_TIMEOUT_S,
               heartbeat_s: float = HEARTBEAT_S, max_body_bytes: int = MAX_BODY_BYTES,
               ui: ASGIApp | None = None) -> FastAPI:
    """The API over ``node``. Starting and closing the node is the caller's job
    (:func:`serve` does both), so tests can drive a node they own. ``ui`` (e.g.
    ``phrchain.web.create_ui_app(config)``) is mounted at ``/ui``; it refuses anything
    but loopback requests itself (docs/web.md)."""
    app = FastAPI(title="phrchain node API", version=__version__,
                  description="Signed transactions, proved queries, signed headers and "
                              "events of a phrchain node.",
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None)
    app.state.api = _ApiState(node, commit_timeout, heartbeat_s)
    app.include_router(router)
    app.add_api_route("/metrics", metrics, methods=["GET"], response_class=PlainTextResponse,
                      tags=["operations"], include_in_schema=True)
    if ui is not None:
        app.mount("/ui", ui)
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app


class _Stopped(Exception):
    """Raised by our SIGTERM handler when uvicorn re-delivers the signal it handled."""


def _stopped(signum: int, frame: Any) -> None:
    raise _Stopped


def serve(node: SoloNode, host: str = "127.0.0.1", port: int = 8645,
          log_level: str = "info", access_log: bool = False) -> None:
    """Run the node and its API until SIGINT/SIGTERM, then close the node and return.

    uvicorn shuts down gracefully on either signal and then re-delivers it to the
    previous handler; for SIGINT that is a KeyboardInterrupt and for SIGTERM, by default,
    death before ``node.close()``. So SIGTERM gets a handler that raises, and both end
    here as a normal return after the node is closed."""
    config = uvicorn.Config(create_app(node), host=host, port=port, log_level=log_level,
                            access_log=access_log, timeout_graceful_shutdown=5)
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
    tests, notebooks and the demo. ``with BackgroundServer(app) as url: ...``"""

    def __init__(self, app: Any, host: str = "127.0.0.1", start_timeout: float = 10.0,
                 port: int = 0) -> None:
        self.app, self.host, self.start_timeout, self.port = app, host, start_timeout, port
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
        config = uvicorn.Config(self.app, log_level="warning", access_log=False,
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
        self.url = f"http://{self.host}:{port}"
        return self.url

    def __exit__(self, *exc: object) -> None:
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout=10)
