"""The vault's HTTP API (FastAPI): a thin shell over :class:`~.service.Vault`.

Every route except ``/v1/vault/info`` needs a signed request (``requests.py``). Errors
have the node API's shape, ``{"error": {"codespace", "code", "name", "message"}}``.

Upload, batch and copy bodies use the framing of ``wire.py``, and so do the key routes
(``/v1/vault/keys/own``, ``/v1/vault/keys``: canonical JSON). Each request's signed
headers are checked before its body is read, and each route has its own body limit
(``intake.py``).
"""

from __future__ import annotations

import base64
import logging
import time
from typing import Annotated, Any, Final

from fastapi import FastAPI, Path, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from phrchain.core.errors import CodedError, ErrorCode
from phrchain.gateway.genome_http import ga4gh_framework_refusal, include_genome_routes
from phrchain.gateway.intake import (
    DEFAULT_LARGE_UPLOADS,
    DEFAULT_MAX_BODY,
    KEYS_BODY,
    SMALL_BODY,
    Intake,
    has_no_body,
)
from phrchain.gateway.research_http import include_research_routes
from phrchain.gateway.service import Release, Vault
from phrchain.http_errors import where_invalid
from phrchain.vault import errors as store_errors
from phrchain.vault import gateway_errors as e
from phrchain.vault.crypto import SHA256, RecordMeta
from phrchain.vault.errors import VaultError
from phrchain.vault.wire import (
    decode_batch,
    decode_keys,
    decode_records,
    decode_upload,
    encode_upload,
)

log = logging.getLogger(__name__)

_STATUS: Final = {
    e.BAD_REQUEST_SIGNATURE: 401, e.STALE_REQUEST: 401, e.REPLAYED_REQUEST: 401,
    e.WRONG_VAULT: 421, e.BODY_MISMATCH: 400, e.MALFORMED_REQUEST: 400,
    e.JUSTIFICATION_REQUIRED: 400,
    e.ACCESS_DENIED: 403, e.ERASED: 410, e.NOT_REGISTERED: 409, e.UPLOAD_REFUSED: 403,
    e.NO_KEY_FOR_CALLER: 409, e.BAD_TICKET: 403, e.TOO_LARGE: 413, e.RATE_LIMITED: 429,
    e.CHAIN_UNAVAILABLE: 503, e.UPLOADS_BUSY: 503, store_errors.RECORD_NOT_FOUND: 404,
    store_errors.READER_NOT_FOUND: 404, store_errors.RECORD_CONFLICT: 409,
    store_errors.STORE_DAMAGED: 500,
}


def _error(exc: CodedError) -> JSONResponse:
    return JSONResponse({"error": {"codespace": exc.codespace, "code": exc.code,
                                   "name": exc.error.name, "message": exc.log}},
                        status_code=_STATUS.get(exc.error, 400))


_FRAMEWORK: Final = {404: "no such vault route", 405: "method not allowed on this route",
                     413: "request body is too large"}
MAX_INDEX: Final = (1 << 63) - 1


def _error_body(status: int, error: ErrorCode, detail: str) -> JSONResponse:
    return JSONResponse({"error": {"codespace": error.codespace, "code": error.code,
                                   "name": error.name,
                                   "message": error.message + (f": {detail}" if detail
                                                               else "")}},
                        status_code=status)


def _part(p: Any) -> dict[str, Any]:
    return {"index": p.index, "data": base64.b64encode(p.data).decode(),
            "proof": [h.hex() for h in p.proof]}


