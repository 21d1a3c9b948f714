"""An insurance claim on a running consortium (the flow of ``demo/claims_step.py`` with
the consortium's wallets): the authority funds the insurer and patient P, the insurer
publishes a product, P enrols, hospital A's A1 writes today's visit and bills P."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from typing import Any

from phrchain.client.claims import ProductKey
from phrchain.demo.claims_step import COLONOSCOPY, COSMETIC, CURRENCY, PRODUCT_RULES, _visit
from phrchain.web.filing import invoice
from tests.consortium import A1, AUTHORITY, INSURER, Consortium, P

LINES = [(COLONOSCOPY, 300_000), (COSMETIC, 50_000)]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@dataclass
class Visit:
    product: str
    key: ProductKey
    bill: str
    records: list[str]
    covered_from_ms: int


def billed_visit(c: Consortium) -> Visit:
    """Everything up to an open bill of 350,000 KRW to P, with P enrolled and covered."""
    authority = c.client(AUTHORITY).claims
    authority.mint(INSURER.did, 100_000_000, CURRENCY)
    authority.mint(P.did, 1_000_000, CURRENCY)
    key = ProductKey.create()
    product, _ = c.client(INSURER).claims.publish(
        f"basic-{secrets.token_hex(3)}", PRODUCT_RULES, key)
    start = now_ms() + 2_000  # enrolment may not start before the block time
    c.client(P).claims.enrol(INSURER.did, product, start, 365)
    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    doctor = c.client(A1)
    records = [doctor.records.add_resource(r, P.did) for r in _visit(when, "Patient/p")]
    bill = doctor.claims.bill(P.did, 350_000, CURRENCY, f"E-{secrets.token_hex(4)}")
    return Visit(product, key, bill, records, start)


def file_claim(c: Consortium, visit: Visit, records: list[str] | None = None
               ) -> dict[str, Any]:
    """P files a claim for the (paid) bill, once the coverage has started."""
    while now_ms() < visit.covered_from_ms + 1_000:
        time.sleep(0.05)
    return c.client(P).claims.file(
        INSURER.did, visit.product, visit.bill, records or visit.records, LINES, visit.key,
        service_ms=now_ms() - 500)


@dataclass
class ItemizedBill:
    bill: str
    invoice: str  # the record holding the hospital's itemized bill (a FHIR Invoice)


def itemized_bill(c: Consortium, visit: Visit, pay: bool = True) -> ItemizedBill:
    """Once P's coverage has started (the bill's time is the date of service), A1 bills P
    350,000 KRW for a new encounter and sends the itemized bill as one of P's records;
    P pays it."""
    while now_ms() < visit.covered_from_ms + 1_000:
        time.sleep(0.05)
    doctor = c.client(A1)
    bill = doctor.claims.bill(P.did, 350_000, CURRENCY, f"E-{secrets.token_hex(4)}")
    record = doctor.records.add_resource(invoice(bill, LINES, CURRENCY, "Patient/p"), P.did)
    if pay:
        c.client(P).claims.pay_bill(bill)
    return ItemizedBill(bill, record)
