"""The UI backend: a FastAPI app meant to be mounted at ``/ui`` on the node API of the
same process (``create_app(node, ui=create_ui_app(config))``), or served alone on
loopback (``python -m phrchain.web``).

Routes (JSON under ``/ui/api``; ``*`` needs the ``X-CSRF-Token`` header)::

    GET  /ui/                          the page (static/index.html); /ui/static/* its JS/CSS
    GET  /ui/api/wallets               wallet files this UI may unlock (name, label, DID)
    GET  /ui/api/session               who is logged in, capabilities, the CSRF token
    POST /ui/api/session *             {wallet, passphrase} → unlock, set the cookie
    DELETE /ui/api/session *           log out: the unlocked wallet is dropped
    GET  /ui/api/vocabulary            purposes, categories, roles, consent actions
    GET  /ui/api/parties               organizations and practitioners, for pickers
    /ui/api/patient/...                patient.py
    /ui/api/provider/...               provider.py
    /ui/api/auditor/...                auditor.py
    /ui/api/{patient,reviewer,auditor}/claims...   claims.py (claims and settlement)
    /ui/api/patient/claim-form, POST …/claims     filing.py (the patient files a claim)
    /ui/api/{patient,auditor}/trials...           trials.py (consent and withdrawal under
                                                  a trial pseudonym; outcome-switch report)
    /ui/api/pharmacy/..., /ui/api/{auditor,patient}/supply/...   supply.py (dispense
                                                  screen, alert board, medication history)
    /ui/api/prescriber/...                        prescriber.py (write, list and cancel
                                                  prescriptions; product look-up)
    /ui/api/patient/research                      research.py (donations and the studies
                                                  that used the patient's data)
    /ui/fhir/..., POST /ui/api/patient/fhir-token * fhir.py (the patient's own records as
                                                  a read-only FHIR R4 server)

Errors have the node API's shape (``errors.py``). Nothing here logs a request body, a
record or a DID.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from phrchain.client.anchors import SoloAnchor
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.phr import Phr
from phrchain.client.session import RecordsError
from phrchain.client.wallet import Wallet, WalletError, read_public
from phrchain.core.errors import CodedError, CryptoError, PhrError, ProofError
from phrchain.http_errors import where_invalid
from phrchain.modules.claims.reasons import REASONS
from phrchain.modules.consent.messages import CONSENT_ACTIONS, PURPOSES
from phrchain.modules.identity.messages import ROLES
from phrchain.modules.records.messages import CATEGORIES
from phrchain.web import (
    auditor,
    claims,
    filing,
    genome,
    patient,
    prescriber,
    provider,
    research,
    smart,
    supply,
    trials,
)
from phrchain.web.config import UiConfig
from phrchain.web.deps import COOKIE, Ui, UiState, current_session, mutating_session, party
from phrchain.web.errors import (
    BAD_REQUEST,
    INTERNAL,
    NOT_FOUND,
    NOT_LOGGED_IN,
    NOT_VERIFIED,
    WRONG_PASSPHRASE,
    UiError,
)
from phrchain.web.fhir import include_wallet_fhir
from phrchain.web.i18n import DEFAULT as DEFAULT_LANGUAGE
from phrchain.web.i18n import negotiate
from phrchain.web.security import LoopbackGuard, check_csrf
from phrchain.web.sessions import Session

log = logging.getLogger(__name__)

STATIC: Final = Path(__file__).parent / "static"
COOKIE_PATH: Final = "/ui"


class Login(BaseModel):
    model_config = ConfigDict(extra="forbid")
    wallet: str = Field(min_length=1, max_length=200)
    passphrase: str = Field(min_length=1, max_length=1024)


def capabilities_of(identity: dict[str, Any], extra: set[str] | None = None
                    ) -> frozenset[str]:
    """What the page offers, from what the chain says this identity is (``extra``: what
    ``claims.claims_capabilities`` found on chain). The chain and the vaults decide every
    action anyway; this only hides what cannot succeed."""
    kind, roles = identity.get("kind"), set(identity.get("roles", ()))
    caps: set[str] = set(extra or ())
    if kind == "patient":
        caps.update(("patient", "export"))
    elif kind == "practitioner":
        if roles - {"auditor"}:
            caps.add("provider")
        if "emergency" in roles:
            caps.add("break_glass")
        if "auditor" in roles:
            caps.add("auditor")
        if "pharmacist" in roles:
            caps.add("pharmacy")
    elif kind == "organization":
        caps.add("auditor" if identity.get("org_type") == "regulator" else "provider")
    elif kind == "authority":
        caps.add("auditor")
    return frozenset(caps)


def session_view(ui: UiState, session: Session | None, lang: str = DEFAULT_LANGUAGE
                 ) -> dict[str, Any]:
    """``lang``: the language a first visit starts in (``i18n.negotiate``)."""
    if session is None:
        return {"logged_in": False, "csrf": ui.login_csrf, "lang": lang}
    identity = party(session.client.session, session.did) \
        if session.identity.get("registered", True) else \
        {"did": session.did, "kind": "patient", "label": "patient", "status": "active"}
    return {"logged_in": True, "lang": lang, "csrf": session.csrf, "wallet": session.wallet_name,
            "did": session.did, "identity": identity,
            "capabilities": sorted(session.capabilities), "anchored": session.anchored}


def _unlock(ui: UiState, body: Login) -> Session:
    entry = ui.config.wallets.get(body.wallet)
    if entry is None:
        raise UiError(404, NOT_FOUND, "no such wallet")
    with ui.unlock_lock:
        try:
            wallet = Wallet.load(entry.path, body.passphrase)
        except WalletError:
            raise UiError(401, WRONG_PASSPHRASE) from None
    node = NodeClient(ui.config.node_url, timeout=30)
    client = Phr(node, wallet, ui.config.directory)
    try:
        identity = _identity(client, wallet)
        extra = claims.claims_capabilities(client.session, identity)
        anchored = ui.config.trust_anchor is not None
        validator = ui.config.trust_anchor or str(node.status()["validator"])
        anchor = SoloAnchor(node, validator, ui.config.chain_id or node.chain_id())
    except BaseException:
        client.close()
        node.close()
        raise
    return ui.sessions.create(body.wallet, client, identity, capabilities_of(identity, extra),
                              anchor, anchored)


def _identity(client: Phr, wallet: Wallet) -> dict[str, Any]:
    """What the chain says the wallet is; a patient wallet whose own DID never acts
    (its pseudonyms do, docs/privacy.md) is a patient that is not ``registered``."""
    try:
        return client.session.identity(wallet.did)
    except RecordsError:
        if not wallet.pseudonym_map:
            raise
        return {"did": wallet.did, "kind": "patient", "status": "active",
                "registered": False}


def _session_routes(app: FastAPI) -> None:
    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/api/wallets")
    def wallets(ui: Ui) -> dict[str, Any]:
        out = []
        for name, entry in ui.config.wallets.items():
            try:
                info = read_public(entry.path)
                out.append({"name": name, "role": entry.role, "label": info.label,
                            "did": info.did})
            except WalletError:
                out.append({"name": name, "role": entry.role, "label": "", "did": "",
                            "problem": "unreadable wallet file"})
        return {"wallets": out}

    @app.get("/api/session")
    def get_session(request: Request, ui: Ui) -> dict[str, Any]:
        return session_view(ui, ui.sessions.get(request.cookies.get(COOKIE)),
                            negotiate(request.headers.get("accept-language")))

    @app.post("/api/session")
    def login(body: Login, request: Request, ui: Ui) -> JSONResponse:
        check_csrf(request, ui.login_csrf)
        previous = request.cookies.get(COOKIE)
        if previous:
            ui.sessions.end(previous)
        session = _unlock(ui, body)
        response = JSONResponse(session_view(ui, session,
                                             negotiate(request.headers.get("accept-language"))))
        response.set_cookie(COOKIE, session.token, httponly=True, samesite="strict",
                            path=COOKIE_PATH, max_age=int(ui.config.max_session_s))
        return response

    @app.delete("/api/session")
    def logout(session: Annotated[Session, Depends(mutating_session)], ui: Ui) -> JSONResponse:
        ui.sessions.end(session.token)
        response = JSONResponse(session_view(ui, None))
        response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    @app.get("/api/vocabulary")
    def vocabulary() -> dict[str, Any]:
        """The chain's fixed vocabularies, so the page offers exactly what it accepts."""
        return {"purposes": sorted(PURPOSES), "categories": sorted(CATEGORIES),
                "roles": sorted(ROLES), "actions": sorted(CONSENT_ACTIONS),
                "reasons": dict(REASONS)}

    @app.get("/api/parties")
    def parties(session: Annotated[Session, Depends(current_session)]) -> dict[str, Any]:
        """Organizations and practitioners, to pick a grantee or a recipient from."""
        with session.lock:
            client = session.client.session
            out = []
            for kind in ("organization", "practitioner"):
                after = None
                while True:
                    page = client.node.identities(kind=kind, limit=500, after=after)["value"]
                    out += [party(client, did) for did in page["dids"]]
                    after = page.get("next")
                    if after is None:
                        break
            return {"parties": out}


