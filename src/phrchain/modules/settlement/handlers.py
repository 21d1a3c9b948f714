"""Settlement handlers: validate → change state → emit events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.settlement import keeper
from phrchain.modules.settlement.errors import (
    ALREADY_EXISTS,
    INSUFFICIENT_FUNDS,
    INVALID_FIELD,
    NOT_FOUND,
    NOT_OPEN,
    SUPPLY_LIMIT,
    UNAUTHORIZED,
    UNKNOWN_ACCOUNT,
)
from phrchain.modules.settlement.messages import (
    BILL,
    BURN,
    MAX_SUPPLY,
    MINT,
    PAY_BILL,
    SETTLEMENT_BILLED,
    SETTLEMENT_BURNED,
    SETTLEMENT_MINTED,
    SETTLEMENT_PAID,
    SETTLEMENT_TRANSFERRED,
    TRANSFER,
    Bill,
    Burn,
    Mint,
    PayBill,
    Transfer,
)

OPEN: Final = "open"
PAID: Final = "paid"


def _authority(ctx: Context) -> None:
    signer = parties.acting(ctx.state, ctx.signer)
    if signer is None or signer["kind"] != "authority":
        raise UNAUTHORIZED("only an active authority mints or burns money")


def _account(ctx: Context, did: str) -> None:
    if parties.acting(ctx.state, did) is None:
        raise UNKNOWN_ACCOUNT(did)


def mint(ctx: Context, msg: Msg) -> None:
    m = Mint.parse(msg)
    _authority(ctx)
    _account(ctx, m.to)
    if keeper.supply(ctx.state, m.currency) + m.amount > MAX_SUPPLY:
        raise SUPPLY_LIMIT(f"{m.currency} supply may not exceed {MAX_SUPPLY}")
    keeper.mint(ctx.state, m.to, m.amount, m.currency)
    ctx.emit(SETTLEMENT_MINTED, to=m.to, amount=m.amount, currency=m.currency)


def burn(ctx: Context, msg: Msg) -> None:
    m = Burn.parse(msg)
    _authority(ctx)
    if not keeper.burn(ctx.state, m.holder, m.amount, m.currency):
        raise INSUFFICIENT_FUNDS(f"{m.holder} holds less than {m.amount} {m.currency}")
    ctx.emit(SETTLEMENT_BURNED, **{"from": m.holder}, amount=m.amount, currency=m.currency)


def transfer(ctx: Context, msg: Msg) -> None:
    m = Transfer.parse(msg)
    if parties.acting(ctx.state, ctx.signer) is None:
        raise UNAUTHORIZED(f"{ctx.signer} is not an identity that may act now")
    if m.to == ctx.signer:
        raise INVALID_FIELD("to must be another identity")
    _account(ctx, m.to)
    if not keeper.transfer(ctx.state, ctx.signer, m.to, m.amount, m.currency):
        raise INSUFFICIENT_FUNDS(f"the signer holds less than {m.amount} {m.currency}")
    ctx.emit(SETTLEMENT_TRANSFERRED, **{"from": ctx.signer}, to=m.to, amount=m.amount,
             currency=m.currency, memo=m.memo or "")


def bill(ctx: Context, msg: Msg) -> None:
    m = Bill.parse(msg)
    signer = parties.acting(ctx.state, ctx.signer)
    org = None if signer is None else parties.organization_of(signer)
    if org is None or parties.org_type(ctx.state, org) not in parties.CARE_ORG_TYPES:
        raise UNAUTHORIZED("only an active hospital, clinic or pharmacy (or its staff) bills")
    if not parties.active_patient(ctx.state, m.patient):
        raise UNKNOWN_ACCOUNT(f"{m.patient} is not an active patient")
    if keeper.get_bill(ctx.state, m.bill) is not None:
        raise ALREADY_EXISTS(m.bill)
    record: keeper.Bill = {
        "bill": m.bill, "patient": m.patient, "provider": org, "issued_by": ctx.signer,
        "amount": m.amount, "currency": m.currency, "encounter": m.encounter,
        "status": OPEN, "height": ctx.height, "time_ms": ctx.time_ms, "paid_height": None,
    }
    keeper.put_bill(ctx.state, record)
    keeper.index_bill(ctx.state, record)
    ctx.emit(SETTLEMENT_BILLED, bill=m.bill, patient=m.patient, provider=org,
             amount=m.amount, currency=m.currency)


def pay_bill(ctx: Context, msg: Msg) -> None:
    m = PayBill.parse(msg)
    record = keeper.get_bill(ctx.state, m.bill)
    if record is None:
        raise NOT_FOUND(m.bill)
    if record["patient"] != ctx.signer:
        raise UNAUTHORIZED("only the billed patient pays a bill")
    if record["status"] != OPEN:
        raise NOT_OPEN(m.bill)
    if not keeper.transfer(ctx.state, ctx.signer, record["provider"], record["amount"],
                           record["currency"]):
        raise INSUFFICIENT_FUNDS(f"the bill is {record['amount']} {record['currency']}")
    record.update({"status": PAID, "paid_height": ctx.height})
    keeper.put_bill(ctx.state, record)
    ctx.emit(SETTLEMENT_PAID, bill=m.bill, patient=ctx.signer, provider=record["provider"],
             amount=record["amount"], currency=record["currency"])


HANDLERS: Final[Mapping[str, Handler]] = {
    MINT: mint, BURN: burn, TRANSFER: transfer, BILL: bill, PAY_BILL: pay_bill,
}
