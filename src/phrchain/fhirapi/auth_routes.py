"""SMART routes: authorize, the pending request the consent screen shows, the
patient's signed approval, and the token endpoint (all through Authlib, ``smart.py``).

The patient's approval (``POST auth/requests/{id}/approve``) is a vault-signed request
(``vault/requests.py``: the patient's current key on chain signs method, path and body
digest) whose body names the consent the patient's wallet has just granted on chain;
the gateway checks that consent against the request before Authlib issues the code.
"""

from __future__ import annotations

import json
import secrets
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, quote

from authlib.oauth2 import OAuth2Error
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from phrchain.core.errors import CodedError
from phrchain.fhirapi.access import not_in_force
from phrchain.fhirapi.errors import APPROVAL_REFUSED, BAD_AUTHORIZATION
from phrchain.fhirapi.scopes import parse_scopes
from phrchain.fhirapi.smart import PENDING_TTL_S, FormRequest, Grant, PatientApproval, set_base
from phrchain.modules.consent.messages import Scope

if TYPE_CHECKING:
    from phrchain.fhirapi.routes import FhirApi

APPROVAL_BODY = 4096
TOKEN_BODY = 16384


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/fhir/"


def _oauth_error(error: OAuth2Error) -> Response:
    """Authlib's answer to a refused authorize request: a redirect to the app with
    ``error`` (and ``state``) once its redirect URI is known, a JSON error otherwise."""
    status, body, headers = error()
    location = dict(headers).get("Location")
    if location:
        return RedirectResponse(location, status_code=302)
    return JSONResponse(json.loads(body) if isinstance(body, str) else dict(body),
                        status_code=status, headers={k: v for k, v in headers
                                                     if k.lower() != "content-type"})


def _coded(exc: CodedError, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": "invalid_request", "error_description": exc.log,
                         "code": f"{exc.codespace}/{exc.code}"}, status_code=status)


def add(router: APIRouter, api: FhirApi) -> None:
    """The SMART routes: the app's authorize request and the pending request the
    consent screen shows, then the patient's answer and the token endpoint."""
    _add_authorize(router, api)
    _add_answers(router, api)


def _add_authorize(router: APIRouter, api: FhirApi) -> None:
    auth = api.auth

    @router.get("/auth/authorize")
    def authorize(request: Request) -> Response:
        set_base(_base(request))
        req = FormRequest("GET", str(request.url), request.headers, {},
                          dict(request.query_params))
        try:
            grant = auth.get_consent_grant(req)
        except OAuth2Error as error:
            return _oauth_error(error)
        aud = request.query_params.get("aud")
        if aud is not None and aud.rstrip("/") != _base(request).rstrip("/"):
            # SMART: the app names the FHIR server it means; a token for another is refused
            return _coded(BAD_AUTHORIZATION("aud is not this FHIR endpoint"))
        pending = secrets.token_hex(16)
        scopes = parse_scopes(grant.request.payload.scope or "")
        with auth.lock:
            now = time.monotonic()
            for old in [k for k, v in auth.pending.items() if v["expires_at"] < now]:
                del auth.pending[old]
            auth.pending[pending] = {
                "url": str(request.url), "client_id": grant.client.client_id,
                "app": grant.client.name, "scope": scopes.text, "purpose": scopes.purpose,
                "types": sorted(scopes.read), "expires_at": now + PENDING_TTL_S}
        consent_ui = api.apps.consent_ui
        if consent_ui is None:
            return JSONResponse({"error": "temporarily_unavailable", "error_description":
                                 "this gateway has no patient consent screen configured"},
                                status_code=503)
        return RedirectResponse(f"{consent_ui.rstrip('/')}/?smart_gateway="
                                f"{quote(_base(request), safe='')}&smart_request={pending}",
                                status_code=302)

    @router.get("/auth/requests/{pending}")
    def pending_request(pending: str) -> Response:
        found = _pending(api, pending)
        if found is None:
            return _coded(BAD_AUTHORIZATION("no such pending request (expired?)"), 404)
        return JSONResponse({"request": pending, "app": found["app"],
                             "client_id": found["client_id"], "scope": found["scope"],
                             "purpose": found["purpose"], "types": found["types"],
                             "institution": api.vault.org, "stays": _stays(found["scope"])})


