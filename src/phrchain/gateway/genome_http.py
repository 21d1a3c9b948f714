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
| ``GET /v1/vault/genome/{id}/range?start=&end=`` | a permitted reader | segments + proofs |
| ``GET /v1/vault/genome/{id}/c4gh`` | a permitted reader | a crypt4gh file |
| ``GET /v1/vault/genome/{id}/reads`` | the patient, the institution | the read log |
| ``GET /v1/vault/genome/mine`` | a patient | their objects here, each with its read log |
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import FastAPI, Query, Request
from fastapi.responses import JSONResponse, Response, StreamingResponse
from starlette.concurrency import run_in_threadpool

from phrchain.core.errors import ErrorCode
from phrchain.gateway.genome import GenomeGateway
from phrchain.gateway.intake import DEFAULT_MAX_BODY, SMALL_BODY, Intake
from phrchain.gateway.service import Vault
from phrchain.genome import errors as g

_STATUS: Final[dict[ErrorCode, int]] = {
    g.NOT_GENOME_OBJECT: 404, g.BAD_RANGE: 416, g.READER_UNKNOWN: 404, g.BAD_PROOF: 400,
    g.GENOMIC_OBJECT: 409}
MAX_POS: Final = (1 << 31) - 1
HTSGET_MEDIA_TYPE: Final = "application/vnd.ga4gh.htsget.v1.3.0+json"


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
        async with intake.signed(request, max_body) as (req, body):
            return await run_in_threadpool(genome.upload, req, body)

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

    @app.get("/ga4gh/drs/v1/objects/{object_id}")
    async def drs(object_id: str, request: Request, purpose: str = "TREAT") -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
            return await run_in_threadpool(genome.drs, req, object_id, purpose,
                                           base(request))

    @app.get("/variants/{object_id}")
    async def variants(object_id: str, request: Request,
                       referenceName: str | None = None,
                       start: Annotated[int | None, Query(ge=0, le=MAX_POS)] = None,
                       end: Annotated[int | None, Query(ge=0, le=MAX_POS)] = None,
                       purpose: str = "TREAT") -> Response:
        async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
            ticket = await run_in_threadpool(genome.htsget, req, object_id, referenceName,
                                             start, end, purpose, base(request))
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
