"""The FHIR REST facade's HTTP routes, mounted on a vault gateway app under ``/fhir``.

Blocking work (chain queries, the vault's access path, opening records) runs in
FastAPI's worker threads: the routes are plain ``def`` s. Every refusal is an
``OperationOutcome`` (``outcome.py``); nothing a caller sends is echoed back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any, Final, Protocol
from urllib.parse import parse_qsl

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from phrchain.core.errors import CodedError
from phrchain.fhirapi import auth_routes, elements
from phrchain.fhirapi.access import request_hash
from phrchain.fhirapi.capability import capability_statement, smart_configuration
from phrchain.fhirapi.errors import (
    BAD_SEARCH_PARAMETER,
    UNSUPPORTED_FORMAT,
    UNSUPPORTED_INTERACTION,
)
from phrchain.fhirapi.outcome import crashed, fhir_response, outcome
from phrchain.fhirapi.service import Call, FhirService, ResourceService
from phrchain.fhirapi.smart import Authorizer, SmartApps
from phrchain.fhirapi.writes import Writer
from phrchain.gateway.service import Vault

log = logging.getLogger(__name__)
PREFIX: Final = "/fhir"
SEARCH_BODY: Final = 64 << 10
_FORMATS: Final = frozenset({"json", "application/json", "application/fhir+json"})


def base_url(request: Request) -> str:
    """The absolute base of this endpoint as the caller reached it (``.../fhir/``)."""
    return str(request.base_url).rstrip("/") + PREFIX + "/"


def fhir_call(run: Callable[[], Any]) -> Response:
    try:
        body = run()
    except CodedError as exc:
        return outcome(exc, paths=getattr(exc, "paths", None),
                       reason=getattr(exc, "reason", None) or _reason(exc))
    except Exception as exc:  # never a body, never arguments in the log
        log.error("fhir request failed: %s", type(exc).__name__)
        return crashed()
    return body if isinstance(body, Response) else fhir_response(body)


def _reason(exc: CodedError) -> str | None:
    """The consent reason code of a refusal by consent (``no_consent``, …), if any."""
    prefix = "consent decision: "
    if exc.error.name == "forbidden" and exc.detail.startswith(prefix):
        return exc.detail.removeprefix(prefix)
    if exc.error.name == "consent_not_in_force" and exc.detail.isidentifier():
        return exc.detail
    return None


class FhirApi:
    """The facade of one vault: its service, authorization server and writer."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.service = FhirService(vault)
        self.apps = SmartApps(vault.config.directory)
        self.auth = Authorizer(vault, self.apps)
        self.writer = Writer(vault, self.service.records)

    def serve(self, request: Request) -> tuple[FhirService, Call]:
        return self.service, self.call(request)

    def call(self, request: Request) -> Call:
        check_format(request)
        grant = self.auth.grant_of(request.headers.get("authorization"))
        self.vault.rate(grant.client_id)  # the vault's per-caller token bucket
        return Call(grant, request_hash(request.method, str(request.url), grant.client_id),
                    base_url(request))


def check_format(request: Request) -> None:
    fmt = request.query_params.get("_format")
    if fmt is not None and fmt not in _FORMATS:
        raise UNSUPPORTED_FORMAT(f"_format {fmt[:40]}")
    accept = request.headers.get("accept", "")
    if accept and not any(t in accept for t in ("json", "*/*")):
        raise UNSUPPORTED_FORMAT("Accept names no JSON type")


def _params(request: Request) -> list[tuple[str, str]]:
    return [(k, v) for k, v in request.query_params.multi_items() if k != "_format"]


class ResourceApi(Protocol):
    """What the resource routes serve from: for a request, the service (read, vread,
    search) and the call (who asks) — the gateway's :class:`FhirApi`, or the patient
    wallet's own facade (``web/fhir.py``), whose service is the session's records."""

    def serve(self, request: Request) -> tuple[ResourceService, Call]: ...


def include_fhir_api(app: FastAPI, vault: Vault) -> FhirApi:
    """Mount the facade on a gateway app; returns it (tests register apps on it)."""
    api = FhirApi(vault)
    # Described by its CapabilityStatement (GET /fhir/metadata), not by the vault's
    # OpenAPI document, whose error bodies and content types it does not share.
    router = APIRouter(prefix=PREFIX, include_in_schema=False)
    auth_routes.add(router, api)
    _add_gateway_routes(router, api)
    add_resource_routes(router, api)
    add_unsupported(router)
    app.include_router(router)
    app.state.fhir_api = api
    return api


