"""The prescriber's page (``modules/supply``), through
:class:`~phrchain.client.supply.SupplyClient` exactly as ``phrchain supply prescribe``:

- look a product up by GTIN or Korean KD code (GTIN-13) among the registered products,
  with its controlled-substance class and whether the chain's current parameter table
  (``prescriber_roles``) lets this prescriber's roles prescribe that class. The page
  only warns: the chain decides at the first fill and a refusal comes back with its
  stable code (``supply/26 prescriber_not_allowed``), which the page words;
- write a prescription: the MedicationRequest is added as a sealed record for the
  patient (``records.add_resource``), then the prescriber signs its registration (a
  salted commitment under the prescription's monitoring tag, for the patient's tag:
  ``SupplyClient.prescribe``). Nothing about it is sent to the supply module: the
  pharmacy submits the signed registration with the first fill;
- list the prescriber's own prescriptions with their state (active, dispensed,
  cancelled, expired) from the chain's ``supply/rx`` and cancel one (``supply/cancel_rx``).

The prescriber's own file (``WalletEntry.prescriptions`` of a prescriber wallet, never
sent anywhere) keeps what the pharmacy needs, in the pharmacy's format
(``web/supply.py``): handing a prescription over is copying its entry. The patient's
DID and the salt stay in that file; nothing here is logged.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from phrchain.client.session import Session as SdkSession
from phrchain.client.supply import Prescription
from phrchain.epcis.errors import NO_MONITORING_KEY
from phrchain.modules.supply.errors import UNKNOWN_PRODUCT
from phrchain.modules.supply.gs1 import normalize_gtin
from phrchain.web.deps import Ui, UiState, capability, party
from phrchain.web.errors import NOT_FOUND, NOT_PERMITTED, UiError
from phrchain.web.sessions import Session
from phrchain.web.supply import FORMAT, Handoff, _entry, _inbox, _key

GS1_GTIN: Final = "https://www.gs1.org/gtin"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
DAY_MS: Final = 86_400_000
router = APIRouter(prefix="/api/prescriber", tags=["supply"])
Reader = Annotated[Session, Depends(capability("provider"))]
Writer = Annotated[Session, Depends(capability("provider", mutating=True))]


class WriteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    patient: str = Field(min_length=8, max_length=200)
    gtin: str = Field(pattern=r"^[0-9]{13,14}$")
    quantity: int = Field(ge=1, le=1000)
    refills: int = Field(ge=0, le=99)
    days_supply: int = Field(ge=1, le=366)
    valid_days: int = Field(default=30, ge=1, le=366)
    label: str = Field(default="", max_length=200)


NOT_PRESCRIBING: Final = frozenset({"pharmacist", "auditor"})


def prescribes(session: Session) -> bool:
    """Whether the page offers writing: a practitioner with a role other than
    pharmacist or auditor (the page only hides; the chain decides at the first fill)."""
    identity = session.identity or {}
    return identity.get("kind") == "practitioner" \
        and bool(set(identity.get("roles", ())) - NOT_PRESCRIBING)


def _gtin(value: str) -> str:
    gtin = normalize_gtin(value)
    if gtin is None:
        raise UNKNOWN_PRODUCT(f"{value} is not a GTIN or KD code with a valid check digit")
    return gtin


def product_view(session: Session, gtin: str) -> dict[str, Any]:
    """A registered product with whether this prescriber's roles may prescribe its class
    under the current parameter table (the chain decides anyway)."""
    client = session.client.session
    found = client.q("supply/product", gtin=gtin)
    if found is None:
        raise UNKNOWN_PRODUCT(gtin)
    table = (client.q("supply/params") or {}).get("params") or {}
    roles = list(table.get("prescriber_roles", {}).get(found["controlled"], []))
    mine = set(session.identity.get("roles", ())) if session.identity else set()
    return {"gtin": gtin, "name": found["name"], "controlled": found["controlled"],
            "dose_form": found["dose_form"], "dose_units": found["dose_units"],
            "ingredients": list(found["ingredients"]), "roles": roles,
            "allowed": bool(mine & set(roles))}


def medication_request(product: dict[str, Any], ingredients: list[dict[str, Any]],
                       body: WriteBody) -> dict[str, Any]:
    """The FHIR R4 MedicationRequest the prescriber writes (sealed in the vault)."""
    codings = [{"system": GS1_GTIN, "code": product["gtin"], "display": product["name"]},
               *({"system": RXNORM, "code": i["rxnorm"]} for i in ingredients)]
    return {"resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "subject": {"reference": "Patient/patient"},
            "medicationCodeableConcept": {"coding": codings, "text": product["name"]},
            "dispenseRequest": {
                "numberOfRepeatsAllowed": body.refills,
                "quantity": {"value": body.quantity, "unit": "pack"},
                "expectedSupplyDuration": {"value": body.days_supply, "unit": "days",
                                           "system": "http://unitsofmeasure.org",
                                           "code": "d"}}}


def _save(path: Path, handoffs: list[Handoff]) -> None:
    """Rewrite the prescriber's file atomically (owner-only: it holds salts and DIDs)."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"format": FORMAT, "prescriptions": [h.model_dump() for h in handoffs]}, f)
    os.replace(tmp, path)