def create_vault_app(vault: Vault, max_body: int = DEFAULT_MAX_BODY,
                     large_uploads: int = DEFAULT_LARGE_UPLOADS) -> FastAPI:
    """``max_body``: the limit of an upload, batch or copy body (every other route has
    a small one); ``large_uploads``: how many bodies over 8 MiB are taken in at once."""
    app = FastAPI(title="phrchain vault", version="1",
                  description="Encrypted record custody and policy enforcement")
    intake = Intake(vault, max_body, large_uploads)

    @app.exception_handler(CodedError)
    async def on_tx_error(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, CodedError)
        return _error(exc)

    # The framework's own refusals get the vault's error body too, and never echo the
    # input (a parameter may carry an identifier or a fragment of a record).
    @app.exception_handler(StarletteHTTPException)
    async def on_framework(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        what = _FRAMEWORK.get(exc.status_code, "the request cannot be served")
        ga4gh = ga4gh_framework_refusal(request.url.path, exc.status_code,
                                        e.MALFORMED_REQUEST(what))
        return ga4gh or _error_body(exc.status_code, e.MALFORMED_REQUEST, what)

    @app.exception_handler(RequestValidationError)
    async def on_validation(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        return _error_body(400, e.MALFORMED_REQUEST, where_invalid(exc))

    @app.exception_handler(Exception)
    async def on_crash(_: Request, exc: Exception) -> Response:
        log.error("vault request failed: %s", type(exc).__name__)  # no body, no arguments
        return _error_body(500, e.INTERNAL_ERROR, "")

    @app.get("/v1/vault/info")
    def info() -> dict[str, Any]:
        return {"vault": vault.org, "chain_id": vault.chain.chain_id,
                "backlog": vault.journal.backlog()}

    @app.get("/v1/vault/records/{record}", response_model=dict[str, Any])
    async def access(record: str, request: Request, action: str = "read",
                     purpose: str = "TREAT", justification: str | None = None) -> Response:
        def authenticated_access() -> Release:  # no body: one worker-thread hop, not two
            arrived = time.monotonic()  # the key lookup's fresh height serves the access
            req = intake.counted(request, lambda: vault.authenticate(
                request.headers, request.method, request.url.path,
                dict(request.query_params), b""))
            return vault.access(req, record, action, purpose, justification, since=arrived)

        if has_no_body(request):  # the usual case
            release = await run_in_threadpool(authenticated_access)
        else:
            async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
                release = await run_in_threadpool(vault.access, req, record, action,
                                                  purpose, justification)
        # a Response skips FastAPI's validation and jsonable_encoder of this plain dict
        return JSONResponse({"decision": release.decision,
                             "meta": _meta_json(release.meta),
                             "wrapped_key": release.wrapped_key.hex(),
                             "descriptor": None if release.descriptor is None
                             else release.descriptor.hex(),
                             "chunks": [_part(p) for p in release.chunks],
                             "ticket": release.ticket})

    @app.get("/v1/vault/records/{record}/chunks/{index}")
    async def chunk(record: str, index: Annotated[int, Path(ge=0, le=MAX_INDEX)],
                    request: Request, ticket: str = "") -> Response:
        async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
            part = await run_in_threadpool(vault.chunk, req, record, index, ticket)
        return Response(part.data, media_type="application/octet-stream",
                        headers={"Phr-Proof": ",".join(h.hex() for h in part.proof)})

    @app.post("/v1/vault/records/{record}")
    async def upload(record: str, request: Request) -> dict[str, Any]:
        async with intake.signed(request, max_body) as (req, body):
            upload = decode_upload(body)
            if upload.meta.record_id.hex() != record:
                raise e.MALFORMED_REQUEST("the path and the body name different records")
            registering = await run_in_threadpool(vault.upload, req, upload)
        return {"stored": record, "registering": registering}

    @app.post("/v1/vault/batch")
    async def upload_batch(request: Request) -> dict[str, Any]:
        """Many custody uploads under one signature (bulk import)."""
        async with intake.signed(request, max_body) as (req, body):
            items = decode_batch(body)
            registering = await run_in_threadpool(vault.upload_many, req, items)
        return {"stored": [u.meta.record_id.hex() for u in items],
                "registering": registering}

    @app.post("/v1/vault/registrations")
    async def registrations(request: Request) -> dict[str, Any]:
        """Where the register jobs of the uploader's records are (``pending``,
        ``committed``, ``refused`` with the chain's code, ``unknown``)."""
        async with intake.signed(request, KEYS_BODY) as (req, body):
            found = await run_in_threadpool(vault.registrations, req, decode_records(body))
        return {"records": found}

    @app.post("/v1/vault/copies/{record}")
    async def copy(record: str, request: Request, pull: str | None = None) -> dict[str, Any]:
        async with intake.signed(request, max_body) as (req, body):
            upload = decode_upload(body)
            if upload.meta.record_id.hex() != record:
                raise e.MALFORMED_REQUEST("the path and the body name different records")
            await run_in_threadpool(vault.receive_copy, req, upload.meta, upload.chunks,
                                    upload.wrapped, pull, upload.descriptor)
        return {"stored": record}

    @app.put("/v1/vault/records/{record}/keys/{reader}")
    async def share(record: str, reader: str, request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, body):
            await run_in_threadpool(vault.share_key, req, record, reader, body)
        return {"shared": record, "reader": reader}

    @app.post("/v1/vault/keys/own")
    async def own_keys(request: Request) -> dict[str, Any]:
        """The patient's own wrapped keys of their records (no ciphertext, no audited
        read): the first half of sharing after a grant."""
        async with intake.signed(request, KEYS_BODY) as (req, body):
            found = await run_in_threadpool(vault.own_keys, req, decode_records(body))
            sealed = await run_in_threadpool(vault.sealed_descriptors, list(found))
        return {"keys": {record: wrapped.hex() for record, wrapped in found.items()},
                "descriptors": sealed}

    @app.post("/v1/vault/keys")
    async def share_batch(request: Request) -> dict[str, Any]:
        """Readers' re-wrapped keys, many at once, all or none."""
        async with intake.signed(request, KEYS_BODY) as (req, body):
            items = decode_keys(body)
            await run_in_threadpool(vault.share_keys, req, items)
        return {"shared": len(items)}

    @app.post("/v1/vault/sync")
    async def sync(request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, _):
            if req.caller != vault.org:
                raise e.UPLOAD_REFUSED("only the institution itself triggers a sync")
            shredded = await run_in_threadpool(vault.sync_erasures)
            return {"shredded": shredded,
                    "flushed": await run_in_threadpool(vault.sender.flush)}

    doc_path = "/v1/vault/trials/{trial}/documents/{kind}/{commitment}"

    @app.post(doc_path)
    async def trial_document_upload(trial: str, kind: str, commitment: str,
                                    request: Request) -> dict[str, Any]:
        """A trial document by its sponsor (``gateway/trial_documents.py``)."""
        async with intake.signed(request, max_body) as (req, body):
            upload = decode_upload(body)
            await run_in_threadpool(vault.trial_documents.upload, req, trial, kind,
                                    commitment, upload)
        return {"stored": upload.meta.record_id.hex()}

    @app.get(doc_path)
    async def trial_document(trial: str, kind: str, commitment: str,
                             request: Request) -> Response:
        async with intake.signed(request, SMALL_BODY) as (req, _):
            meta, wrapped, parts = await run_in_threadpool(
                vault.trial_documents.read, req, trial, kind, commitment)
        return JSONResponse({"meta": meta.descriptor_fields(), "wrapped_key": wrapped.hex(),
                             "chunks": [_part(p) for p in parts]})

    @app.put(doc_path + "/keys/{reader}")
    async def trial_document_share(trial: str, kind: str, commitment: str, reader: str,
                                   request: Request) -> dict[str, Any]:
        async with intake.signed(request, SMALL_BODY) as (req, body):
            await run_in_threadpool(vault.trial_documents.share, req, trial, kind,
                                    commitment, reader, body)
        return {"shared": commitment, "reader": reader}

    @app.get("/v1/vault/attempts/{record}")
    async def attempts(record: str, request: Request) -> dict[str, Any]:
        """Attempts on a record refused without an audit entry, counted by kind
        (``gateway/attempts.py``): for the record's patient and the institution."""
        async with intake.signed(request, SMALL_BODY, strangers=True) as (req, _):
            return await run_in_threadpool(vault.attempts_of, req, record)

    include_genome_routes(app, vault, intake, max_body)  # gateway/genome_http.py
    include_research_routes(app, vault, intake)  # gateway/research_http.py
    from phrchain.fhirapi import include_fhir_api  # the FHIR R4 REST facade, /fhir

    include_fhir_api(app, vault)
    return app


__all__ = ["VaultError", "create_vault_app", "decode_upload", "encode_upload"]


def _meta_json(meta: RecordMeta) -> dict[str, Any]:
    """A released record's meta; ``hash_alg`` only when its chunk hash is not SHA-256
    (as in uploads: absent means SHA-256)."""
    fields = meta.descriptor_fields()
    if meta.hash_alg != SHA256:
        fields["hash_alg"] = meta.hash_alg
    return fields
