"""The vault's HTTP API (FastAPI): a thin shell over :class:`~.service.Vault`.

Every route except ``/v1/vault/info`` needs a signed request (``requests.py``). Errors
have the node API's shape, ``{"error": {"codespace", "code", "name", "message"}}``.

Upload, batch and copy bodies use the framing of ``wire.py``, and so do the key routes
(``/v1/vault/keys/own``, ``/v1/vault/keys``: canonical JSON).
"""

from __future__ import annotations

import base64
import logging
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from phrchain.core.errors import CodedError
from phrchain.gateway.service import Release, Vault
from phrchain.vault import errors as store_errors
from phrchain.vault import gateway_errors as e
from phrchain.vault.errors import VaultError
from phrchain.vault.requests import Verified
from phrchain.vault.wire import (
    decode_batch,
    decode_keys,
    decode_records,
    decode_upload,
    encode_upload,
)

log = logging.getLogger(__name__)

DEFAULT_MAX_BODY: Final = 1 << 30
_STATUS: Final = {
    e.BAD_REQUEST_SIGNATURE: 401, e.STALE_REQUEST: 401, e.REPLAYED_REQUEST: 401,
    e.WRONG_VAULT: 421, e.BODY_MISMATCH: 400, e.MALFORMED_REQUEST: 400,
    e.JUSTIFICATION_REQUIRED: 400,
    e.ACCESS_DENIED: 403, e.ERASED: 410, e.NOT_REGISTERED: 409, e.UPLOAD_REFUSED: 403,
    e.NO_KEY_FOR_CALLER: 409, e.BAD_TICKET: 403, e.TOO_LARGE: 413, e.RATE_LIMITED: 429,
    e.CHAIN_UNAVAILABLE: 503, store_errors.RECORD_NOT_FOUND: 404,
    store_errors.READER_NOT_FOUND: 404, store_errors.RECORD_CONFLICT: 409,
    store_errors.STORE_DAMAGED: 500,
}


def _error(exc: CodedError) -> JSONResponse:
    return JSONResponse({"error": {"codespace": exc.codespace, "code": exc.code,
                                   "name": exc.error.name, "message": exc.log}},
                        status_code=_STATUS.get(exc.error, 400))


def _part(p: Any) -> dict[str, Any]:
    return {"index": p.index, "data": base64.b64encode(p.data).decode(),
            "proof": [h.hex() for h in p.proof]}


def create_vault_app(vault: Vault, max_body: int = DEFAULT_MAX_BODY) -> FastAPI:
    app = FastAPI(title="phrchain vault", version="1",
                  description="Encrypted record custody and policy enforcement")

    @app.exception_handler(CodedError)
    async def on_tx_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, CodedError)
        return _error(exc)

    async def read_body(request: Request) -> bytes:
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > max_body:
            raise e.TOO_LARGE(f"{declared} bytes, limit {max_body}")
        parts, size = [], 0
        async for part in request.stream():  # bounded even without a Content-Length
            size += len(part)
            if size > max_body:
                raise e.TOO_LARGE(f"more than {max_body} bytes")
            parts.append(part)
        body = b"".join(parts)
        return body

    def authenticate(request: Request, body: bytes) -> Verified:
        return vault.authenticate(request.headers, request.method, request.url.path,
                                  dict(request.query_params), body)

    async def verified(request: Request) -> tuple[Verified, bytes]:
        body = await read_body(request)
        return await run_in_threadpool(authenticate, request, body), body

    @app.get("/v1/vault/info")
    def info() -> dict[str, Any]:
        return {"vault": vault.org, "chain_id": vault.chain.chain_id,
                "backlog": vault.journal.backlog()}

    @app.get("/v1/vault/records/{record}", response_model=dict[str, Any])
    async def access(record: str, request: Request, action: str = "read",
                     purpose: str = "TREAT", justification: str | None = None) -> Response:
        body = await read_body(request)

        def authenticated_access() -> Release:  # one worker-thread hop, not two
            return vault.access(authenticate(request, body), record, action, purpose,
                                justification)

        release = await run_in_threadpool(authenticated_access)
        # a Response skips FastAPI's validation and jsonable_encoder of this plain dict
        return JSONResponse({"decision": release.decision,
                             "meta": release.meta.descriptor_fields(),
                             "wrapped_key": release.wrapped_key.hex(),
                             "chunks": [_part(p) for p in release.chunks],
                             "ticket": release.ticket})

    @app.get("/v1/vault/records/{record}/chunks/{index}")
    async def chunk(record: str, index: int, request: Request, ticket: str = "") -> Response:
        req, _ = await verified(request)
        part = await run_in_threadpool(vault.chunk, req, record, index, ticket)
        return Response(part.data, media_type="application/octet-stream",
                        headers={"Phr-Proof": ",".join(h.hex() for h in part.proof)})

    @app.post("/v1/vault/records/{record}")
    async def upload(record: str, request: Request) -> dict[str, Any]:
        req, body = await verified(request)
        meta, wrapped, chunks = decode_upload(body)
        if meta.record_id.hex() != record:
            raise e.MALFORMED_REQUEST("the path and the body name different records")
        await run_in_threadpool(vault.upload, req, meta, chunks, wrapped)
        return {"stored": record}

    @app.post("/v1/vault/batch")
    async def upload_batch(request: Request) -> dict[str, Any]:
        """Many custody uploads under one signature (bulk import)."""
        req, body = await verified(request)
        items = decode_batch(body)
        await run_in_threadpool(vault.upload_many, req, items)
        return {"stored": [m.record_id.hex() for m, _, _ in items]}

    @app.post("/v1/vault/copies/{record}")
    async def copy(record: str, request: Request, pull: str | None = None) -> dict[str, Any]:
        req, body = await verified(request)
        meta, wrapped, chunks = decode_upload(body)
        if meta.record_id.hex() != record:
            raise e.MALFORMED_REQUEST("the path and the body name different records")
        await run_in_threadpool(vault.receive_copy, req, meta, chunks, wrapped, pull)
        return {"stored": record}

    @app.put("/v1/vault/records/{record}/keys/{reader}")
    async def share(record: str, reader: str, request: Request) -> dict[str, Any]:
        req, body = await verified(request)
        await run_in_threadpool(vault.share_key, req, record, reader, body)
        return {"shared": record, "reader": reader}

    @app.post("/v1/vault/keys/own")
    async def own_keys(request: Request) -> dict[str, Any]:
        """The patient's own wrapped keys of their records (no ciphertext, no audited
        read): the first half of sharing after a grant."""
        req, body = await verified(request)
        found = await run_in_threadpool(vault.own_keys, req, decode_records(body))
        return {"keys": {record: wrapped.hex() for record, wrapped in found.items()}}

    @app.post("/v1/vault/keys")
    async def share_batch(request: Request) -> dict[str, Any]:
        """Readers' re-wrapped keys, many at once, all or none."""
        req, body = await verified(request)
        items = decode_keys(body)
        await run_in_threadpool(vault.share_keys, req, items)
        return {"shared": len(items)}

    @app.post("/v1/vault/sync")
    async def sync(request: Request) -> dict[str, Any]:
        req, _ = await verified(request)
        if req.caller != vault.org:
            raise e.UPLOAD_REFUSED("only the institution itself triggers a sync")
        shredded = await run_in_threadpool(vault.sync_erasures)
        return {"shredded": shredded, "flushed": await run_in_threadpool(vault.sender.flush)}

    return app


__all__ = ["VaultError", "create_vault_app", "decode_upload", "encode_upload"]
