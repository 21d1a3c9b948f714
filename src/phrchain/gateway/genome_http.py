"""HTTP routes of :mod:`phrchain.gateway.genome`, added to the vault app by
:func:`include_genome_routes` (one line in ``gateway/http.py``). Every route takes a
signed request (``vault/requests.py``); errors have the vault's error body.

| route | who | what |
|---|---|---|
| ``POST /v1/vault/genome`` | staff, or the patient | custody upload (``encode_upload``) |
| ``PUT /v1/vault/genome/{id}/readers/{did}`` | the patient | grant: one header packet |
| ``DELETE /v1/vault/genome/{id}/readers/{did}`` | the patient | revoke: drop it |
| ``GET /ga4gh/drs/v1/objects/{id}`` | a permitted reader | DRS object |
| ``GET /variants/{id}?referenceName=&start=&end=`` | a permitted reader | htsget ticket |
| ``GET /reads/{id}?referenceName=&start=&end=`` | a permitted reader | htsget ticket (BAM) |
| ``GET /v1/vault/genome/{id}/range?start=&end=`` | a permitted reader | segments + proofs |
| ``GET /v1/vault/genome/{id}/c4gh`` | a permitted reader | a crypt4gh file |
| ``GET /v1/vault/genome/{id}/reads`` | the patient, the institution | the read log |
| ``GET /v1/vault/genome/mine`` | a patient | their objects here, each with its read log |

Errors of the two GA4GH routes have their standard's shape (DRS ``{"msg",
"status_code"}``, htsget ``{"htsget": {"error", "message"}}`` with its error names), the
stable phrchain code first in the message and, for phrchain's SDK, the vault's
``"error"`` object beside it (:func:`ga4gh_error`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Annotated, Any, Final

from anyio import from_thread
from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from phrchain.core.errors import CodedError, ErrorCode
from phrchain.gateway.genome import GenomeGateway
from phrchain.gateway.intake import DEFAULT_MAX_BODY, SMALL_BODY, Intake
from phrchain.gateway.service import Vault
from phrchain.genome import errors as g
from phrchain.vault import gateway_errors as v

_STATUS: Final[dict[ErrorCode, int]] = {
    g.NOT_GENOME_OBJECT: 404, g.BAD_RANGE: 416, g.READER_UNKNOWN: 404, g.BAD_PROOF: 400,
    g.GENOMIC_OBJECT: 409}
MAX_POS: Final = (1 << 31) - 1
# htsget 1.3 § Errors: its error names and their HTTP status
_HTSGET: Final = {401: "InvalidAuthentication", 403: "PermissionDenied", 404: "NotFound",
                  413: "PayloadTooLarge", 400: "InvalidInput"}
# the vault errors a GA4GH route can answer, with the status DRS/htsget define for them
# (the nearest where the vault's own has no counterpart: 409, 410, 421); other: 400
_GA4GH_STATUS: Final[dict[ErrorCode, int]] = {
    v.BAD_REQUEST_SIGNATURE: 401, v.STALE_REQUEST: 401, v.REPLAYED_REQUEST: 401,
    v.ACCESS_DENIED: 403, v.NO_KEY_FOR_CALLER: 403, v.NOT_REGISTERED: 404, v.ERASED: 404,
    v.TOO_LARGE: 413, v.RATE_LIMITED: 429, v.CHAIN_UNAVAILABLE: 503}
HTSGET_MEDIA_TYPE: Final = "application/vnd.ga4gh.htsget.v1.3.0+json"


_OWN_ERROR: Final = {"type": "object", "required": ["codespace", "code", "name", "message"],
                     "properties": {"codespace": {"type": "string"},
                                    "code": {"type": "integer"}, "name": {"type": "string"},
                                    "message": {"type": "string"}}}
_ERROR_STATUSES: Final = (400, 401, 403, 404, 413, 429, 503)
DRS_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"description": "DRS Error (and the vault's error object)", "content": {
        "application/json": {"schema": {
            "type": "object", "required": ["msg", "status_code"],
            "properties": {"msg": {"type": "string"}, "status_code": {"type": "integer"},
                           "error": _OWN_ERROR}}}}} for status in _ERROR_STATUSES}
HTSGET_ERRORS: Final[dict[int | str, dict[str, Any]]] = {
    status: {"description": "htsget error (and the vault's error object)", "content": {
        HTSGET_MEDIA_TYPE: {"schema": {
            "type": "object", "required": ["htsget"],
            "properties": {"htsget": {
                "type": "object", "required": ["error", "message"],
                "properties": {"error": {"type": "string", "enum": [
                    "InvalidAuthentication", "PermissionDenied", "NotFound",
                    "PayloadTooLarge", "UnsupportedFormat", "InvalidInput",
                    "InvalidRange", "InternalError"]},
                    "message": {"type": "string"}}},
                "error": _OWN_ERROR}}}}} for status in _ERROR_STATUSES}


def ga4gh_error(kind: str, exc: CodedError) -> JSONResponse:
    """``exc`` in the error shape of DRS (``kind`` "drs") or htsget: status as the vault
    answers it, moved to the standard's nearest where it has none; the message starts
    with ``codespace/code name``; ``"error"`` is the vault's own error object."""
    status = _GA4GH_STATUS.get(exc.error) or _STATUS.get(exc.error, 400)
    return _ga4gh_body(kind, exc, status)


