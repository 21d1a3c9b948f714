"""Provider routes (practitioners and care organizations): patients who consented to
me, the records those consents cover, open one, ask for a pull and fetch under it, push
a record to another institution, and emergency access (break-glass).

Every open is a vault decision, audited in the patient's log whatever its outcome; a
refusal comes back with the vault's reason (e.g. ``consent_revoked``).
"""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from phrchain.client.http import ApiError
from phrchain.client.records import Opened
from phrchain.client.session import Session as SdkSession
from phrchain.core.errors import PhrError
from phrchain.modules.consent.messages import Scope
from phrchain.web.deps import capability, consent_view, paged_ids, party, records_of
from phrchain.web.errors import BAD_REQUEST, UiError
from phrchain.web.sessions import Session
from phrchain.web.summary import clinical_summary, patient_banner, resource_date, summarize
from phrchain.web.trends import trends

router = APIRouter(prefix="/api/provider", tags=["provider"])
Reader = Annotated[Session, Depends(capability("provider"))]
Writer = Annotated[Session, Depends(capability("provider", mutating=True))]
Emergency = Annotated[Session, Depends(capability("break_glass", mutating=True))]
MIN_REASON = 10  # characters of a break-glass justification
# What the top of a chart is made of, and how many records it may open at most.
CHART_RESOURCES: Final = frozenset({"Patient", "AllergyIntolerance", "Condition",
                                    "MedicationRequest", "MedicationStatement", "Observation"})
CHART_LIMIT: Final = 200


class OpenBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: str = Field(pattern=r"^[0-9a-f]{32}$")
    purpose: str = "TREAT"
    vault_org: str | None = None


class PullRequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: str = Field(min_length=8, max_length=200)
    scope: dict[str, Any]
    purpose: str = "TREAT"


class PullBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    request: str
    record: str = Field(pattern=r"^[0-9a-f]{32}$")


class PushBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: str = Field(pattern=r"^[0-9a-f]{32}$")
    to: str = Field(min_length=8, max_length=200)
    purpose: str = "TREAT"


class ChartBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: str = Field(min_length=8, max_length=200)
    purpose: str = "TREAT"


class BreakGlassBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: str = Field(pattern=r"^[0-9a-f]{32}$")
    reason: str = Field(max_length=500)


def opened_view(opened: Opened) -> dict[str, Any]:
    view: dict[str, Any] = {"record": opened.record,
                            "resource": opened.descriptor.get("resource"),
                            "decision": opened.decision, "fhir": None, "date": None}
    try:
        resource = opened.resource()
    except ValueError:
        return {**view, "summary": "not a JSON resource"}
    if not isinstance(resource, dict):
        return {**view, "summary": "not a FHIR resource"}
    return {**view, "fhir": resource, "summary": summarize(resource),
            "date": resource_date(resource)}


def grantee_keys(identity: dict[str, Any]) -> list[str]:
    """How consents naming me are indexed: my DID, my organization, my roles."""
    keys = [str(identity["did"])]
    if identity.get("kind") == "practitioner":
        keys.append(str(identity["organization"]))
        keys += [f"role:{r}" for r in identity.get("roles", ())]
    return keys


def _names_me(consent: dict[str, Any], identity: dict[str, Any]) -> bool:
    grantee = consent["grantee"]
    org = grantee.get("organization")
    return grantee["kind"] != "role" or org is None or org == identity.get("organization")


def record_brief(client: SdkSession, descriptor: dict[str, Any]) -> dict[str, Any]:
    """A record a consent lets me see, from the chain: what it is (type, category) is
    sealed (v2) and known only once it is opened, so those are None here."""
    return {"record": descriptor["record"], "resource": descriptor.get("resource"),
            "category": descriptor.get("category"), "status": descriptor["status"],
            "registered_ms": descriptor.get("time_ms"),
            "custodian": party(client, descriptor["custodian"])}


@router.get("/patients")
def patients(session: Reader) -> dict[str, Any]:
    """Every patient with a consent naming me (any status: a revoked one is shown as
    revoked), and the records each consent's scope covers."""
    client = session.client.session
    by_patient = _consents_naming_me(session)
    out = []
    for patient, consents in by_patient.items():
        out.append({"patient": patient,
                    "consents": [consent_view(client, c) for c in consents],
                    "records": _covered(client, patient, consents)})
    return {"patients": out}


def _consents_naming_me(session: Session, patient: str | None = None
                        ) -> dict[str, list[dict[str, Any]]]:
    client, identity = session.client.session, session.identity
    ids = sorted({c for key in grantee_keys(identity)
                  for c in paged_ids(client, "consent/grantee", "consents", grantee=key)})
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for consent_id in ids:
        consent = client.q("consent/get", consent=consent_id)
        if consent is not None and _names_me(consent, identity) and \
                patient in (None, consent["patient"]):
            by_patient.setdefault(consent["patient"], []).append(consent)
    return by_patient


