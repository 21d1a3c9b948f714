"""Clinical-trial routes (``modules/trials``), through
:class:`~phrchain.client.trials.TrialsClient`:

- patient: the registered trials, and for each its own participation under the trial
  pseudonym its wallet derives (``client.trials.trial_wallet``; nothing on chain links
  the two); consent to the current protocol version (enrol at a site), re-consent,
  withdraw. The pseudonym's key signs; it is registered as a patient the first time;
- auditor/regulator: the outcome-switch report of each trial, every label checked
  against its proof and the validator-signed header (the trust anchor).

Trials, versions, labels and participants (by pseudonym) are public chain data.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field

from phrchain.client import builder
from phrchain.client.phr import Phr
from phrchain.client.session import Session as SdkSession
from phrchain.client.trials import trial_wallet
from phrchain.client.verify import verify_header, verify_query_against_header
from phrchain.core.errors import CryptoError, ProofError
from phrchain.modules.trials.keys import label_key
from phrchain.modules.trials.outcomes import DISCREPANCIES
from phrchain.web.deps import capability, paged_ids, party
from phrchain.web.errors import NOT_FOUND, UiError
from phrchain.web.sessions import Session

Id = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
patient_router = APIRouter(prefix="/api/patient", tags=["trials"])
auditor_router = APIRouter(prefix="/api/auditor", tags=["trials"])
PatientReader = Annotated[Session, Depends(capability("patient"))]
PatientWriter = Annotated[Session, Depends(capability("patient", mutating=True))]
AuditorReader = Annotated[Session, Depends(capability("auditor"))]


class EnrolBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    site: str = Field(min_length=8, max_length=200)


def _head(client: SdkSession, trial: str) -> dict[str, Any]:
    head = client.q("trials/trial", trial=trial)
    if head is None:
        raise UiError(404, NOT_FOUND, "no such trial")
    return dict(head)


def trial_view(client: SdkSession, head: dict[str, Any]) -> dict[str, Any]:
    version = client.q("trials/version", trial=head["trial"], version=head["version"])
    reg = version["registration"]
    return {"trial": head["trial"], "title": reg["title"],
            "conditions": reg["conditions"], "study_type": reg["study_type"],
            "sponsor": party(client, head["sponsor"]), "version": head["version"],
            "protocol": version["protocol"], "baseline": head["baseline"],
            "start_ms": head["start_ms"], "registered_ms": head["registered_ms"],
            "locked": head["locked_height"] is not None,
            "reported": head["reported_height"] is not None,
            "reconsent_version": head["reconsent_version"],
            "sites": [party(client, s) for s in version["sites"]],
            "outcomes": version["outcomes"]}


def _all(client: SdkSession) -> list[dict[str, Any]]:
    heads = [_head(client, t) for t in paged_ids(client, "trials/all", "trials")]
    heads.sort(key=lambda h: -int(h["registered_height"]))
    return [trial_view(client, h) for h in heads]


# -- patient ---------------------------------------------------------------------------------
def _me(session: Session, trial: str) -> Phr:
    """The patient's trial pseudonym, as an SDK client on this session's node."""
    wallet = trial_wallet(session.client.wallet, trial)
    return Phr(session.client.node, wallet, {})


def _participation(session: Session, trial: str) -> dict[str, Any]:
    me = _me(session, trial)
    found = me.trials.participant(trial, me.wallet.did)
    return {"pseudonym": me.wallet.did, "participant": found or None}


@patient_router.get("/trials")
def my_trials(session: PatientReader) -> dict[str, Any]:
    client = session.client.session
    return {"trials": [{**view, "me": _participation(session, view["trial"])}
                       for view in _all(client)]}


@patient_router.post("/trials/{trial}/enrol")
def enrol(trial: Id, body: EnrolBody, session: PatientWriter) -> dict[str, Any]:
    _head(session.client.session, trial)
    me = _me(session, trial)
    if me.session.q("identity/did", did=me.wallet.did) is None:
        me.node.send(me.wallet, [builder.register_patient(me.wallet.enc_key)])
    me.trials.enrol(trial, body.site)
    return _participation(session, trial)


@patient_router.post("/trials/{trial}/reconsent")
def reconsent(trial: Id, session: PatientWriter) -> dict[str, Any]:
    _me(session, trial).trials.reconsent(trial)
    return _participation(session, trial)


@patient_router.post("/trials/{trial}/withdraw")
def withdraw(trial: Id, session: PatientWriter) -> dict[str, Any]:
    _me(session, trial).trials.withdraw(trial)
    return _participation(session, trial)


# -- auditor / regulator -------------------------------------------------------------------
def _proven_labels(session: Session, trial: str, outcomes: list[str]) -> dict[str, Any]:
    """Each outcome's labels checked against its proof and the anchor's signed header."""
    node, anchor = session.client.node, session.anchor
    signed = node.header()
    try:
        header = verify_header(signed, anchor.validator, anchor.chain_id)
        proven = {}
        for outcome in outcomes:
            answer = node.query("trials/labels", {"trial": trial, "outcome": outcome},
                                height=header.height, prove=True)
            proven[outcome] = verify_query_against_header(
                answer, signed, anchor.validator, label_key(trial, outcome), anchor.chain_id)
    except (ProofError, CryptoError) as exc:
        return {"verified": False, "why": str(exc)}
    return {"verified": True, "height": header.height, "labels": proven}


@auditor_router.get("/trials")
def trials_report(session: AuditorReader) -> dict[str, Any]:
    """Every trial with its outcome-switch report (labels proven) once it has results."""
    client = session.client.session
    out = []
    for view in _all(client):
        report = client.q("trials/report", trial=view["trial"])
        outcomes = sorted(report["labels"])
        proof = _proven_labels(session, view["trial"], outcomes) if outcomes else None
        baseline = client.q("trials/version", trial=view["trial"],
                            version=view["baseline"]) if view["baseline"] else None
        out.append({**view, "labels": report["labels"],
                    "baseline_outcomes": None if baseline is None else baseline["outcomes"],
                    "discrepancies": report["discrepancies"], "proof": proof,
                    "discrepancy_labels": sorted(DISCREPANCIES)})
    return {"trials": out, "anchored": session.anchored}