def ga4gh_framework_refusal(path: str, status: int, exc: CodedError) -> JSONResponse | None:
    """A framework refusal (no such route, method not allowed, ...) of a request under a
    GA4GH route's path, in that standard's error shape with the framework's ``status``
    (a DRS client that sends ``objects/a%2Fb`` gets a DRS 404, not the vault's own body);
    None for any other path."""
    if path.startswith("/ga4gh/drs/"):
        return _ga4gh_body("drs", exc, status)
    if path.startswith(("/variants/", "/reads/")):
        return _ga4gh_body("htsget", exc, status)
    return None


def _ga4gh_body(kind: str, exc: CodedError, status: int) -> JSONResponse:
    message = f"{exc.codespace}/{exc.code} {exc.error.name}: {exc.log}"
    own = {"codespace": exc.codespace, "code": exc.code, "name": exc.error.name,
           "message": exc.log}
    if kind == "drs":
        return JSONResponse({"msg": message, "status_code": status, "error": own},
                            status_code=status)
    name = "UnsupportedFormat" if exc.error is g.UNSUPPORTED_FORMAT else \
        "InvalidRange" if exc.error is g.BAD_REGION else \
        _HTSGET.get(status, "InvalidInput" if status < 500 else "InternalError")
    return JSONResponse({"htsget": {"error": name, "message": message}, "error": own},
                        status_code=status, media_type=HTSGET_MEDIA_TYPE)


def _position(value: str | None, what: str) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or int(value) > MAX_POS:
        raise v.MALFORMED_REQUEST(f"{what} must be an integer 0 to {MAX_POS}")
    return int(value)


def _pulled(parts: AsyncIterator[bytes]) -> Iterator[bytes]:
    """``parts`` (on the event loop) pulled one at a time from a worker thread: the
    upload is written as it arrives, with no more than a part and a segment held."""
    async def step() -> bytes | None:
        return await anext(parts, None)

    while (part := from_thread.run(step)) is not None:
        yield part


