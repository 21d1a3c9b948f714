"""Supply handlers: validate → change state → emit events. Products, serialized units,
aggregation and custody here; dispensing in ``dispense.py``, alerts in ``monitor.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.supply import aggregation, dispense, gs1, keeper, monitor, prescribe
from phrchain.modules.supply.custody import (
    ACTIVE,
    IN_TRANSIT,
    Cases,
    Recalls,
    acting_org,
    all_units,
    current_params,
    get_unit,
    is_expired,
    is_recalled,
    owned_case,
    product_of,
    read_case,
    record_event,
    root_case,
    usable,
)
from phrchain.modules.supply.errors import (
    ALREADY_DISPENSED,
    ALREADY_IN_STATE,
    EXPIRED,
    IN_CASE,
    INVALID_FIELD,
    NOT_ADMITTED,
    NOT_CUSTODIAN,
    NOT_REVERSIBLE,
    PRODUCT_EXISTS,
    QUANTITY_MISMATCH,
    RECALLED,
    RECEIVER_NOT_ALLOWED,
    REVERSAL_WINDOW_PASSED,
    SHIPMENT_EXISTS,
    STATUS_NOT_ALLOWED,
    UNAUTHORIZED,
    UNIT_EXISTS,
    UNKNOWN_EVENT,
    UNKNOWN_PRODUCT,
    UNKNOWN_SHIPMENT,
)
from phrchain.modules.supply.messages import (
    CANCEL_RX,
    CLOSE_ALERT,
    COMMISSION,
    DECLARE_ERROR,
    DECOMMISSION,
    DISPENSE,
    EVENT_HASH_RE,
    PACK,
    PRESCRIBE,
    READ_HISTORY,
    RECALL,
    RECEIVE,
    REGISTER_PRODUCT,
    RETURN,
    REVERSE,
    SET_PARAMS,
    SHIP,
    SUPPLY_COMMISSIONED,
    SUPPLY_DECOMMISSIONED,
    SUPPLY_DISCREPANCY,
    SUPPLY_ERROR_DECLARED,
    SUPPLY_PARAMS_SET,
    SUPPLY_PRODUCT_REGISTERED,
    SUPPLY_RECALLED,
    SUPPLY_RECEIVED,
    SUPPLY_REVERSED,
    SUPPLY_SHIPPED,
    UNPACK,
    Commission,
    DeclareError,
    Decommission,
    Recall,
    Receive,
    RegisterProduct,
    Return,
    Reverse,
    SetParams,
    Ship,
)

MAX_SHIPMENT_UNITS: Final = 400
REVERSIBLE: Final = frozenset({"sample", "exported"})


def set_params(ctx: Context, msg: Msg) -> None:
    m = SetParams.parse(msg)
    signer = parties.acting(ctx.state, ctx.signer)
    if signer is None or signer["kind"] != "authority":
        raise UNAUTHORIZED("only an active authority (governance) sets supply parameters")
    version = keeper.put_params(ctx.state, m.params, ctx.height)
    ctx.emit(SUPPLY_PARAMS_SET, version=version)


def register_product(ctx: Context, msg: Msg) -> None:
    m = RegisterProduct.parse(msg)
    _, org = acting_org(ctx)
    if parties.org_type(ctx.state, org) != "manufacturer":
        raise NOT_ADMITTED("only an admitted manufacturer (or its staff) registers products")
    if keeper.get_product(ctx.state, m.gtin) is not None:
        raise PRODUCT_EXISTS(m.gtin)
    keeper.put_product(ctx.state, {
        "gtin": m.gtin, "name": m.name, "ingredients": [i.to_json() for i in m.ingredients],
        "dose_form": m.dose_form, "dose_units": m.dose_units, "controlled": m.controlled,
        "manufacturer": org, "height": ctx.height})
    ctx.emit(SUPPLY_PRODUCT_REGISTERED, gtin=m.gtin, manufacturer=org,
             controlled=m.controlled)


def commission(ctx: Context, msg: Msg) -> None:
    m = Commission.parse(msg)
    _, org = acting_org(ctx)
    product = keeper.get_product(ctx.state, m.gtin)
    if product is None:
        raise UNKNOWN_PRODUCT(m.gtin)
    if product["manufacturer"] != org:
        raise UNAUTHORIZED("only the product's manufacturer commissions its serials")
    if keeper.recall(ctx.state, m.gtin, m.lot) is not None:
        raise RECALLED(f"lot {m.lot} is recalled")
    for serial in m.serials:
        unit = f"{m.gtin}/{serial}"
        if keeper.get_unit(ctx.state, unit) is not None:
            raise UNIT_EXISTS(unit)
        keeper.put_unit(ctx.state, {
            "unit": unit, "lot": m.lot, "expiry": m.expiry, "status": ACTIVE, "owner": org,
            "case": None, "shipment": None, "decommission": None, "dispense": None,
            "height": ctx.height})
    record_event(ctx, m.event_hash, "commissioning", org)
    ctx.emit(SUPPLY_COMMISSIONED, gtin=m.gtin, lot=m.lot, count=len(m.serials),
             owner=org, event_hash=m.event_hash)


def _receiver(ctx: Context, to: str, org: str) -> str:
    receiver = parties.acting(ctx.state, to)
    to_type = parties.org_type(ctx.state, to)
    if to == org:
        raise INVALID_FIELD("to must be another organization")
    if receiver is None or to_type is None:
        raise RECEIVER_NOT_ALLOWED(f"{to} is not an admitted organization acting now")
    return to_type


def _ship(ctx: Context, m: Ship, kind: str) -> None:
    _, org = acting_org(ctx)
    _, table = current_params(ctx)
    to_type = _receiver(ctx, m.to, org)
    if keeper.get_shipment(ctx.state, m.shipment) is not None:
        raise SHIPMENT_EXISTS(m.shipment)
    returning = kind == "return"
    moved: list[keeper.Unit] = []
    recalls: Recalls = {}
    cases: Cases = {}
    for ref in m.units:
        unit = usable(ctx, ref, org, recalled_ok=returning, expired_ok=returning,
                      recalls=recalls, cases=cases)
        if unit["case"] is not None:
            raise IN_CASE(f"{ref} is in case {unit['case']}: ship the case")
        moved.append(unit)
    for sscc in m.cases:
        case = owned_case(ctx, sscc, org, cases)
        children = all_units(ctx.state, case)
        if not children:
            raise ALREADY_IN_STATE(f"case {sscc} is empty")
        moved += [usable(ctx, ref, org, recalled_ok=returning, expired_ok=returning,
                         recalls=recalls, cases=cases) for ref in children]
        case["shipment"] = m.shipment   # its units (and cases) move with it: not written
        keeper.put_case(ctx.state, case)
    if len(moved) > MAX_SHIPMENT_UNITS:
        raise INVALID_FIELD(f"a shipment moves at most {MAX_SHIPMENT_UNITS} units")
    known: dict[str, keeper.Product] = {}   # each product read once
    for unit in moved:
        gtin = unit["unit"].partition("/")[0]
        product = known[gtin] if gtin in known else known.setdefault(
            gtin, product_of(ctx, unit["unit"]))
        if returning and product["manufacturer"] != m.to:
            raise RECEIVER_NOT_ALLOWED(f"{unit['unit']} returns to its manufacturer only")
        if to_type not in table["holders"][product["controlled"]]:
            raise RECEIVER_NOT_ALLOWED(f"a {to_type} may not hold {product['controlled']} "
                                       f"products")
        if unit["case"] is None:
            unit.update({"status": IN_TRANSIT, "shipment": m.shipment})
            keeper.put_unit(ctx.state, unit)
    units = sorted(u["unit"] for u in moved)
    keeper.put_shipment(ctx.state, {
        "shipment": m.shipment, "kind": kind, "sender": org, "to": m.to,
        "units": list(m.units), "cases": list(m.cases), "count": len(units),
        "pending": units,
        "status": IN_TRANSIT, "event_hash": m.event_hash, "receipts": [],
        "height": ctx.height, "time_ms": ctx.time_ms})
    record_event(ctx, m.event_hash, "returning" if returning else "shipping", org)
    ctx.emit(SUPPLY_SHIPPED, shipment=m.shipment, kind=kind, sender=org, to=m.to,
             count=len(units), event_hash=m.event_hash)


def ship(ctx: Context, msg: Msg) -> None:
    _ship(ctx, Ship.parse(msg), "ship")


def return_units(ctx: Context, msg: Msg) -> None:
    _ship(ctx, Return.parse(msg), "return")


def receive(ctx: Context, msg: Msg) -> None:
    m = Receive.parse(msg)
    _, org = acting_org(ctx)
    shipment = keeper.get_shipment(ctx.state, m.shipment)
    if shipment is None:
        raise UNKNOWN_SHIPMENT(m.shipment)
    if shipment["to"] != org:
        raise NOT_CUSTODIAN(f"shipment {m.shipment} is addressed to another organization")
    if not shipment["pending"]:
        raise ALREADY_IN_STATE(f"shipment {m.shipment} is fully received")
    scanned = set(m.units)
    cases: Cases = {}
    for sscc in m.cases:
        if sscc not in shipment["cases"]:
            raise QUANTITY_MISMATCH(f"case {sscc} is not part of shipment {m.shipment}")
        case = read_case(ctx.state, sscc, cases)
        assert case is not None   # a shipment names cases that exist
        scanned |= set(all_units(ctx.state, case))
    pending = set(shipment["pending"])
    extra = scanned - pending
    if extra:
        raise QUANTITY_MISMATCH(f"{len(extra)} scanned units are not pending in this "
                                f"shipment")
    for ref in sorted(scanned):
        unit = get_unit(ctx, ref, cases)
        if unit["status"] != IN_TRANSIT:  # reported stolen on the way
            raise STATUS_NOT_ALLOWED(f"{ref} is {unit['status']}")
        if unit["case"] is None:
            unit.update({"status": ACTIVE, "owner": org, "shipment": None})
            keeper.put_unit(ctx.state, unit)
        elif (root := root_case(ctx.state, unit["case"], cases)["sscc"]) not in m.cases:
            raise IN_CASE(f"{ref} is in case {root}: receive the case")
    for sscc in m.cases:   # the units (and cases) in it are received with it
        case = cases[sscc]
        case.update({"owner": org, "shipment": None})
        keeper.put_case(ctx.state, case)
    shipment["pending"] = sorted(pending - scanned)
    shipment["status"] = "discrepancy" if shipment["pending"] else "received"
    shipment["receipts"].append(m.event_hash)
    keeper.put_shipment(ctx.state, shipment)
    record_event(ctx, m.event_hash, "receiving", org)
    ctx.emit(SUPPLY_RECEIVED, shipment=m.shipment, to=org, count=len(scanned),
             event_hash=m.event_hash)
    if shipment["pending"]:
        ctx.emit(SUPPLY_DISCREPANCY, shipment=m.shipment, sender=shipment["sender"], to=org,
                 missing=len(shipment["pending"]))


def decommission(ctx: Context, msg: Msg) -> None:
    m = Decommission.parse(msg)
    _, org = acting_org(ctx)
    for ref in m.units:
        unit = get_unit(ctx, ref)
        if unit["owner"] != org:
            raise NOT_CUSTODIAN(ref)
        if unit["status"] == m.reason:
            raise ALREADY_IN_STATE(f"{ref} is already {m.reason}")
        if unit["status"] == "dispensed":
            raise ALREADY_DISPENSED(ref)
        # A unit stolen in transit is reported by its sender, still its custodian.
        if unit["status"] != ACTIVE and not (m.reason == "stolen"
                                              and unit["status"] == IN_TRANSIT):
            raise STATUS_NOT_ALLOWED(f"{ref} is {unit['status']}")
        if m.reason in REVERSIBLE and is_recalled(ctx, unit):
            raise RECALLED(ref)
        if m.reason in REVERSIBLE and is_expired(ctx, unit):
            raise EXPIRED(ref)
        unit["decommission"] = {"reason": m.reason, "by": org,
                                "day": gs1.day_of(ctx.time_ms), "prior": unit["status"]}
        unit["status"] = m.reason
        keeper.put_unit(ctx.state, unit)
    record_event(ctx, m.event_hash, "decommissioning", org)
    ctx.emit(SUPPLY_DECOMMISSIONED, reason=m.reason, by=org, count=len(m.units),
             event_hash=m.event_hash)


def reverse(ctx: Context, msg: Msg) -> None:
    m = Reverse.parse(msg)
    _, org = acting_org(ctx)
    _, table = current_params(ctx)
    window = int(table["thresholds"]["reversal_window_days"])
    for ref in m.units:
        unit = get_unit(ctx, ref)
        done = unit["decommission"]
        if unit["status"] == ACTIVE or unit["status"] == IN_TRANSIT or done is None:
            raise STATUS_NOT_ALLOWED(f"{ref} is not decommissioned")
        if unit["status"] not in REVERSIBLE:
            raise NOT_REVERSIBLE(f"{ref} is {unit['status']}")
        if done["by"] != org:
            raise UNAUTHORIZED("only the party that decommissioned a unit reverses it")
        if gs1.day_of(ctx.time_ms) - done["day"] > window:
            raise REVERSAL_WINDOW_PASSED(f"{ref}: {window} days")
        if is_recalled(ctx, unit):
            raise RECALLED(ref)
        if is_expired(ctx, unit):
            raise EXPIRED(ref)
        unit.update({"status": done["prior"], "decommission": None})
        keeper.put_unit(ctx.state, unit)
    record_event(ctx, m.event_hash, "decommissioning", org)
    ctx.emit(SUPPLY_REVERSED, by=org, count=len(m.units), event_hash=m.event_hash)


def recall(ctx: Context, msg: Msg) -> None:
    m = Recall.parse(msg)
    _, org = acting_org(ctx)
    product = keeper.get_product(ctx.state, m.gtin)
    if product is None:
        raise UNKNOWN_PRODUCT(m.gtin)
    if product["manufacturer"] != org:
        raise UNAUTHORIZED("only the product's manufacturer recalls its lots")
    if keeper.recall(ctx.state, m.gtin, m.lot) is not None:
        raise ALREADY_IN_STATE(f"lot {m.lot} is already recalled")
    keeper.put_recall(ctx.state, m.gtin, m.lot, {"gtin": m.gtin, "lot": m.lot, "by": org,
                                                 "height": ctx.height,
                                                 "event_hash": m.event_hash})
    record_event(ctx, m.event_hash, "holding", org)
    ctx.emit(SUPPLY_RECALLED, gtin=m.gtin, lot=m.lot, by=org, event_hash=m.event_hash)


def declare_error(ctx: Context, msg: Msg) -> None:
    m = DeclareError.parse(msg)
    _, org = acting_org(ctx)
    digests = []
    for event_hash in (m.event, *m.corrective):
        match = EVENT_HASH_RE.fullmatch(event_hash)
        assert match is not None
        digests.append(match.group(1))
        if keeper.get_event(ctx.state, digests[-1]) is None:
            raise UNKNOWN_EVENT(event_hash)
    event = keeper.get_event(ctx.state, digests[0])
    assert event is not None
    if event["by"] != org:
        raise UNAUTHORIZED("only the organization that recorded an event declares it in error")
    if keeper.get_error(ctx.state, digests[0]) is not None:
        raise ALREADY_IN_STATE("an error is already declared on this event")
    keeper.put_error(ctx.state, digests[0], {"event": m.event, "reason": m.reason,
                                             "corrective": list(m.corrective), "by": org,
                                             "height": ctx.height})
    ctx.emit(SUPPLY_ERROR_DECLARED, event=m.event, reason=m.reason, by=org)


HANDLERS: Final[Mapping[str, Handler]] = {
    SET_PARAMS: set_params, REGISTER_PRODUCT: register_product, COMMISSION: commission,
    PACK: aggregation.pack, UNPACK: aggregation.unpack, SHIP: ship, RETURN: return_units,
    RECEIVE: receive,
    DECOMMISSION: decommission, REVERSE: reverse, RECALL: recall,
    DECLARE_ERROR: declare_error, DISPENSE: dispense.dispense,
    CLOSE_ALERT: monitor.close_alert, READ_HISTORY: monitor.read_history,
    PRESCRIBE: prescribe.prescribe, CANCEL_RX: prescribe.cancel_rx,
}
