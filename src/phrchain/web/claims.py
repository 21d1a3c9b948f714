"""Claims and settlement routes (``modules/claims``, ``modules/settlement``), through
:class:`~phrchain.client.claims.ClaimsClient`:

- patient: balances, bills (pay one), claims with their decision, reasons and payment
  (appeal one; its FHIR ``ExplanationOfBenefit``);
- insurer reviewer (staff of an insurer with role ``claims_reviewer``): the insurer's
  referred claims, approve or deny one, open the records it names (purpose HPAYMT);
- auditor/regulator: claims by reason code (the fraud view).

Claims, bills and balances are public chain data (pseudonymous DIDs, amounts, reason
codes); the records a claim names are opened only by the reviewer, under the consent the
claim created. Amounts stay integers; ``money.py`` formats them here.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import BaseModel, ConfigDict, Field

from phrchain.client.session import Session as SdkSession
from phrchain.core.errors import PhrError
from phrchain.fhir.jsonio import dumps
from phrchain.modules.claims.reasons import REASONS
from phrchain.web.deps import capability, paged_ids, party
from phrchain.web.errors import BAD_REQUEST, NOT_FOUND, UiError
from phrchain.web.money import FormAmount, money
from phrchain.web.provider import opened_view
from phrchain.web.pseudonyms import acting, describe, dids
from phrchain.web.sessions import Session

REVIEWER_ROLE: Final = "claims_reviewer"
APPEALABLE: Final = frozenset({"denied", "partial"})
Id = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]

patient_router = APIRouter(prefix="/api/patient", tags=["claims"])
reviewer_router = APIRouter(prefix="/api/reviewer", tags=["claims"])
auditor_router = APIRouter(prefix="/api/auditor", tags=["claims"])
PatientReader = Annotated[Session, Depends(capability("patient"))]
PatientWriter = Annotated[Session, Depends(capability("patient", mutating=True))]
ReviewerReader = Annotated[Session, Depends(capability("claims_reviewer"))]
ReviewerWriter = Annotated[Session, Depends(capability("claims_reviewer", mutating=True))]
AuditorReader = Annotated[Session, Depends(capability("auditor"))]


class ReviewBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    decision: Literal["approve", "deny"]
    amount: FormAmount | None = None
    reason: str | None = Field(default=None, max_length=64)


def claims_capabilities(client: SdkSession, identity: dict[str, Any]) -> set[str]:
    """``claims`` for every patient (a first bill or claim may arrive during the
    session); ``claims_reviewer`` for an insurer's staff with that role (the chain checks
    again on every review)."""
    if identity.get("kind") == "patient":
        return {"claims"}
    if identity.get("kind") == "practitioner" and REVIEWER_ROLE in identity.get("roles", ()):
        try:
            org = client.identity(str(identity.get("organization", "")))
        except PhrError:
            return set()
        if org.get("org_type") == "insurer":
            return {"claims_reviewer"}
    return set()


def claim_view(client: SdkSession, claim: dict[str, Any]) -> dict[str, Any]:
    currency = str(claim["currency"])
    return {
        "claim": claim["claim"], "status": claim["status"], "payment": claim["payment"],
        "patient": claim["patient"], "insurer": party(client, claim["insurer"]),
        "product": claim["product"], "version": claim["version"], "bill": claim["bill"],
        "amount": money(int(claim["amount"]), currency),
        "payout": money(int(claim["payout"]), currency),
        "paid": money(int(claim.get("paid_amount") or 0), currency),
        "rules_payout": money(int(claim.get("rules_payout") or 0), currency),
        "reasons": [{"code": r, "sentence": REASONS.get(r, "")} for r in claim["reasons"]],
        "records": [r["record"] for r in claim["records"]],
        "service_ms": claim.get("service_ms"), "decided_ms": claim.get("decided_ms"),
        "deadline_ms": claim.get("deadline_ms"), "appealed": bool(claim.get("appealed")),
        "appealable": claim["status"] in APPEALABLE and not claim.get("appealed"),
        "review": claim.get("review")}


def _claims(client: SdkSession, ids: list[str]) -> list[dict[str, Any]]:
    found = [c for c in (client.q("claims/claim", claim=i) for i in ids) if c is not None]
    found.sort(key=lambda c: -int(c["filed_height"]))
    return [claim_view(client, c) for c in found]


def _own_claim(session: Session, claim: str) -> dict[str, Any]:
    """A claim filed by one of this patient's identities (the insurer-pseudonym)."""
    found = session.client.session.q("claims/claim", claim=claim)
    if found is None or found["patient"] not in dids(session):
        raise UiError(404, NOT_FOUND, "no such claim of yours")
    return dict(found)


