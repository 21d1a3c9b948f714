"""The patient's consent screen for a SMART on FHIR app (``docs/fhir-rest.md``).

A SMART app's authorize request at an institution's gateway (``phrchain.fhirapi``) sends
the patient's browser here with ``?smart_gateway=<its FHIR base>&smart_request=<id>``.
The page shows what the app asks (which resource types, for what purpose) and who keeps
the records; approving it signs, with the patient's own key (the pseudonym the records
at that institution are kept under), a ``consent/grant`` naming that institution, for
``read``, that purpose and the records the app may see (all, or the ids of the records
of the asked types, ``client/scopes.py``), for the period chosen; then tells the gateway
the consent's id in a request signed by the same key. The gateway answers with the app's
redirect (the authorization code). Denying tells the gateway, which answers with the
app's ``access_denied`` redirect. Only gateways of the UI's vault directory are asked.
"""

from __future__ import annotations

import json
import time
from typing import Annotated, Any, Final
from urllib.parse import urlsplit

import httpx
from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from phrchain.vault.requests import sign_request
from phrchain.web.deps import capability
from phrchain.web.errors import BAD_REQUEST, UiError
from phrchain.web.pseudonyms import acting, dids, for_custodian
from phrchain.web.sessions import Session

router = APIRouter(prefix="/api/patient/smart", tags=["patient"])
Reader = Annotated[Session, Depends(capability("patient"))]
Writer = Annotated[Session, Depends(capability("patient", mutating=True))]
DAY_MS: Final = 86_400_000


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000
TIMEOUT_S: Final = 30.0


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    gateway: str = Field(max_length=512)
    request: str = Field(pattern=r"^[0-9a-f]{32}$")
    days: int = Field(default=90, ge=1, le=366)


def _institution(session: Session, gateway: str) -> str:
    """The organization whose vault serves this FHIR base (of the UI's directory)."""
    for org, url in session.client.session.directory.items():
        if gateway.rstrip("/") == url.rstrip("/") + "/fhir":
            return org
    raise UiError(400, BAD_REQUEST, "that FHIR endpoint is not one of the directory's vaults")


def _asked(gateway: str, request: str) -> dict[str, Any]:
    answer = httpx.get(f"{gateway.rstrip('/')}/auth/requests/{request}", timeout=TIMEOUT_S)
    if answer.status_code != 200:
        raise UiError(404, BAD_REQUEST, "the app's request is unknown or expired")
    found: dict[str, Any] = answer.json()
    return found


@router.get("/request")
def pending(gateway: str, request: str, session: Reader) -> dict[str, Any]:
    org = _institution(session, gateway)
    return {**_asked(gateway, request), "institution": org,
            "institution_label": session.client.session.identity(org).get("name")}


def _pseudonym(session: Session, org: str) -> str:
    try:
        return for_custodian(session, org)
    except UiError:
        mine = dids(session)
        if len(mine) == 1:
            return mine[0]
        raise


@router.post("/approve")
def approve(body: Decision, session: Writer) -> dict[str, Any]:
    org = _institution(session, body.gateway)
    asked = _asked(body.gateway, body.request)
    by = _pseudonym(session, org)
    phr = acting(session, by)
    types = [t for t in asked["types"] if t != "*"]
    choice = {"all": True} if "*" in asked["types"] or not types else {"resources": types}
    now = wall_clock_ms()
    consent = phr.consent.grant({"kind": "organization", "id": org}, actions=["read"],
                                scope=phr.consent.expand(choice),
                                purposes=[asked["purpose"]], start_ms=now - 60_000,
                                end_ms=now + body.days * DAY_MS, share_existing=False)
    wallet = phr.session.wallet
    url = f"{body.gateway.rstrip('/')}/auth/requests/{body.request}/approve"
    raw = json.dumps({"consent": consent}).encode()
    headers = sign_request(wallet.signing_key, wallet.did, org, "POST", urlsplit(url).path,
                           {}, raw, wall_clock_ms())
    answer = httpx.post(url, content=raw, headers=headers, timeout=TIMEOUT_S)
    if answer.status_code != 200:
        raise UiError(502, BAD_REQUEST, "the institution refused the approval: "
                      + str(answer.json().get("error_description", answer.status_code)))
    return {"consent": consent, "redirect": answer.json()["redirect"]}


@router.post("/deny")
def deny(body: Decision, session: Writer) -> dict[str, Any]:
    _institution(session, body.gateway)
    answer = httpx.post(f"{body.gateway.rstrip('/')}/auth/requests/{body.request}/deny",
                        timeout=TIMEOUT_S)
    if answer.status_code != 200:
        raise UiError(404, BAD_REQUEST, "the app's request is unknown or expired")
    return {"redirect": answer.json()["redirect"]}
