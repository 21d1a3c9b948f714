"""Prescriptions on chain without their record id: the prescriber signs a salted
commitment to the prescription (record id, packs per fill, refills) under the
prescription's monitoring tag, bound to the patient's monitoring tag, with its issue day
and how many days it is valid; the pharmacy submits it with the first fill (so the
registration shows when the patient comes, not when the record was written); fills are
counted against it (``check_fill``) and the prescriber may cancel it. The chain never
sees the record id, so nothing on chain joins the product dispensed to the patient's
records (README "Dispense")."""

from __future__ import annotations

from typing import Final

from phrchain.core.errors import CryptoError, TxError
from phrchain.core.module import Context
from phrchain.core.state import Reader
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.supply import gs1, keeper
from phrchain.modules.supply.errors import (
    ALREADY_IN_STATE,
    INVALID_FIELD,
    PRESCRIBER_NOT_ALLOWED,
    QUANTITY_MISMATCH,
    RX_EXHAUSTED,
    RX_EXISTS,
    RX_EXPIRED,
    RX_MISMATCH,
    RX_NOT_ACTIVE,
    UNAUTHORIZED,
    UNKNOWN_RX,
)
from phrchain.modules.supply.messages import (
    SUPPLY_PRESCRIBED,
    SUPPLY_RX_CANCELLED,
    CancelRx,
    Dispense,
    Prescribe,
)

PRESCRIBING_ORG_TYPES: Final = frozenset({"hospital", "clinic"})
DISPENSING_ORG_TYPES: Final = frozenset({"pharmacy", "hospital", "clinic"})
ACTIVE: Final = "active"
CANCELLED: Final = "cancelled"


def prescriber_of(ctx: Context, did: str) -> parties.Identity:
    """``did`` as an acting practitioner of a hospital or clinic (else code 26)."""
    found = parties.acting_with_org(ctx.state, did)
    if found is None or found[0]["kind"] != "practitioner" \
            or found[2] not in PRESCRIBING_ORG_TYPES:
        raise PRESCRIBER_NOT_ALLOWED(f"{did} is not an acting practitioner of a hospital or "
                                     f"clinic")
    return found[0]


def prescription_signature(state: Reader, chain_id: str, msg: Msg
                           ) -> tuple[bytes, bytes, bytes] | None:
    """The prescriber's signature a ``supply/prescribe`` carries, under its current key
    (``SignedMessages``: the solo engine verifies it in its worker processes); None
    when the message is malformed or names no identity (``prescribe`` says why)."""
    try:
        m = Prescribe.parse(msg)
    except TxError:
        return None
    prescriber = parties.get(state, m.prescriber)  # whether it may act: the handler's
    if prescriber is None:
        return None
    return (bytes.fromhex(prescriber["signing_key"]), bytes.fromhex(m.signature),
            m.signed_bytes(chain_id))


def _stub(rx: str, prescriber: str, height: int) -> keeper.Rx:
    """A prescription cancelled before any pharmacy registered it."""
    return {"rx": rx, "patient": "", "prescriber": prescriber, "commitment": "",
            "quantity": 0, "refills": 0, "valid_days": 0, "day": 0, "status": CANCELLED,
            "fills": 0, "height": height}


def prescribe(ctx: Context, msg: Msg) -> None:
    """Register a prescription its prescriber signed: submitted by the prescriber or by
    a pharmacist of a dispensing organization (with the first fill)."""
    m = Prescribe.parse(msg)
    prescriber = prescriber_of(ctx, m.prescriber)
    if ctx.signer != m.prescriber:
        signer = parties.acting_with_org(ctx.state, ctx.signer)
        if signer is None or not parties.has_role(signer[0], "pharmacist") \
                or signer[2] not in DISPENSING_ORG_TYPES:
            raise UNAUTHORIZED("the prescriber or a pharmacist submits a prescription")
    try:
        ctx.verify_signature(bytes.fromhex(prescriber["signing_key"]),
                             bytes.fromhex(m.signature), m.signed_bytes(ctx.chain_id))
    except CryptoError:
        raise UNAUTHORIZED("the prescriber's signature does not verify") from None
    today = gs1.day_of(ctx.time_ms)
    if m.issued_day > today:
        raise INVALID_FIELD("issued_day is after the block's day")
    if today >= m.issued_day + m.valid_days:
        raise RX_EXPIRED(f"valid {m.valid_days} days from its issue")
    found = keeper.get_rx(ctx.state, m.rx)
    if found is not None:
        if found["status"] == CANCELLED and found["prescriber"] == m.prescriber:
            raise RX_NOT_ACTIVE(m.rx)
        raise RX_EXISTS(m.rx)
    keeper.put_rx(ctx.state, {
        "rx": m.rx, "patient": m.patient, "prescriber": m.prescriber,
        "commitment": m.commitment, "quantity": m.quantity, "refills": m.refills,
        "valid_days": m.valid_days, "day": m.issued_day, "status": ACTIVE,
        "fills": 0, "height": ctx.height})
    ctx.emit(SUPPLY_PRESCRIBED, prescriber=m.prescriber)


def cancel_rx(ctx: Context, msg: Msg) -> None:
    """The prescriber withdraws a prescription, registered or not yet (then a
    cancelled placeholder keeps any pharmacy from registering it later)."""
    m = CancelRx.parse(msg)
    prescriber_of(ctx, ctx.signer)
    rx = keeper.get_rx(ctx.state, m.rx) or _stub(m.rx, ctx.signer, ctx.height)
    if rx["prescriber"] != ctx.signer:
        raise UNAUTHORIZED("only the prescriber cancels a prescription")
    if rx["status"] == CANCELLED and keeper.get_rx(ctx.state, m.rx) is not None:
        raise ALREADY_IN_STATE("the prescription is already cancelled")
    rx["status"] = CANCELLED
    keeper.put_rx(ctx.state, rx)
    ctx.emit(SUPPLY_RX_CANCELLED, prescriber=ctx.signer)


def check_fill(ctx: Context, m: Dispense) -> None:
    """Count this fill against the registered prescription: registered (34), active
    (36), within its days (37), the same patient, prescriber, commitment, quantity and
    refills (24), packs within the quantity (16), fills within the refills (25)."""
    rx = keeper.get_rx(ctx.state, m.rx)
    if rx is None:
        raise UNKNOWN_RX(m.rx)
    if rx["status"] != ACTIVE:
        raise RX_NOT_ACTIVE(m.rx)
    if gs1.day_of(ctx.time_ms) >= rx["day"] + rx["valid_days"]:
        raise RX_EXPIRED(f"valid {rx['valid_days']} days from its registration")
    if (rx["patient"], rx["prescriber"], rx["commitment"], rx["quantity"], rx["refills"]) != \
            (m.patient, m.prescriber, m.rx_commitment, m.quantity, m.refills):
        raise RX_MISMATCH("the dispense names another patient, prescriber, commitment, "
                          "quantity or refills than the registered prescription")
    if len(m.scans) > m.quantity:
        raise QUANTITY_MISMATCH(f"{len(m.scans)} packs exceed the prescribed {m.quantity}")
    if rx["fills"] > rx["refills"]:
        raise RX_EXHAUSTED(f"{rx['fills']} fills of {rx['refills'] + 1}")
    rx["fills"] += 1
    keeper.put_rx(ctx.state, rx)