def _stays(scope: str) -> str | None:
    """Whether the app asks to refresh its access (``refresh.py``): what the consent
    screen tells the patient."""
    asked = scope.split()
    return "offline" if "offline_access" in asked else \
        "online" if "online_access" in asked else None


def _add_answers(router: APIRouter, api: FhirApi) -> None:
    auth = api.auth

    @router.post("/auth/requests/{pending}/approve")
    async def approve(pending: str, request: Request) -> Response:
        body = await request.body()
        if len(body) > APPROVAL_BODY:
            return _coded(BAD_AUTHORIZATION("approval body too large"), 413)
        return await run_in_threadpool(_approve, api, pending, request, body)

    @router.post("/auth/requests/{pending}/deny")
    def deny(pending: str) -> Response:
        found = _pending(api, pending, pop=True)
        if found is None:
            return _coded(BAD_AUTHORIZATION("no such pending request (expired?)"), 404)
        req = FormRequest("GET", found["url"], {}, {}, _query(found["url"]))
        _, _, headers = auth.create_authorization_response(
            req, grant_user=None, grant=auth.get_consent_grant(req))
        return JSONResponse({"redirect": dict(headers).get("Location")})

    @router.post("/auth/token")
    async def token(request: Request) -> Response:
        raw = await request.body()
        if len(raw) > TOKEN_BODY:
            return _coded(BAD_AUTHORIZATION("token request too large"), 413)
        # application/x-www-form-urlencoded (RFC 6749 section 3.2), parsed by the stdlib
        form = dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))

        def issue() -> Response:
            set_base(_base(request))
            req = FormRequest("POST", str(request.url), request.headers, form, {})
            status, body, headers = auth.create_token_response(req)
            return JSONResponse(body, status_code=status, headers=dict(headers))
        return await run_in_threadpool(issue)


def _pending(api: FhirApi, pending: str, pop: bool = False) -> dict[str, Any] | None:
    with api.auth.lock:
        found = api.auth.pending.pop(pending, None) if pop else api.auth.pending.get(pending)
    if found is None or found["expires_at"] < time.monotonic():
        return None
    return found


def _query(url: str) -> dict[str, str]:
    from urllib.parse import urlsplit
    return dict(parse_qsl(urlsplit(url).query))


def _approve(api: FhirApi, pending: str, request: Request, body: bytes) -> Response:
    vault = api.vault
    try:
        req = vault.authenticate(request.headers, request.method, request.url.path,
                                 dict(request.query_params), body)
        found = _pending(api, pending)
        if found is None:
            raise BAD_AUTHORIZATION("no such pending request (expired?)")
        try:
            consent_id = json.loads(body)["consent"]
        except (ValueError, KeyError, TypeError):
            raise BAD_AUTHORIZATION('the body is {"consent": "<consent id>"}') from None
        consent = vault.query("consent/get", {"consent": str(consent_id)})
        scopes = parse_scopes(found["scope"])
        probe = Grant(found["client_id"], req.caller, scopes, 0, req.caller, consent_id)
        from phrchain.gateway.service import wall_clock_ms
        why = not_in_force(consent, probe, vault.org, wall_clock_ms())
        if not why and scopes.all_types and not Scope.stored(consent["scope"]).all:
            why = "the app asked for every type: the consent's scope must be all records"
        if why:
            raise APPROVAL_REFUSED(why)
        vault.journal.accept(req.nonce, req.caller, req.ts_ms)
    except CodedError as exc:
        return _coded(exc, 403 if exc.error is APPROVAL_REFUSED else 400)
    _pending(api, pending, pop=True)
    oauth = FormRequest("GET", found["url"], {}, {}, _query(found["url"]))
    set_base(_base(request))
    _, _, headers = api.auth.create_authorization_response(
        oauth, grant_user=PatientApproval(req.caller, str(consent_id)),
        grant=api.auth.get_consent_grant(oauth))
    return JSONResponse({"redirect": dict(headers).get("Location")})