def _covered(client: SdkSession, patient: str, consents: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    scopes = [(c, Scope.parse(c["scope"])) for c in consents]
    records = []
    for descriptor in records_of(client, patient):
        covering = [c for c, scope in scopes if scope.covers(descriptor)]
        if covering:
            records.append({**record_brief(client, descriptor),
                            "consents": [c["consent"] for c in covering],
                            "active": any(c["status"] == "active" for c in covering)})
    return records


@router.post("/chart")
def chart(body: ChartBody, session: Writer) -> dict[str, Any]:
    """The top of a patient's chart: who the patient is, from their own Patient resource
    if a consent lets me read it (never from the chain: the chain knows a pseudonymous
    DID only), their allergies, problems and medications, and trends of their vital
    signs and labs. Each record is opened through its vault under an active consent
    naming me (an audited access, like any open); a refusal leaves that record out and
    is listed. At most ``CHART_LIMIT`` records are opened. What a record is (its type)
    is sealed (v2): a record is opened to learn it, and kept if of ``CHART_RESOURCES``."""
    client = session.client.session
    consents = _consents_naming_me(session, body.patient).get(body.patient, [])
    wanted = [r for r in _covered(client, body.patient, consents)
              if r["active"]][:CHART_LIMIT]
    views, refused = [], []
    for record in wanted:
        try:
            view = opened_view(session.client.records.open(record["record"],
                                                           purpose=body.purpose))
        except (ApiError, PhrError) as exc:
            refused.append({"record": record["record"], "reason": str(exc)})
            continue
        if view["resource"] in CHART_RESOURCES:
            views.append(view)
    resources = [v["fhir"] for v in views if isinstance(v.get("fhir"), dict)]
    patients = [r for r in resources if r.get("resourceType") == "Patient"]
    return {"patient": body.patient, "banner": patient_banner(patients[0]) if patients else None,
            "summary": clinical_summary(views), "trends": trends(views), "refused": refused,
            "consents": [consent_view(client, c) for c in consents]}


@router.post("/open")
def open_record(body: OpenBody, session: Writer) -> dict[str, Any]:
    return opened_view(session.client.records.open(body.record, purpose=body.purpose,
                                                   vault_org=body.vault_org))


# -- pull ---------------------------------------------------------------------------------
@router.get("/requests")
def my_requests(session: Reader) -> dict[str, Any]:
    client = session.client.session
    out = []
    for request_id in paged_ids(client, "exchange/requester", "requests",
                                requester=session.did):
        req = client.q("exchange/get", request=request_id)
        records = []
        if req["status"] == "approved":
            scope = Scope.parse(req["scope"])
            records = [record_brief(client, d) for d in records_of(client, req["patient"])
                       if scope.covers(d)]
        out.append({**req, "records": records})
    out.sort(key=lambda r: -int(r["height"]))
    return {"requests": out}


@router.post("/requests")
def request_pull(body: PullRequestBody, session: Writer) -> dict[str, Any]:
    client = session.client.session
    request = session.client.exchange.request_pull(body.patient, body.scope, body.purpose)
    return {"request": request, "status": client.q("exchange/get", request=request)["status"]}


@router.post("/pull")
def pull(body: PullBody, session: Writer) -> dict[str, Any]:
    return opened_view(session.client.exchange.pull(body.request, body.record))


# -- push and emergency access --------------------------------------------------------------
@router.post("/push")
def push(body: PushBody, session: Writer) -> dict[str, Any]:
    session.client.exchange.push(body.record, body.to, body.purpose)
    return {"record": body.record, "to": party(session.client.session, body.to)}


@router.post("/break-glass")
def break_glass(body: BreakGlassBody, session: Emergency) -> dict[str, Any]:
    """Emergency access (purpose ETREAT). The chain's audit entry is flagged and the
    patient notified. The reason is stored nowhere (free text must not go on chain): its
    salted commitment is signed into the vault request the audit entry names, and the
    receipt comes back for the institution to keep with the reason (docs/web.md)."""
    if len(body.reason.strip()) < MIN_REASON:
        raise UiError(400, BAD_REQUEST, f"give a reason of at least {MIN_REASON} characters "
                      "for emergency access")
    opened = session.client.records.open(body.record, action="break_glass",
                                         purpose="ETREAT", reason=body.reason.strip())
    assert opened.receipt is not None
    return {**opened_view(opened), "receipt": opened.receipt.to_json()}