# -- patient -----------------------------------------------------------------------------
@patient_router.get("/claims")
def my_claims(session: PatientReader) -> dict[str, Any]:
    """Balances, bills and claims of every pseudonym of the patient, each naming its
    pseudonym (money never moves between them: docs/privacy.md)."""
    client, mine = session.client.session, dids(session)
    balances = [{**money(int(amount), cur), "pseudonym": describe(session, did)}
                for did in mine
                for cur, amount in sorted(client.q("settlement/balances",
                                                   did=did)["balances"].items())]
    bills = [client.q("settlement/bill", bill=b) for did in mine
             for b in paged_ids(client, "settlement/bills", "bills", patient=did)]
    bills.sort(key=lambda b: (b["status"] != "open", -int(b["height"])))
    claim_ids = [c for did in mine
                 for c in paged_ids(client, "claims/of_patient", "claims", patient=did)]
    return {
        "balances": balances,
        "bills": [{"bill": b["bill"], "status": b["status"], "time_ms": b.get("time_ms"),
                   "provider": party(client, b["provider"]),
                   "pseudonym": describe(session, b["patient"]),
                   "amount": money(int(b["amount"]), b["currency"])} for b in bills],
        "claims": _claims(client, claim_ids)}


@patient_router.post("/bills/{bill}/pay")
def pay_bill(bill: Id, session: PatientWriter) -> dict[str, Any]:
    """Paid by the pseudonym the bill was issued to, from its own balance."""
    found = session.client.session.q("settlement/bill", bill=bill)
    if found is None or found["patient"] not in dids(session):
        raise UiError(404, NOT_FOUND, "no such bill of yours")
    acting(session, found["patient"]).claims.pay_bill(bill)
    status = session.client.session.q("settlement/bill", bill=bill)["status"]
    return {"bill": bill, "status": status}


@patient_router.post("/claims/{claim}/appeal")
def appeal(claim: Id, session: PatientWriter) -> dict[str, Any]:
    filer = acting(session, _own_claim(session, claim)["patient"])
    return claim_view(session.client.session, filer.claims.appeal(claim))


@patient_router.get("/claims/{claim}/fhir")
def claim_fhir(claim: Id, session: PatientReader) -> Response:
    """Claim, ClaimResponse and ExplanationOfBenefit; codes appear as the product's code
    tags (the UI holds no product key). FHIR decimals are written exactly (no float)."""
    filer = acting(session, _own_claim(session, claim)["patient"])
    return Response(dumps(filer.claims.fhir(claim)), media_type="application/json")


# -- insurer reviewer --------------------------------------------------------------------
@reviewer_router.get("/claims")
def referred(session: ReviewerReader) -> dict[str, Any]:
    client = session.client.session
    insurer = str(session.identity["organization"])
    ids = paged_ids(client, "claims/of_insurer", "claims", insurer=insurer, status="referred")
    return {"insurer": party(client, insurer), "claims": _claims(client, ids)}


@reviewer_router.post("/claims/{claim}/review")
def review(claim: Id, body: ReviewBody, session: ReviewerWriter) -> dict[str, Any]:
    if body.decision == "approve" and (body.amount is None or body.reason is not None):
        raise UiError(400, BAD_REQUEST, "approve with an amount (minor units), no reason")
    if body.decision == "deny" and (body.reason is None or body.amount is not None):
        raise UiError(400, BAD_REQUEST, "deny with a reason code, no amount")
    decided = session.client.claims.review(
        claim, **({"approve": body.amount} if body.decision == "approve"
                  else {"deny": body.reason}))
    return claim_view(session.client.session, decided)


@reviewer_router.post("/claims/{claim}/records")
def claim_records(claim: Id, session: ReviewerWriter) -> dict[str, Any]:
    """Open each record the claim names, under its HPAYMT consent (each open audited)."""
    found = session.client.session.q("claims/claim", claim=claim)
    if found is None or found["insurer"] != session.identity["organization"]:
        # (The chain's consent would refuse another insurer's claim too, less clearly.)
        raise UiError(404, NOT_FOUND, "no such claim of your insurer")
    return {"claim": claim, "records": [
        opened_view(session.client.records.open(r["record"], purpose="HPAYMT"))
        for r in found["records"]]}


# -- auditor / regulator -------------------------------------------------------------------
@auditor_router.get("/claims")
def by_reason(session: AuditorReader,
              reason: Annotated[str, Query(min_length=1, max_length=64)]) -> dict[str, Any]:
    if reason not in REASONS:
        raise UiError(400, BAD_REQUEST, "not a reason code")
    client = session.client.session
    ids = paged_ids(client, "claims/by_reason", "claims", reason=reason)
    return {"reason": {"code": reason, "sentence": REASONS[reason]},
            "claims": _claims(client, ids)}