def _add_gateway_routes(router: APIRouter, api: FhirApi) -> None:
    """What only the gateway serves: its CapabilityStatement and SMART configuration,
    transaction/batch writes and the audit trail."""

    @router.get("/metadata")
    def metadata(request: Request) -> Response:
        return fhir_call(lambda: _metadata(request))

    @router.get("/.well-known/smart-configuration")
    def smart_config(request: Request) -> JSONResponse:
        return JSONResponse(smart_configuration(base_url(request)))

    @router.post("")
    @router.post("/")
    async def transaction(request: Request) -> Response:
        try:
            call = api.call(request)  # the token before a byte of the body
        except CodedError as exc:
            return outcome(exc)
        body, too_big = await _bounded_body(request, api.writer.max_bytes)
        return await run_in_threadpool(fhir_call, lambda: api.writer.transaction(
            call, body, too_big))

    @router.get("/AuditEvent")
    def audit_events(request: Request) -> Response:
        from phrchain.fhirapi.audit_events import search_audit

        return fhir_call(lambda: search_audit(api, api.call(request), _params(request)))


def add_resource_routes(router: APIRouter, api: ResourceApi) -> None:
    """Read, vread, search (GET and POST) and ``$everything`` (register after any
    fixed path such as ``/metadata``: ``/{resource_type}`` would take it)."""

    @router.get("/Patient/{pid}/$everything")
    def everything(pid: str, request: Request) -> Response:
        return fhir_call(lambda: _search(api, request, None, _params(request),
                                         f"Patient/{pid}/$everything", pid))

    @router.get("/{resource_type}")
    def search(resource_type: str, request: Request) -> Response:
        return fhir_call(lambda: _search(api, request, resource_type, _params(request),
                                         resource_type))

    @router.post("/{resource_type}/_search")
    async def search_post(resource_type: str, request: Request) -> Response:
        """Search with the parameters in an x-www-form-urlencoded body (FHIR 3.1.0.2)."""
        body, too_big = await _bounded_body(request, SEARCH_BODY)
        form = [] if too_big else parse_qsl(body.decode("utf-8", "replace"))
        params = _params(request) + [(k, v) for k, v in form if k != "_format"]

        def run() -> dict[str, Any]:
            if too_big:
                raise BAD_SEARCH_PARAMETER(f"a search body is at most {SEARCH_BODY} bytes")
            return _search(api, request, resource_type, params, resource_type)
        return await run_in_threadpool(fhir_call, run)

    @router.get("/{resource_type}/{fhir_id}")
    def read(resource_type: str, fhir_id: str, request: Request) -> Response:
        def run() -> Response:
            shape = elements.for_read(_params(request))  # before any decision
            service, call = api.serve(request)
            return _versioned(shape.apply(service.read(call, resource_type, fhir_id)))
        return fhir_call(run)

    @router.get("/{resource_type}/{fhir_id}/_history/{version}")
    def vread(resource_type: str, fhir_id: str, version: str, request: Request) -> Response:
        def run() -> Response:
            shape = elements.for_read(_params(request))
            service, call = api.serve(request)
            return _versioned(shape.apply(service.vread(call, resource_type, fhir_id,
                                                        version)))
        return fhir_call(run)


def _search(api: ResourceApi, request: Request, resource_type: str | None,
            params: list[tuple[str, str]], path: str, everything_of: str | None = None
            ) -> dict[str, Any]:
    service, call = api.serve(request)
    return service.search(call, resource_type, params, path, everything_of=everything_of)


def add_unsupported(router: APIRouter) -> None:
    """Every other path and method: ``OperationOutcome`` 405/404 (register last)."""

    @router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def unsupported(rest: str, request: Request) -> Response:
        del rest
        return fhir_call(lambda: _refuse(request))


async def _bounded_body(request: Request, limit: int) -> tuple[bytes, bool]:
    """The body, read up to ``limit`` bytes; ``(b"", True)`` past it (declared or not)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        return b"", True
    parts, size = [], 0
    async for part in request.stream():
        size += len(part)
        if size > limit:
            return b"", True
        parts.append(part)
    return b"".join(parts), False


def _versioned(resource: dict[str, Any]) -> Response:
    """A read's answer with its version as ``ETag`` and ``Last-Modified`` (FHIR 3.1.0.4)."""
    meta = resource["meta"]
    updated = datetime.fromisoformat(meta["lastUpdated"].replace("Z", "+00:00"))
    return fhir_response(resource, headers={
        "ETag": f'W/"{meta["versionId"]}"',
        "Last-Modified": format_datetime(updated.astimezone(UTC), usegmt=True)})


def _metadata(request: Request) -> dict[str, Any]:
    check_format(request)
    return capability_statement(base_url(request))


def _refuse(request: Request) -> None:
    raise UNSUPPORTED_INTERACTION(f"{request.method} on this path")