def _error(status: int, codespace: str, code: int, name: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"codespace": codespace, "code": code, "name": name,
                                   "message": message}}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    async def on_ui(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, UiError)
        response = _error(exc.status, exc.error.codespace, exc.error.code, exc.error.name,
                          exc.message)
        if exc.error == NOT_LOGGED_IN:
            response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict")
        return response

    async def on_api(_: Request, exc: Exception) -> Response:
        # A node's or vault's refusal, passed on as it came (status 0: unreachable).
        assert isinstance(exc, ApiError)
        status = exc.status if exc.status >= 400 else (502 if exc.status == 0 else 422)
        return _error(status, exc.codespace, exc.code, exc.name, exc.message)

    async def on_tx(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, CodedError)
        return _error(422, exc.codespace, exc.code, exc.error.name, exc.log)

    async def on_proof(_: Request, exc: Exception) -> Response:
        return _error(502, NOT_VERIFIED.codespace, NOT_VERIFIED.code, NOT_VERIFIED.name,
                      f"{NOT_VERIFIED.message}: {exc}")

    async def on_phr(_: Request, exc: Exception) -> Response:
        return _error(400, BAD_REQUEST.codespace, BAD_REQUEST.code, BAD_REQUEST.name, str(exc))

    async def on_validation(_: Request, exc: Exception) -> Response:
        # Where and what, never the offending input (a passphrase, a health record).
        assert isinstance(exc, RequestValidationError)
        return _error(422, BAD_REQUEST.codespace, BAD_REQUEST.code, BAD_REQUEST.name,
                      f"{BAD_REQUEST.message}: {where_invalid(exc)}")

    async def on_starlette(_: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        return _error(exc.status_code, "ui", NOT_FOUND.code if exc.status_code == 404
                      else BAD_REQUEST.code, "not_found" if exc.status_code == 404
                      else "bad_request", str(exc.detail))

    async def on_crash(_: Request, exc: Exception) -> Response:
        log.error("UI request failed: %s", type(exc).__name__)  # no body, no arguments
        return _error(500, INTERNAL.codespace, INTERNAL.code, INTERNAL.name, INTERNAL.message)

    app.add_exception_handler(UiError, on_ui)
    app.add_exception_handler(ApiError, on_api)
    app.add_exception_handler(CodedError, on_tx)
    app.add_exception_handler(ProofError, on_proof)
    app.add_exception_handler(CryptoError, on_proof)
    app.add_exception_handler(PhrError, on_phr)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(StarletteHTTPException, on_starlette)
    app.add_exception_handler(Exception, on_crash)


def create_ui_app(config: UiConfig) -> FastAPI:
    """The UI for ``config``; mount it at ``/ui`` (the cookie's path). Close its sessions
    with ``app.state.ui.sessions.close()`` when the process ends, if it goes on."""
    app = FastAPI(title="phrchain UI", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.ui = UiState(config)
    _session_routes(app)
    app.include_router(patient.router)
    app.include_router(provider.router)
    app.include_router(auditor.router)
    app.include_router(claims.patient_router)
    app.include_router(filing.router)
    app.include_router(claims.reviewer_router)
    app.include_router(claims.auditor_router)
    app.include_router(trials.patient_router)
    app.include_router(trials.auditor_router)
    app.include_router(genome.router)
    app.include_router(smart.router)
    app.include_router(supply.pharmacy_router)
    app.include_router(supply.auditor_router)
    app.include_router(supply.patient_router)
    app.include_router(prescriber.router)
    app.include_router(research.patient_router)
    include_wallet_fhir(app)  # /ui/fhir/: the patient's own records as FHIR R4 (fhir.py)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    _install_error_handlers(app)
    app.add_middleware(LoopbackGuard)
    return app
