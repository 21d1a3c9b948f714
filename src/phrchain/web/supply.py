"""Drug supply routes (``modules/supply``), through
:class:`~phrchain.client.supply.SupplyClient`:

- pharmacist (capability ``pharmacy``): the prescriptions handed to the pharmacy (the
  file ``WalletEntry.prescriptions``, below), each with what the chain holds of it
  (registered by the prescriber, fills, cancelled); dispensing scanned GS1 element
  strings ``(01)…(17)…(10)…(21)…`` against one. The monitoring key
  (``WalletEntry.monitoring_key``) turns the patient's DID and the record id into the
  tags the chain sees; neither reaches the chain; the wallet's ``pharmacy_log`` (if
  configured) records which patient each dispense was for. A refusal comes back with its stable
  code (codespace ``supply`` on chain, ``pharmacy`` before it), which the page words in
  the user's language;
- regulator (``auditor``): the alert board: every alert with its rule, when it fired
  (height and block time, proven against the signed header), who was notified and its
  closure; closing one with an outcome;
- patient: its own dispenses under the tag its pharmacy gave it
  (``WalletEntry.monitoring_tag``), controlled ones marked, and every statutory read of
  that history by a prescriber, shown like a break-glass read.

The prescriptions file is the pharmacy's own store (never sent anywhere)::

    {"format": "phrchain-pharmacy-prescriptions/v1", "prescriptions": [
      {"record", "patient" (DID), "prescriber" (DID), "quantity", "refills",
       "days_supply", "salt", "label"?, "patient_ref"?, "authorization"? (what ``supply prescribe``
       printed: the prescriber's signed registration, sent with the first fill)}]}
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from phrchain.client.pharmacy_log import PharmacyLog
from phrchain.client.session import Session as SdkSession
from phrchain.client.supply import MonitoringKey, Prescription
from phrchain.client.verify import verify_header, verify_query_against_header
from phrchain.core.errors import CryptoError, PhrError, ProofError
from phrchain.epcis.errors import NO_MONITORING_KEY, UNKNOWN_PRESCRIPTION
from phrchain.modules.supply.keys import alert_key
from phrchain.modules.supply.messages import ALERT_OUTCOMES
from phrchain.web.deps import Ui, UiState, capability, paged_ids, party
from phrchain.web.errors import NOT_FOUND, UiError
from phrchain.web.sessions import Session

FORMAT: Final = "phrchain-pharmacy-prescriptions/v1"
MAX_BOARD: Final = 200   # alerts the board shows (newest first)
Id = Annotated[str, Path(pattern=r"^[0-9a-f]{32}$")]
pharmacy_router = APIRouter(prefix="/api/pharmacy", tags=["supply"])
auditor_router = APIRouter(prefix="/api/auditor/supply", tags=["supply"])
patient_router = APIRouter(prefix="/api/patient/supply", tags=["supply"])
PharmacyReader = Annotated[Session, Depends(capability("pharmacy"))]
PharmacyWriter = Annotated[Session, Depends(capability("pharmacy", mutating=True))]
AuditorReader = Annotated[Session, Depends(capability("auditor"))]
AuditorWriter = Annotated[Session, Depends(capability("auditor", mutating=True))]
PatientReader = Annotated[Session, Depends(capability("patient"))]


class Handoff(BaseModel):
    """A prescription handed to the pharmacy (from the sealed MedicationRequest and the
    prescriber's commitment salt)."""
    model_config = ConfigDict(extra="forbid")
    record: str = Field(min_length=1, max_length=200)
    patient: str = Field(min_length=8, max_length=200)
    prescriber: str = Field(min_length=8, max_length=200)
    quantity: int = Field(ge=1, le=1000)
    refills: int = Field(ge=0, le=99)
    days_supply: int = Field(ge=1, le=366)
    salt: str = Field(min_length=16, max_length=128)
    label: str = Field(default="", max_length=200)
    patient_ref: str = Field(default="", max_length=200)   # the statutory report's name
    authorization: dict[str, Any] | None = None   # the prescriber's signed registration

    def prescription(self) -> Prescription:
        return Prescription(self.record, self.quantity, self.refills, self.days_supply,
                            self.salt)


class DispenseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    record: str = Field(min_length=1, max_length=200)
    codes: list[Annotated[str, Field(min_length=4, max_length=200)]] = Field(
        min_length=1, max_length=50)
    stewardship: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$")
    exemption: str | None = Field(default=None, pattern=r"^[a-z][a-z0-9_]{0,31}$")


class CloseBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    outcome: str = Field(pattern="^(" + "|".join(sorted(ALERT_OUTCOMES)) + ")$")


def _entry(ui: UiState, session: Session) -> Any:
    entry = ui.config.wallets.get(session.wallet_name)
    if entry is None:
        raise NO_MONITORING_KEY("no configured wallet")
    return entry


def _key(ui: UiState, session: Session) -> MonitoringKey:
    entry = _entry(ui, session)
    if entry.monitoring_key is None:
        raise NO_MONITORING_KEY("no monitoring_key for this wallet")
    return MonitoringKey.load(entry.monitoring_key)


def _inbox(ui: UiState, session: Session) -> list[Handoff]:
    entry = _entry(ui, session)
    if entry.prescriptions is None:
        return []
    try:
        body = json.loads(entry.prescriptions.read_text(encoding="utf-8"))
        if body.get("format") != FORMAT:
            raise ValueError("format")
        return [Handoff(**p) for p in body["prescriptions"]]
    except (OSError, ValueError, KeyError, TypeError, ValidationError) as exc:
        raise PhrError(f"the pharmacy's prescriptions file is unreadable "
                       f"({type(exc).__name__})") from None


def products_of(client: SdkSession, units: list[str]) -> dict[str, dict[str, Any]]:
    gtins = sorted({u.split("/")[0] for u in units})
    return {g: dict(client.q("supply/product", gtin=g) or {}) for g in gtins}


def dispense_view(client: SdkSession, dispense: str) -> dict[str, Any]:
    """A dispense with its packs' products, its parties and its alerts."""
    found = client.q("supply/dispense", dispense=dispense)
    if found is None:
        raise UiError(404, NOT_FOUND, "no such dispense")
    products = products_of(client, found["units"])
    units = []
    for ref in found["units"]:
        product = products.get(ref.split("/")[0], {})
        unit = client.q("supply/unit", unit=ref) or {}
        units.append({"unit": ref, "name": product.get("name", ""),
                      "controlled": product.get("controlled", ""),
                      "dose_form": product.get("dose_form", ""),
                      "dose_units": product.get("dose_units", 0),
                      "lot": unit.get("lot", ""), "expiry": unit.get("expiry", "")})
    alerts = [dict(client.q("supply/alert", alert=a) or {}) for a in found["alerts"]]
    return {"dispense": dispense, "day": found["day"], "height": found["height"],
            "days_supply": found["days_supply"], "units": units,
            "controlled": any(u["controlled"] in ("narcotic", "psychotropic")
                              for u in units),
            "pharmacy": party(client, found["pharmacy"]),
            "prescriber": party(client, found["prescriber"]),
            "alerts": [{"alert": a.get("alert"), "kind": a.get("kind"),
                        "status": a.get("status")} for a in alerts]}


# -- pharmacy ------------------------------------------------------------------------------
@pharmacy_router.get("/prescriptions")
def prescriptions(session: PharmacyReader, ui: Ui) -> dict[str, Any]:
    """The prescriptions handed to this pharmacy, each with its state on chain."""
    client = session.client.session
    key = _key(ui, session)
    out = []
    for handoff in _inbox(ui, session):
        record = client.q("records/get", record=handoff.record)
        out.append({"record": handoff.record, "label": handoff.label,
                    "patient": handoff.patient, "quantity": handoff.quantity,
                    "refills": handoff.refills, "days_supply": handoff.days_supply,
                    "prescriber": party(client, handoff.prescriber),
                    "record_status": None if record is None else record.get("status"),
                    "signed": handoff.authorization is not None,
                    "registered": session.client.supply.prescription(key, handoff.record)})
    return {"prescriptions": out}


@pharmacy_router.post("/dispense")
def dispense(body: DispenseBody, session: PharmacyWriter, ui: Ui) -> dict[str, Any]:
    """Dispense the scanned packs against the picked prescription."""
    key = _key(ui, session)
    handoff = next((h for h in _inbox(ui, session) if h.record == body.record), None)
    if handoff is None:
        raise UNKNOWN_PRESCRIPTION(body.record)
    done = session.client.supply.dispense(
        key, handoff.patient, handoff.prescription(), [c.strip() for c in body.codes],
        handoff.prescriber, body.stewardship, body.exemption,
        authorization=handoff.authorization)
    log = _entry(ui, session).pharmacy_log
    if log is not None:
        PharmacyLog(log).record_dispense(done, handoff.patient_ref or handoff.patient,
                                         handoff.record)
    return dispense_view(session.client.session, done)


# -- regulator -----------------------------------------------------------------------------
def _proofs(session: Session, alerts: list[str]) -> dict[str, dict[str, Any]]:
    """Each alert checked against its proof and one signed header of the anchor."""
    node, anchor = session.client.node, session.anchor
    try:
        signed = node.header()
        header = verify_header(signed, anchor.validator, anchor.chain_id)
    except (ProofError, CryptoError) as exc:
        return {a: {"verified": False, "why": str(exc)} for a in alerts}
    out: dict[str, dict[str, Any]] = {}
    for alert in alerts:
        try:
            answer = node.query("supply/alert", {"alert": alert}, height=header.height,
                                prove=True)
            verify_query_against_header(answer, signed, anchor.validator,
                                        alert_key(alert), anchor.chain_id)
            out[alert] = {"verified": True, "height": header.height}
        except (ProofError, CryptoError) as exc:
            out[alert] = {"verified": False, "why": str(exc)}
    return out


def alert_view(client: SdkSession, alert: dict[str, Any]) -> dict[str, Any]:
    def who(name: str) -> dict[str, Any]:
        return {"did": None, "kind": name, "label": name} if name in ("regulator", "patient") \
            else party(client, name)

    return {"alert": alert["alert"], "kind": alert["kind"], "detail": alert["detail"],
            "dispense": alert["dispense"], "height": alert["height"],
            "time_ms": alert["time_ms"], "notify": [who(n) for n in alert["notify"]],
            "status": alert["status"], "outcome": alert["outcome"],
            "closed_by": party(client, alert["closed_by"]) if alert["closed_by"] else None,
            "closed_height": alert["closed_height"]}


@auditor_router.get("/alerts")
def board(session: AuditorReader) -> dict[str, Any]:
    """Every alert (open first, newest first), each proven against the signed header."""
    client = session.client.session
    found = [dict(client.q("supply/alert", alert=a))
             for a in paged_ids(client, "supply/alerts", "alerts", status="all")]
    found.sort(key=lambda a: (a["status"] != "open", -int(a["height"])))
    shown = found[:MAX_BOARD]
    proofs = _proofs(session, [a["alert"] for a in shown])
    return {"alerts": [{**alert_view(client, a), "proof": proofs[a["alert"]]}
                       for a in shown],
            "outcomes": sorted(ALERT_OUTCOMES), "anchored": session.anchored}


@auditor_router.post("/alerts/{alert}/close")
def close(alert: Id, body: CloseBody, session: AuditorWriter) -> dict[str, Any]:
    session.client.supply.close_alert(alert, body.outcome)
    client = session.client.session
    return alert_view(client, dict(client.q("supply/alert", alert=alert)))


# -- patient -------------------------------------------------------------------------------
@patient_router.get("/history")
def history(session: PatientReader, ui: Ui) -> dict[str, Any]:
    """The patient's own dispenses (controlled ones marked) and the statutory reads."""
    entry = ui.config.wallets.get(session.wallet_name)
    tag = entry.monitoring_tag if entry is not None else ""
    if not tag:
        return {"configured": False, "dispenses": [], "reads": []}
    client = session.client.session
    dispenses = [dispense_view(client, d)
                 for d in paged_ids(client, "supply/history", "dispenses", patient=tag)]
    reads = [{**r, "reader": party(client, r["reader"]),
              "organization": party(client, r["organization"])}
             for r in client.q("supply/history_reads", patient=tag)["reads"]]
    return {"configured": True, "dispenses": dispenses[::-1], "reads": reads[::-1]}
