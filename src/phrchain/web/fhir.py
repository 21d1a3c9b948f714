"""The patient's own wallet as a read-only FHIR R4 server (issue 19), at ``/ui/fhir/``.

It serves the logged-in patient's own records from every vault that holds them, each
under the pseudonym it is kept under there (a ``Patient`` id per pseudonym, as each
institution's gateway names it; ``docs/privacy.md``). The wallet opens them itself:
every record is fetched through the vault's audited access as its owner pseudonym
(``records.open``, purpose ``PATRQT``, the same path the records page takes, so one
session opens a record once) and decrypted here, with the wallet's keys; nothing is
decrypted anywhere else. Search, paging, ``$everything``, reference rewriting and
bundles are the gateway facade's own code (``phrchain.fhirapi``): only where the records
come from and who decided their release differ (the vault, when the wallet opened them).

Who may ask: the wallet's logged-in session (its cookie), or a bearer token the
session issues (``POST /ui/api/patient/fhir-token``: 256 random bits, valid
:data:`TOKEN_TTL_S` and never longer than the session; logging out ends it), for a
FHIR client running on the patient's machine. The UI serves loopback callers only
(``LoopbackGuard``), so neither leaves the patient's machine.
"""

from __future__ import annotations

import secrets
import threading
from contextlib import AbstractContextManager, nullcontext
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import Response

from phrchain.fhirapi.access import PERMIT, request_hash
from phrchain.fhirapi.capability import capability_statement
from phrchain.fhirapi.errors import INSUFFICIENT_SCOPE, INVALID_TOKEN, NOT_FOUND
from phrchain.fhirapi.index import Held, patient_did
from phrchain.fhirapi.routes import add_resource_routes, add_unsupported, check_format, fhir_call
from phrchain.fhirapi.scopes import parse_scopes
from phrchain.fhirapi.search import SERVED_TYPES, Query, check_id
from phrchain.fhirapi.service import Call, ResourceService
from phrchain.fhirapi.smart import Grant
from phrchain.modules.consent.messages import Scope
from phrchain.web.deps import COOKIE, UiState, capability, records_of
from phrchain.web.patient import record_view
from phrchain.web.pseudonyms import acting, dids
from phrchain.web.sessions import Session

PREFIX: Final = "/fhir"
TOKEN_TTL_S: Final = 900.0
MAX_TOKENS: Final = 1000
CLIENT: Final = "phrchain-wallet"

Writer = Annotated[Session, Depends(capability("patient", mutating=True))]


class WalletIndex:
    """The records the wallet opened, by pseudonym and by id (``fhirapi.service.Index``)."""

    def __init__(self, held: list[Held]) -> None:
        self._held = held
        self._by_id = {h.record: h for h in held}

    def of_patient(self, patient: str) -> list[Held]:
        return [h for h in self._held if h.patient == patient and not h.superseded]

    def siblings(self, patient: str) -> list[Held]:
        return self.of_patient(patient)

    def get(self, record: str) -> Held | None:
        return self._by_id.get(record)

    def forget(self, record: str) -> None:
        del record  # nothing is cached beyond the request


class Opened:
    """The release was the vault's: it decided (and audited) the owner's access when the
    wallet opened the record, so whatever the wallet holds is the patient's to see
    (``fhirapi.service.Deciding``)."""

    def consent_in_force(self, grant: Grant) -> Scope | None:
        return None

    def batch(self) -> AbstractContextManager[None]:
        return nullcontext()  # nothing decided here, nothing journaled

    def decide(self, grant: Grant, record: str, req_hash: str, scope: Scope | None = None,
               patient: str | None = None, *, released: str | None = None,
               since: float | None = None) -> str:
        return PERMIT

    def require(self, grant: Grant, record: str, req_hash: str, scope: Scope | None = None,
                patient: str | None = None, *, since: float | None = None) -> None:
        return None

    def would_permit(self, grant: Grant, record: str, scope: Scope | None = None,
                     patient: str | None = None, *, since: float | None = None) -> bool:
        return True


class WalletService(ResourceService):
    """The facade's service over one patient's opened records: a ``Patient`` id must be
    one of this patient's pseudonyms; a search without ``patient`` covers all of them."""

    def __init__(self, pseudonyms: list[str], held: list[Held]) -> None:
        super().__init__(WalletIndex(held), Opened())
        self.pseudonyms = pseudonyms

    def _patient_in_reach(self, grant: Grant, fhir_id: str) -> str:
        did = patient_did(check_id(fhir_id))
        if did not in self.pseudonyms:
            raise NOT_FOUND(f"Patient/{fhir_id}")
        return did

    def _patients(self, grant: Grant, q: Query) -> list[str]:
        if q.patient is None:
            return list(self.pseudonyms)
        did = patient_did(check_id(q.patient))
        return [did] if did in self.pseudonyms else []  # an empty searchset