def _file(ui: UiState, session: Session) -> Path:
    path = _entry(ui, session).prescriptions
    if path is None:
        raise NO_MONITORING_KEY("no prescriptions file for this wallet")
    return Path(path)


def _own(ui: UiState, session: Session) -> list[Handoff]:
    """This prescriber's entries of its file (none yet when the file is not written)."""
    if not _file(ui, session).exists():
        return []
    return [h for h in _inbox(ui, session) if h.prescriber == session.did]


def status_of(handoff: Handoff, registered: dict[str, Any] | None, today: int) -> str:
    """active / dispensed (every fill used) / cancelled / expired."""
    if registered is not None:
        if registered["status"] != "active":
            return str(registered["status"])
        if registered["fills"] > registered["refills"]:
            return "dispensed"
        day, valid = registered["day"], registered["valid_days"]
    else:
        auth = handoff.authorization or {}
        day, valid = int(auth.get("issued_day", 0)), int(auth.get("valid_days", 0))
    return "expired" if today >= day + valid else "active"


def rx_view(client: SdkSession, session: Session, handoff: Handoff,
            registered: dict[str, Any] | None) -> dict[str, Any]:
    auth = handoff.authorization or {}
    return {"record": handoff.record, "label": handoff.label,
            "patient": party(client, handoff.patient), "quantity": handoff.quantity,
            "refills": handoff.refills, "days_supply": handoff.days_supply,
            "issued_day": auth.get("issued_day"), "valid_days": auth.get("valid_days"),
            "registered": registered,
            "fills": registered["fills"] if registered else 0,
            "status": status_of(handoff, registered, time.time_ns() // 1_000_000 // DAY_MS),
            "handoff": handoff.model_dump()}


@router.get("/products/{code}")
def product(code: str, session: Reader) -> dict[str, Any]:
    """A registered product by GTIN-14 or KD code, with the prescriber-role warning."""
    return product_view(session, _gtin(code))


@router.get("/prescriptions")
def mine(session: Reader, ui: Ui) -> dict[str, Any]:
    """This prescriber's prescriptions (newest first), each with its chain state;
    ``configured`` False when this wallet has no monitoring key or prescriptions file."""
    entry = ui.config.wallets.get(session.wallet_name)
    if not prescribes(session):
        return {"configured": False, "prescriber": False, "prescriptions": []}
    if entry is None or entry.monitoring_key is None or entry.prescriptions is None:
        return {"configured": False, "prescriber": True, "prescriptions": []}
    key = _key(ui, session)
    client = session.client.session
    own = _own(ui, session)
    return {"configured": True, "prescriber": True, "prescriptions": [rx_view(client, session, h,
                                      session.client.supply.prescription(key, h.record))
                              for h in own[::-1]]}


@router.post("/prescriptions")
def write(body: WriteBody, session: Writer, ui: Ui) -> dict[str, Any]:
    """Write the MedicationRequest for the patient and sign its registration."""
    if not prescribes(session):
        raise UiError(403, NOT_PERMITTED, "only a practitioner with a prescribing role "
                                          "writes prescriptions")
    key = _key(ui, session)
    path = _file(ui, session)
    shown = product_view(session, _gtin(body.gtin))
    resource = medication_request(shown, shown["ingredients"], body)
    record = session.client.records.add_resource(resource, body.patient)
    rx = Prescription(record, body.quantity, body.refills, body.days_supply,
                      secrets.token_hex(16))
    signed = session.client.supply.prescribe(key, body.patient, rx, body.valid_days)
    handoff = Handoff(record=record, patient=body.patient, prescriber=session.did,
                      quantity=body.quantity, refills=body.refills,
                      days_supply=body.days_supply, salt=rx.salt,
                      label=body.label or shown["name"], authorization=signed)
    _save(path, [*(_inbox(ui, session) if path.exists() else []), handoff])
    return {**rx_view(session.client.session, session, handoff, None), "product": shown}


@router.post("/prescriptions/{record}/cancel")
def cancel(record: str, session: Writer, ui: Ui) -> dict[str, Any]:
    """Withdraw one of this prescriber's prescriptions (``supply/cancel_rx``)."""
    key = _key(ui, session)
    handoff = next((h for h in _own(ui, session) if h.record == record), None)
    if handoff is None:
        raise UiError(404, NOT_FOUND, "no such prescription of this prescriber")
    session.client.supply.cancel_prescription(key, record)
    return rx_view(session.client.session, session, handoff,
                   session.client.supply.prescription(key, record))
