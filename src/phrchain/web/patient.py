"""Patient routes: my records (decrypted in the session), consents, pull requests,
the verified access log, and the portable export (``client/portable.py``).

Every decryption goes through the SDK in this process; the browser gets the decrypted
resource of its own session only. A record is opened (an audited ``owner`` access) the
first time a session lists it, then served from the session's memory.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from phrchain.client.http import ApiError
from phrchain.client.portable import export_portable
from phrchain.core.errors import PhrError
from phrchain.web.auditlog import verified_log
from phrchain.web.deps import Ui, capability, consent_view, paged_ids, party, records_of
from phrchain.web.errors import BAD_REQUEST, UiError
from phrchain.web.sessions import Session
from phrchain.web.summary import resource_date, summarize
from phrchain.web.timeline import timeline
from phrchain.web.trends import trends

router = APIRouter(prefix="/api/patient", tags=["patient"])
Reader = Annotated[Session, Depends(capability("patient"))]
Writer = Annotated[Session, Depends(capability("patient", mutating=True))]
LARGE = "a large object (not a FHIR resource); not shown here"
MIN_EXPORT_PASSPHRASE: Final = 12  # characters
EXPORT_FILENAME: Final = "phrchain-record.phr"


class GrantBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    grantee: dict[str, str]
    actions: list[str] = Field(min_length=1, max_length=3)
    scope: dict[str, Any]
    purposes: list[str] = Field(min_length=1, max_length=16)
    start_ms: int
    end_ms: int


class ApproveBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    end_ms: int


class ExportBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    passphrase: str = Field(max_length=1024)
    confirm: str = Field(max_length=1024)


def record_view(session: Session, descriptor: dict[str, Any]) -> dict[str, Any]:
    """One record of the patient's: ``descriptor`` is the chain's record merged with its
    opened sealed descriptor (``RecordsClient.descriptors``); type, category and author
    are unknown (None) for a record whose vault gave none."""
    client, record = session.client.session, descriptor["record"]
    author = descriptor.get("author")
    view: dict[str, Any] = {
        "record": record, "resource": descriptor.get("resource"),
        "category": descriptor.get("category"), "status": descriptor["status"],
        "registered_ms": descriptor.get("time_ms"), "size": descriptor["size"],
        "custodian": party(client, descriptor["custodian"]),
        "author": None if author is None else party(client, author),
        "summary": None, "date": None, "fhir": None}
    if descriptor.get("chunks", 1) > 1 or descriptor.get("category") == "genomic":
        return {**view, "summary": LARGE}
    if record not in session.opened:
        try:
            resource = session.client.records.open(record, purpose="PATRQT").resource()
        except (ApiError, PhrError) as exc:
            return {**view, "problem": str(exc)}  # not cached: a refresh tries again
        except ValueError:
            session.opened[record] = {"summary": "not a JSON resource"}
        else:
            if isinstance(resource, dict):
                session.opened[record] = {"fhir": resource, "summary": summarize(resource),
                                          "date": resource_date(resource)}
            else:
                session.opened[record] = {"summary": "not a FHIR resource"}
    return {**view, **session.opened[record]}


def my_record_views(session: Session) -> list[dict[str, Any]]:
    """The views of every record of the signed-in patient, each described by its opened
    sealed descriptor (the chain says nothing of what a record is, v2)."""
    found = list(records_of(session.client.session, session.did))
    known = session.client.records.descriptors([d["record"] for d in found])
    return [record_view(session, known.get(d["record"], d)) for d in found]


@router.get("/records")
def records(session: Reader) -> dict[str, Any]:
    """Every record, decrypted; the timeline (``timeline.py``: the record ids grouped by
    encounter, newest first) and the trends of vital signs and labs (``trends.py``)."""
    views = my_record_views(session)
    return {"records": views, "timeline": timeline(views), "trends": trends(views)}


# -- consents ------------------------------------------------------------------------------
@router.get("/consents")
def consents(session: Reader) -> dict[str, Any]:
    client = session.client.session
    found = [client.q("consent/get", consent=c)
             for c in paged_ids(client, "consent/patient", "consents", patient=session.did)]
    found.sort(key=lambda c: (c["status"] != "active", -int(c["granted_height"])))
    return {"consents": [consent_view(client, c) for c in found]}


@router.post("/consents")
def grant(body: GrantBody, session: Writer) -> dict[str, Any]:
    consent = session.client.consent.grant(body.grantee, actions=body.actions,
                                           scope=body.scope, purposes=body.purposes,
                                           start_ms=body.start_ms, end_ms=body.end_ms)
    return {"consent": consent}


@router.post("/consents/{consent}/revoke")
def revoke(consent: str, session: Writer) -> dict[str, Any]:
    session.client.consent.revoke(consent)
    return {"consent": consent, "status": "revoked"}


# -- pull requests ---------------------------------------------------------------------------
@router.get("/requests")
def requests(session: Reader) -> dict[str, Any]:
    client = session.client.session
    found = [client.q("exchange/get", request=r)
             for r in paged_ids(client, "exchange/patient", "requests", patient=session.did)]
    found.sort(key=lambda r: (r["status"] != "pending", -int(r["height"])))
    return {"requests": [{**r, "requester": party(client, r["requester"])} for r in found]}


@router.post("/requests/{request}/approve")
def approve(request: str, body: ApproveBody, session: Writer) -> dict[str, Any]:
    session.client.exchange.approve(request, body.end_ms)
    return {"request": request, "status": "approved"}


@router.post("/requests/{request}/deny")
def deny(request: str, session: Writer) -> dict[str, Any]:
    session.client.exchange.deny(request)
    return {"request": request, "status": "denied"}


# -- access log and export ------------------------------------------------------------------
@router.get("/access-log")
def access_log(session: Reader) -> dict[str, Any]:
    client = session.client.session
    answer = verified_log(client.node, session.did, session.anchor)
    for entry in answer["entries"]:
        if entry.get("accessor"):
            entry["accessor_party"] = party(client, entry["accessor"])
        if entry.get("vault"):
            entry["vault_party"] = party(client, entry["vault"])
        # what was read, in words, when this session has the record open already
        opened = session.opened.get(str(entry.get("record")))
        if opened is not None and opened.get("summary"):
            entry["record_summary"] = opened["summary"]
    answer["entries"].reverse()  # newest first
    answer["break_glass"] = sum(1 for e in answer["entries"] if e.get("break_glass"))
    answer["anchored"] = session.anchored
    return answer


@router.post("/export")
def export(body: ExportBody, session: Writer, ui: Ui) -> Response:
    """The portable record (docs/portable.md), sealed under a passphrase the patient typed
    twice, sent as a download; the report's counts go in ``X-Portable-Counts`` (JSON).
    The file is written to a private temporary directory and deleted before answering."""
    if len(body.passphrase) < MIN_EXPORT_PASSPHRASE:
        raise UiError(400, BAD_REQUEST, f"the export passphrase needs at least "
                      f"{MIN_EXPORT_PASSPHRASE} characters")
    if body.passphrase != body.confirm:
        raise UiError(400, BAD_REQUEST, "the two export passphrases differ")
    with tempfile.TemporaryDirectory(prefix="phr-export-") as tmp:
        path = Path(tmp) / EXPORT_FILENAME
        with ui.unlock_lock:  # one Argon2id at a time, as for logins
            report = export_portable(session.client.session, path, body.passphrase,
                                     validator=session.anchor.validator)
        content = path.read_bytes()
    return Response(content, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{EXPORT_FILENAME}"',
        "X-Portable-Counts": json.dumps(report.counts(), sort_keys=True)})