def opened_records(session: Session) -> list[Held]:
    """Every active FHIR record of every pseudonym of the patient, opened by the wallet
    (each an audited ``owner`` access at its vault the first time this session opens it)."""
    out = []
    for did in dids(session):
        found = [d for d in records_of(session.client.session, did) if d["status"] == "active"]
        known = acting(session, did).records.descriptors([d["record"] for d in found])
        for d in found:
            resource = record_view(session, known.get(d["record"], d)).get("fhir")
            if not isinstance(resource, dict) or resource.get("resourceType") not in SERVED_TYPES:
                continue  # a large object, not a FHIR resource, or not opened (retried)
            out.append(Held(d["record"], did, str(resource["resourceType"]), resource,
                            int(d.get("time_ms") or 0), bool(d.get("superseded_by"))))
    return out


class WalletFhir:
    """The wallet's facade (``fhirapi.routes.ResourceApi``) and its bearer tokens."""

    def __init__(self) -> None:
        self._tokens: dict[str, tuple[str, float]] = {}  # token -> (session token, until)
        self._lock = threading.Lock()

    def issue(self, session: Session, now: float) -> str:
        token = secrets.token_urlsafe(32)
        with self._lock:
            self._tokens = {t: v for t, v in self._tokens.items() if v[1] > now}
            if len(self._tokens) >= MAX_TOKENS:
                raise INSUFFICIENT_SCOPE("too many live wallet FHIR tokens")
            self._tokens[token] = (session.token, now + TOKEN_TTL_S)
        return token

    def session_of(self, request: Request) -> Session:
        ui: UiState = request.app.state.ui
        header = request.headers.get("authorization", "")
        if header[:7].lower() == "bearer ":
            with self._lock:
                found = self._tokens.get(header[7:].strip())
            if found is None or found[1] <= ui.config.clock():
                raise INVALID_TOKEN("not a live token of this wallet")
            session = ui.sessions.get(found[0])
        else:
            session = ui.sessions.get(request.cookies.get(COOKIE))
        if session is None:
            raise INVALID_TOKEN("no wallet session (log in, or use a token it issued)")
        if "patient" not in session.capabilities:
            raise INSUFFICIENT_SCOPE("the wallet serves a patient's own records")
        return session

    def serve(self, request: Request) -> tuple[ResourceService, Call]:
        check_format(request)
        session = self.session_of(request)
        with session.lock:  # the SDK client is not meant for concurrent use
            held, pseudonyms = opened_records(session), dids(session)
        grant = Grant(CLIENT, session.did, parse_scopes("patient/*.rs"), 0.0)
        base = fhir_base(request)
        return WalletService(pseudonyms, held), \
            Call(grant, request_hash(request.method, str(request.url), CLIENT), base)


def fhir_base(request: Request) -> str:
    """The absolute base of the wallet's FHIR endpoint as the caller reached it (the UI
    is mounted, at ``/ui``: the mount's root path is part of it)."""
    url = request.url
    return f"{url.scheme}://{url.netloc}{request.scope.get('root_path', '')}{PREFIX}/"


def wallet_capability(base: str) -> dict[str, Any]:
    """The gateway's CapabilityStatement less what the wallet does not serve: no SMART
    (its session or its own token), no writes, no AuditEvent (the records page's
    verified access log has the patient's trail)."""
    out = capability_statement(base)
    out["software"] = {"name": "phrchain patient wallet", "version": out["software"]["version"]}
    out["implementation"] = {"description": "the patient's own records from every vault "
                                            "holding them, opened in the patient's wallet",
                             "url": base.rstrip("/")}
    rest = out["rest"][0]
    del rest["security"], rest["interaction"]
    rest["resource"] = [r for r in rest["resource"] if r["type"] != "AuditEvent"]
    return out


def include_wallet_fhir(app: FastAPI) -> WalletFhir:
    """Mount the wallet's FHIR routes (``/fhir``) and its token route on the UI app."""
    api = WalletFhir()
    router = APIRouter(prefix=PREFIX, include_in_schema=False)

    @router.get("/metadata")
    def metadata(request: Request) -> Response:
        def run() -> dict[str, Any]:
            check_format(request)
            return wallet_capability(fhir_base(request))
        return fhir_call(run)

    add_resource_routes(router, api)
    add_unsupported(router)
    app.include_router(router)

    token_router = APIRouter(prefix="/api/patient", tags=["patient"])

    @token_router.post("/fhir-token")
    def fhir_token(session: Writer, request: Request) -> dict[str, Any]:
        """A bearer token for a FHIR client on this machine: this session's records."""
        now = request.app.state.ui.config.clock()
        return {"access_token": api.issue(session, now), "token_type": "Bearer",
                "expires_in": int(TOKEN_TTL_S),
                "fhir_base": fhir_base(request)}

    app.include_router(token_router)
    app.state.wallet_fhir = api
    return api
