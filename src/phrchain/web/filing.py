"""The patient files a claim by picking records (Kyobo Life's flow: the patient picks
records in the app, the insurer receives them), through
:meth:`~phrchain.client.claims.ClaimsClient.file`.

Where the claim's parts come from:

- **the bill**: a paid bill of the patient's on chain not named by any claim yet;
- **the claim lines** (billed codes and amounts): the provider's itemized bill, a FHIR R4
  ``Invoice`` the provider wrote for the patient like any record (encrypted in its
  vault), naming the on-chain bill as ``identifier`` ``{system: "urn:phrchain:bill",
  value: <bill id>}``; each ``lineItem`` has ``chargeItemCodeableConcept.coding[0]``
  and a ``base`` ``priceComponent`` amount in the bill's currency. The codes never leave
  this process: they are decrypted here and only their tags go on chain;
- **the product key**: a file the insurer gave the patient at enrolment, configured on
  the patient's wallet (``WalletEntry.product_keys``); a key fits a product when it
  tags one of the product's covered or excluded codes;
- **the date of service**: the bill's block time.

With pseudonyms (``docs/privacy.md``) the bill and the records are the patient's
pseudonym at the provider, the enrolment the insurer-pseudonym's: the claim is filed by
the enrolled pseudonym with a link signed by the one that owns the bill and the records
(``ClaimsClient.file(owner=...)``); a claim's records must all be that one's.

Every check is made before anything is signed: a refusal here changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, Final

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ConfigDict, Field

from phrchain.client.claims import Code, ProductKey
from phrchain.client.session import RecordsError
from phrchain.fhir.claims import minor_unit_exponent
from phrchain.modules.settlement.messages import MAX_AMOUNT
from phrchain.web.claims import claim_view
from phrchain.web.deps import Ui, UiState, capability, paged_ids, party, records_of
from phrchain.web.errors import BAD_REQUEST, UiError
from phrchain.web.money import money
from phrchain.web.patient import record_view
from phrchain.web.pseudonyms import acting, dids
from phrchain.web.sessions import Session
from phrchain.web.timeline import timeline

BILL_SYSTEM: Final = "urn:phrchain:bill"
CONSENT_DAYS: Final = 90
MAX_RECORDS: Final = 16  # claims/file names 1-16 records
Hex32 = Annotated[str, Field(pattern=r"^[0-9a-f]{32}$")]

router = APIRouter(prefix="/api/patient", tags=["claims"])
Reader = Annotated[Session, Depends(capability("patient"))]
Writer = Annotated[Session, Depends(capability("patient", mutating=True))]


class FileBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    bill: Hex32
    insurer: str = Field(max_length=256)
    product: Hex32
    records: list[str] = Field(min_length=1, max_length=MAX_RECORDS)


def invoice(bill: str, lines: Sequence[tuple[Code, int]], currency: str,
            subject: str = "Patient/patient") -> dict[str, Any]:
    """The itemized bill this form reads, as a provider writes it for the patient: a
    FHIR R4 ``Invoice`` naming the on-chain ``bill``, one line per ``(code, minor
    units)`` (written as the currency's decimal amount: KRW whole won)."""
    exponent = minor_unit_exponent(currency)
    return {"resourceType": "Invoice", "status": "issued",
            "identifier": [{"system": BILL_SYSTEM, "value": bill}],
            "subject": {"reference": subject},
            "lineItem": [{"sequence": i + 1, "chargeItemCodeableConcept": {"coding": [
                {"system": code.system, "code": code.code,
                 **({"display": code.display} if code.display else {})}]},
                "priceComponent": [{"type": "base", "amount": {
                    "value": amount if exponent == 0 else Decimal(amount).scaleb(-exponent),
                    "currency": currency}}]}
                for i, (code, amount) in enumerate(lines)]}


def invoice_lines(resource: Any, currency: str) -> tuple[str, list[tuple[Code, int]]] | None:
    """``(bill id, [(code, minor units)])`` of an itemized bill (a FHIR ``Invoice``
    naming an on-chain bill), or None when the resource is not one this UI can use."""
    if not isinstance(resource, dict) or resource.get("resourceType") != "Invoice":
        return None
    bill = next((i.get("value") for i in resource.get("identifier", [])
                 if isinstance(i, dict) and i.get("system") == BILL_SYSTEM), None)
    if not isinstance(bill, str):
        return None
    lines = []
    try:
        for item in resource.get("lineItem", []):
            coding = item["chargeItemCodeableConcept"]["coding"][0]
            price = next(p["amount"] for p in item["priceComponent"] if p["type"] == "base")
            if price.get("currency", currency) != currency:
                return None
            minor = _minor_units(price["value"], currency)
            if minor is None:
                return None
            lines.append((Code(str(coding["system"]), str(coding["code"]),
                               str(coding.get("display", ""))), int(minor)))
    except (KeyError, IndexError, TypeError, StopIteration, InvalidOperation, AttributeError):
        return None
    return (bill, lines) if lines else None


def _minor_units(value: Any, currency: str) -> int | None:
    """A FHIR amount as integer minor units from 1 to ``MAX_AMOUNT``, else None (a
    string, a fraction of the minor unit, an exponent a provider's record might hold)."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        return None
    amount = Decimal(str(value))
    if not amount.is_finite() or not -30 <= amount.adjusted() <= 30:
        return None
    amount = amount.scaleb(minor_unit_exponent(currency))
    if amount != amount.to_integral_value() or not 0 < amount <= MAX_AMOUNT:
        return None
    return int(amount)


def _keys(ui: UiState, session: Session) -> list[ProductKey]:
    entry = ui.config.wallets.get(session.wallet_name)
    out = []
    for path in entry.product_keys if entry is not None else ():
        try:
            out.append(ProductKey.load(path))
        except RecordsError:
            continue  # an unreadable file fits no product; the page says "no key"
    return out


def _fitting_key(keys: list[ProductKey], product: dict[str, Any]) -> ProductKey | None:
    tags = set(product.get("covered", ())) | set(product.get("excluded", ()))
    return next((k for k in keys if tags & set(k.codebook())), None)


def _options(ui: UiState, session: Session) -> dict[str, Any]:
    """The patient's claimable bills (paid, unclaimed, itemized), enrolled products (with
    whether a fitting key is held) and records; internal fields start with ``_``."""
    client, mine = session.client.session, dids(session)
    views = [record_view(session, d) for did in mine for d in records_of(client, did)]
    claimed = {c["bill"] for did in mine for c in (
        client.q("claims/claim", claim=i) for i in paged_ids(
            client, "claims/of_patient", "claims", patient=did)) if c is not None}
    bills = []
    for bill_id in (b for did in mine
                    for b in paged_ids(client, "settlement/bills", "bills", patient=did)):
        b = client.q("settlement/bill", bill=bill_id)
        if b["status"] != "paid" or bill_id in claimed:
            continue
        lines = next((found[1] for v in views
                      if (found := invoice_lines(v.get("fhir"), b["currency"])) is not None
                      and found[0] == bill_id), None)
        if lines is not None:
            bills.append({**b, "_lines": lines})
    keys = _keys(ui, session)
    products = []
    enrolments: list[Any] = [e for did in mine for e in paged_ids(
        client, "claims/enrolments", "enrolments", patient=did)]
    for enrolment in enrolments:
        if enrolment["status"] != "active":
            continue
        product = client.q("claims/product", insurer=enrolment["insurer"],
                           product=enrolment["product"])
        if product is not None:
            products.append({**product, "_key": _fitting_key(keys, product),
                             "_enrolled": enrolment["patient"]})
    return {"bills": bills, "products": products, "records": views}


@router.get("/claim-form")
def claim_form(session: Reader, ui: Ui) -> dict[str, Any]:
    """What the claim form offers. Opening the records is an audited ``owner`` access
    the first time in a session, as on the records page."""
    client = session.client.session
    found = _options(ui, session)
    by_id = {v["record"]: v for v in found["records"]}
    return {
        "consent_days": CONSENT_DAYS,
        "bills": [{"bill": b["bill"], "time_ms": b.get("time_ms"),
                   "provider": party(client, b["provider"]),
                   "amount": money(int(b["amount"]), b["currency"]),
                   "lines": [{"display": code.display or code.code,
                              "amount": money(amount, b["currency"])}
                             for code, amount in b["_lines"]]} for b in found["bills"]],
        "products": [{"insurer": party(client, p["insurer"]), "product": p["product"],
                      "name": p["name"], "version": p["version"], "currency": p["currency"],
                      "key": p["_key"] is not None} for p in found["products"]],
        # in the order of the patient's timeline: visit by visit, newest first
        "records": [{k: by_id[r][k] for k in ("record", "resource", "category", "custodian",
                                              "date", "summary", "registered_ms")}
                    for group in timeline(found["records"]) for r in group["records"]]}


@router.post("/claims")
def file_claim(body: FileBody, session: Writer, ui: Ui) -> dict[str, Any]:
    """File the claim; the contract decides it in the same transaction."""
    if len(set(body.records)) != len(body.records):
        raise UiError(400, BAD_REQUEST, "each record may be picked once")
    found = _options(ui, session)
    bill = next((b for b in found["bills"] if b["bill"] == body.bill), None)
    if bill is None:
        raise UiError(400, BAD_REQUEST, "not a paid, itemized bill of yours that no claim "
                                        "names yet")
    product = next((p for p in found["products"] if p["insurer"] == body.insurer
                    and p["product"] == body.product), None)
    if product is None:
        raise UiError(400, BAD_REQUEST, "you are not enrolled in that product")
    if product["_key"] is None:
        raise UiError(400, BAD_REQUEST, "no product key for that product: ask the insurer "
                                        "for the key file they give enrolees")
    owners = {v["record"]: v["pseudonym"]["did"] for v in found["records"]}
    if not set(body.records) <= owners.keys():
        raise UiError(400, BAD_REQUEST, "a picked record is not one of your records")
    if {owners[r] for r in body.records} != {bill["patient"]}:
        raise UiError(400, BAD_REQUEST, "pick records kept under the same pseudonym as the "
                                        "bill (the institution that billed you)")
    filer, owner = product["_enrolled"], bill["patient"]
    claim = acting(session, filer).claims.file(
        body.insurer, body.product, body.bill, body.records, bill["_lines"],
        product["_key"], service_ms=int(bill["time_ms"]), consent_days=CONSENT_DAYS,
        owner=None if owner == filer else acting(session, owner).session)
    return claim_view(session.client.session, claim)
