"""What every route needs: the app's state, the caller's session, the CSRF check, a
capability check, and the few renderings of chain objects several views share."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request

from phrchain.client.session import Session as SdkSession
from phrchain.core.errors import PhrError
from phrchain.web.config import UiConfig
from phrchain.web.errors import NOT_LOGGED_IN, NOT_PERMITTED, UiError
from phrchain.web.security import check_csrf
from phrchain.web.sessions import Session, SessionStore

COOKIE = "phr_ui_session"


class UiState:
    """One UI app's config and sessions (not module globals: tests run several)."""

    def __init__(self, config: UiConfig) -> None:
        self.config = config
        self.sessions = SessionStore(config.idle_timeout_s, config.max_session_s, config.clock)
        # Sent to the page before login: the login request must echo it (see security.py).
        self.login_csrf = secrets.token_urlsafe(32)
        # One Argon2id (64 MiB) at a time: a flood of logins cannot exhaust memory.
        self.unlock_lock = threading.Lock()


def ui_state(request: Request) -> UiState:
    state: UiState = request.app.state.ui
    return state


Ui = Annotated[UiState, Depends(ui_state)]


def current_session(request: Request, ui: Ui) -> Session:
    session = ui.sessions.get(request.cookies.get(COOKIE))
    if session is None:
        raise UiError(401, NOT_LOGGED_IN)
    return session


def mutating_session(request: Request, session: Annotated[Session, Depends(current_session)]
                     ) -> Session:
    check_csrf(request, session.csrf)
    return session


def locked(session: Session) -> Iterator[Session]:
    """One request at a time per session: the SDK client is not meant for concurrent use."""
    with session.lock:
        yield session


def capability(name: str, *, mutating: bool = False) -> Callable[..., Iterator[Session]]:
    base = mutating_session if mutating else current_session

    # A default, not Annotated[...]: the annotation would name a local of this closure,
    # which FastAPI cannot resolve from a postponed (string) annotation.
    def need(session: Session = Depends(base)) -> Iterator[Session]:  # noqa: B008
        if name not in session.capabilities:
            raise UiError(403, NOT_PERMITTED, f"{name} needs a {name} identity")
        yield from locked(session)

    return need


# -- shared renderings -------------------------------------------------------------------
def party(client: SdkSession, did: str) -> dict[str, Any]:
    """Who a DID is, as far as the chain says (practitioners carry no name on chain)."""
    try:
        who = client.identity(did)
    except PhrError:  # an unknown DID is shown as a DID
        return {"did": did, "kind": "unknown", "label": did}
    kind = str(who.get("kind", ""))
    if kind == "organization":
        label = f"{who.get('name', '')} ({who.get('org_type', '')})"
    elif kind == "practitioner":
        org = party(client, str(who.get("organization", "")))["label"] \
            if who.get("organization") else ""
        label = f"{', '.join(who.get('roles', ()))} at {org}"
    else:
        label = kind
    # The parts of the label too, so the page can say it in the reader's language.
    parts = {"name": who.get("name", ""), "org_type": who.get("org_type", ""),
             "roles": list(who.get("roles", ())),
             "organization": party(client, str(who["organization"]))
             if kind == "practitioner" and who.get("organization") else None}
    return {"did": did, "kind": kind, "label": label, "status": who.get("status", ""),
            **parts}


def consent_view(client: SdkSession, consent: dict[str, Any]) -> dict[str, Any]:
    grantee = dict(consent["grantee"])
    if grantee["kind"] == "role":
        org = grantee.get("organization")
        org_party = party(client, org) if org else None
        who = f"every {grantee['id']}" + (f" at {org_party['label']}" if org_party else "")
        grantee_view = {**grantee, "label": who, "organization_party": org_party}
    else:
        named = party(client, grantee["id"])
        grantee_view = {**grantee, "label": named["label"], "party": named}
    return {**consent, "grantee": grantee_view}


def records_of(client: SdkSession, patient: str) -> Iterator[dict[str, Any]]:
    """Descriptors of a patient's records (public chain data), erased ones left out."""
    after = None
    while True:
        page = client.q("records/patient", patient=patient,
                        **({} if after is None else {"after": after}))
        for record in page["records"]:
            descriptor = client.descriptor(record)
            if descriptor["status"] != "erased":
                yield descriptor
        after = page["next"]
        if after is None:
            return


def paged_ids(client: SdkSession, path: str, key: str, **data: Any) -> list[str]:
    out: list[str] = []
    after = None
    while True:
        page = client.q(path, **data, **({} if after is None else {"after": after}))
        out += page[key]
        after = page["next"]
        if after is None:
            return out
