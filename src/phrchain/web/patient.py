"""Patient routes: my records (decrypted in the session), consents, pull requests,
the verified access log, the emergency card and the portable export
(``client/portable.py``).

A patient acts through pseudonyms (``web/pseudonyms.py``): every list is one view over
all of them, each item naming the pseudonym it belongs to, and every action is signed
by the pseudonym that owns its object.

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

from phrchain.client.audit import opening_keys
from phrchain.client.http import ApiError
from phrchain.client.portable import export_portable
from phrchain.client.scopes import ScopeChoice
from phrchain.core.errors import PhrError
from phrchain.web.auditlog import verified_log
from phrchain.web.deps import Ui, capability, consent_view, paged_ids, party, records_of
from phrchain.web.errors import BAD_REQUEST, NOT_FOUND, UiError
from phrchain.web.pseudonyms import acting, describe, dids, for_custodian, owner_of
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
    # Whose records: the institution that keeps them, or the pseudonym itself (one is
    # enough; neither when the scope names records or the patient has one identity).
    custodian: str | None = Field(default=None, max_length=256)
    pseudonym: str | None = Field(default=None, max_length=256)
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
    pseudonym: str | None = Field(default=None, max_length=256)  # whose records


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
        "pseudonym": describe(session, descriptor["patient"]),
        "summary": None, "date": None, "fhir": None}
    if descriptor.get("chunks", 1) > 1 or descriptor.get("category") == "genomic":
        return {**view, "summary": LARGE}
    if record not in session.opened:
        try:
            owner = acting(session, descriptor["patient"])
            resource = owner.records.open(record, purpose="PATRQT").resource()
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


@router.get("/records")
def records(session: Reader) -> dict[str, Any]:
    """Every record, decrypted; the timeline (``timeline.py``: the record ids grouped by
    encounter, newest first) and the trends of vital signs and labs (``trends.py``)."""
    views: list[dict[str, Any]] = []
    for did in dids(session):
        found = list(records_of(session.client.session, did))
        known = acting(session, did).records.descriptors([d["record"] for d in found])
        views += [record_view(session, known.get(d["record"], d)) for d in found]
    return {"records": views, "timeline": timeline(views), "trends": trends(views)}


# -- consents ------------------------------------------------------------------------------
def _consent_row(session: Session, consent: dict[str, Any]) -> dict[str, Any]:
    """A consent as listed: the chain's (grantee in words), how many record ids its
    scope names, and what the patient chose it by when this session granted it."""
    view = consent_view(session.client.session, consent)
    records = consent["scope"].get("records")
    return {**view, "record_count": None if records is None else len(records),
            "chosen": session.chosen.get(consent["consent"])}


@router.get("/consents")
def consents(session: Reader) -> dict[str, Any]:
    client = session.client.session
    found = [client.q("consent/get", consent=c) for did in dids(session)
             for c in paged_ids(client, "consent/patient", "consents", patient=did)]
    found.sort(key=lambda c: (c["status"] != "active", -int(c["granted_height"])))
    return {"consents": [{**_consent_row(session, c),
                          "pseudonym": describe(session, c["patient"])} for c in found]}


def _granting(session: Session, body: GrantBody) -> str:
    """The identity that grants: the one named, the pseudonym at the custodian named,
    the owner of the records the scope names, or the patient's only identity."""
    if body.pseudonym is not None:
        return body.pseudonym
    if body.custodian is not None:
        return for_custodian(session, body.custodian)
    records = body.scope.get("records")
    if isinstance(records, list) and records:
        return owner_of(session, [str(r) for r in records])
    mine = dids(session)
    if len(mine) == 1:
        return mine[0]
    raise UiError(400, BAD_REQUEST, "say whose records this consent covers: the "
                                    "institution that keeps them (custodian)")


@router.post("/consents")
def grant(body: GrantBody, session: Writer) -> dict[str, Any]:
    """Grant a consent over the patient's choice: all records, chosen records, or
    categories / resource types, which become the ids of the records the granting
    pseudonym holds now that match (``client/scopes.py``); only those ids go on chain.
    The choice is remembered in this session, to say the consent in the patient's
    words."""
    by = _granting(session, body)
    phr = acting(session, by)
    choice = ScopeChoice.parse(body.scope)
    scope = phr.consent.expand(body.scope)
    consent = phr.consent.grant(body.grantee, actions=body.actions, scope=scope,
                                purposes=body.purposes, start_ms=body.start_ms,
                                end_ms=body.end_ms)
    if choice.by_kind:
        session.chosen[consent] = choice.to_json()
    return {"consent": consent, "all": scope.all, "record_count": len(scope.records),
            "pseudonym": describe(session, by)}