def include_genome_routes(app: FastAPI, vault: Vault, intake: Intake,
                          max_body: int = DEFAULT_MAX_BODY) -> GenomeGateway:
    genome = GenomeGateway(vault)
    app.state.genome = genome

    @app.exception_handler(g.GenomeError)
    async def on_genome_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, g.GenomeError)
        return JSONResponse({"error": {"codespace": exc.codespace, "code": exc.code,
                                       "name": exc.error.name, "message": exc.log}},
                            status_code=_STATUS.get(exc.error, 400))

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.post("/v1/vault/genome")
    async def upload(request: Request) -> dict[str, Any]:
        async with intake.streamed(request, max_body) as (req, parts):
            return await run_in_threadpool(genome.upload, req, _pulled(parts))

    @app.put("/v1/vault/genome/{object_id}/readers/{reader}")
    async def grant(object_id: str, reader: str, request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, body):
            await run_in_threadpool(genome.grant, req, object_id, reader, body)
        return {"granted": reader}

    @app.delete("/v1/vault/genome/{object_id}/readers/{reader}")
    async def revoke(object_id: str, reader: str, request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, _):
            dropped = await run_in_threadpool(genome.revoke, req, object_id, reader)
        return {"revoked": reader, "dropped": dropped}

    @app.get("/ga4gh/drs/v1/objects/{object_id}", responses=DRS_ERRORS)
    async def drs(object_id: str, request: Request, purpose: str = "TREAT") -> Response:
        try:
            async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
                return JSONResponse(await run_in_threadpool(
                    genome.drs, req, object_id, purpose, base(request)))
        except CodedError as exc:
            return ga4gh_error("drs", exc)

    @app.get("/variants/{object_id}", responses=HTSGET_ERRORS)
    async def variants(object_id: str, request: Request, referenceName: str | None = None,
                       start: str | None = None, end: str | None = None,
                       format: str = "VCF", purpose: str = "TREAT") -> Response:
        try:
            if format != "VCF":
                raise g.UNSUPPORTED_FORMAT(f"{format[:16]}: variants are VCF")
            first, last = _position(start, "start"), _position(end, "end")
            async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
                ticket = await run_in_threadpool(genome.htsget, req, object_id,
                                                 referenceName, first, last, purpose,
                                                 base(request))
        except CodedError as exc:
            return ga4gh_error("htsget", exc)
        return JSONResponse(ticket, media_type=HTSGET_MEDIA_TYPE)

    @app.get("/reads/{object_id}", responses=HTSGET_ERRORS)
    async def reads_ticket(object_id: str, request: Request,
                           referenceName: str | None = None, start: str | None = None,
                           end: str | None = None, format: str = "BAM",
                           purpose: str = "TREAT") -> Response:
        try:
            if format != "BAM":
                raise g.UNSUPPORTED_FORMAT(f"{format[:16]}: reads are BAM here")
            first, last = _position(start, "start"), _position(end, "end")
            async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
                ticket = await run_in_threadpool(genome.htsget, req, object_id,
                                                 referenceName, first, last, purpose,
                                                 base(request), "BAM")
        except CodedError as exc:
            return ga4gh_error("htsget", exc)
        return JSONResponse(ticket, media_type=HTSGET_MEDIA_TYPE)

    @app.get("/v1/vault/genome/{object_id}/range")
    async def byte_range(object_id: str, request: Request,
                         start: Annotated[int, Query(ge=0, le=1 << 40)],
                         end: Annotated[int, Query(ge=1, le=1 << 40)],
                         purpose: str = "TREAT") -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
            return await run_in_threadpool(genome.range, req, object_id, start, end,
                                           purpose)

    @app.get("/v1/vault/genome/{object_id}/c4gh")
    async def whole(object_id: str, request: Request, purpose: str = "TREAT") -> Response:
        async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
            header, segments = await run_in_threadpool(genome.crypt4gh, req, object_id,
                                                       purpose)

        def body() -> Any:
            yield header
            yield from segments

        return StreamingResponse(body(), media_type="application/octet-stream")

    @app.get("/v1/vault/genome/mine")
    async def mine(request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, _):
            return {"objects": await run_in_threadpool(genome.mine, req)}

    @app.get("/v1/vault/genome/{object_id}/reads")
    async def reads(object_id: str, request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, _):
            found = await run_in_threadpool(genome.reads, req, object_id)
        return {"id": object_id, "reads": found}

    return genome