def _owned(session: Session, path: str, key: str, value: str) -> str:
    """The identity of this patient that owns a consent or request (404 otherwise)."""
    found = session.client.session.q(path, **{key: value})
    if found is None or found.get("patient") not in dids(session):
        raise UiError(404, NOT_FOUND, f"no such {key} of yours")
    return str(found["patient"])


@router.post("/consents/{consent}/revoke")
def revoke(consent: str, session: Writer) -> dict[str, Any]:
    acting(session, _owned(session, "consent/get", "consent", consent)).consent.revoke(consent)
    return {"consent": consent, "status": "revoked"}


# -- pull requests ---------------------------------------------------------------------------
@router.get("/requests")
def requests(session: Reader) -> dict[str, Any]:
    client = session.client.session
    found = [client.q("exchange/get", request=r) for did in dids(session)
             for r in paged_ids(client, "exchange/patient", "requests", patient=did)]
    found.sort(key=lambda r: (r["status"] != "pending", -int(r["height"])))
    return {"requests": [{**r, "requester": party(client, r["requester"]),
                          "pseudonym": describe(session, r["patient"])} for r in found]}


@router.post("/requests/{request}/approve")
def approve(request: str, body: ApproveBody, session: Writer) -> dict[str, Any]:
    owner = _owned(session, "exchange/get", "request", request)
    acting(session, owner).exchange.approve(request, body.end_ms)
    return {"request": request, "status": "approved"}


@router.post("/requests/{request}/deny")
def deny(request: str, session: Writer) -> dict[str, Any]:
    acting(session, _owned(session, "exchange/get", "request", request)).exchange.deny(request)
    return {"request": request, "status": "denied"}


# -- access log and export ------------------------------------------------------------------
@router.get("/access-log")
def access_log(session: Reader) -> dict[str, Any]:
    client = session.client.session
    openers = opening_keys(session.client.wallet)
    logs = {did: verified_log(client.node, did, session.anchor, openers=openers)
            for did in dids(session)}
    answer = _one_log(session, logs)
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
    # the break-glass notice: computed from the entries opened (the flag is sealed)
    answer["break_glass"] = sum(1 for e in answer["entries"] if e.get("break_glass"))
    answer["sealed"] = sum(1 for e in answer["entries"] if e.get("sealed"))
    answer["anchored"] = session.anchored
    return answer


def _one_log(session: Session, logs: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The logs of every pseudonym as one: entries tagged with their pseudonym, oldest
    first; ``head`` sums the sizes (each log is proven against its own head, listed
    in ``heads``)."""
    entries = [{**e, "pseudonym": describe(session, did)}
               for did, log in logs.items() for e in log["entries"]]
    entries.sort(key=lambda e: (int(e.get("height") or 0), str(e.get("request", ""))))
    heads = [{"pseudonym": did, **log["head"]} for did, log in logs.items()]
    return {"patient": session.did, "entries": entries, "heads": heads,
            "head": {"height": max((h["height"] for h in heads), default=0),
                     "size": sum(h["size"] for h in heads),
                     "root": heads[0]["root"] if len(heads) == 1 else None}}


@router.get("/pseudonyms")
def pseudonyms(session: Reader) -> dict[str, Any]:
    """The identities this patient acts as, and with whom."""
    return {"pseudonyms": [describe(session, did) for did in dids(session)]}


@router.get("/emergency-card")
def emergency_card(session: Reader) -> dict[str, Any]:
    """The break-glass locator the patient carries (``docs/privacy.md``): for each
    institution that keeps records, the pseudonym they are kept under. An emergency
    clinician elsewhere reads it from the card to find them."""
    client = session.client.session
    return {"card": [{"custodian": party(client, e["custodian"]),
                      "pseudonym": e["pseudonym"]}
                     for e in session.client.wallet.emergency_card()]}


def _exporting(session: Session, body: ExportBody) -> str:
    if body.pseudonym is not None:
        return body.pseudonym
    mine = dids(session)
    if len(mine) != 1:
        raise UiError(400, BAD_REQUEST, "a portable record holds one pseudonym's records: "
                                        "say which (pseudonym)")
    return mine[0]


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
    owner = acting(session, _exporting(session, body))
    with tempfile.TemporaryDirectory(prefix="phr-export-") as tmp:
        path = Path(tmp) / EXPORT_FILENAME
        with ui.unlock_lock:  # one Argon2id at a time, as for logins
            # the wallet's pseudonym root and map travel with the pseudonym's records
            report = export_portable(owner.session, path, body.passphrase,
                                     validator=session.anchor.validator,
                                     carry=session.client.wallet)
        content = path.read_bytes()
    return Response(content, media_type="application/octet-stream", headers={
        "Content-Disposition": f'attachment; filename="{EXPORT_FILENAME}"',
        "X-Portable-Counts": json.dumps(report.counts(), sort_keys=True)})
