"""Checks shared by the supply handlers: who acts, the parameter table, the event
record, whose custody a packed unit is in, and whether a unit may take a step
(EMVS-style reason codes, in a fixed order: unknown → custodian → status → recalled →
expired).

Custody follows EPCIS aggregation: a packed unit's custodian, shipment and in-transit
state are those of its outermost container (its case, or the pallet holding that case),
so a ship or receipt of a case writes the case only. At most ``MAX_DEPTH`` containers
lie above a unit (unit → case → pallet): a case that holds cases is not packed again."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.module import Context
from phrchain.core.state import Reader
from phrchain.modules.identity import parties
from phrchain.modules.supply import gs1, keeper
from phrchain.modules.supply.errors import (
    ALREADY_DISPENSED,
    DUPLICATE_EVENT,
    EXPIRED,
    IN_CASE,
    NO_PARAMS,
    NOT_CUSTODIAN,
    RECALLED,
    STATUS_NOT_ALLOWED,
    UNAUTHORIZED,
    UNKNOWN_CASE,
    UNKNOWN_PRODUCT,
    UNKNOWN_SERIAL,
)
from phrchain.modules.supply.messages import EVENT_HASH_RE

ACTIVE = "active"
IN_TRANSIT = "in_transit"
DISPENSED = "dispensed"
MAX_DEPTH: Final = 2   # containers above a unit: its case and that case's pallet

# sscc -> case record, read once per handler call (a handler that changes a case changes
# this same record, so later reads in the call see the change)
Cases = dict[str, keeper.Case]


def acting_org(ctx: Context) -> tuple[parties.Identity, str]:
    """The signer's identity and the organization it acts for (itself or its employer)."""
    signer, org, _ = acting_org_type(ctx)
    return signer, org


def acting_org_type(ctx: Context) -> tuple[parties.Identity, str, str | None]:
    """:func:`acting_org` and the organization's type, each record read once."""
    found = parties.acting_with_org(ctx.state, ctx.signer)
    if found is None or found[1] is None:
        raise UNAUTHORIZED(f"{ctx.signer} is not an organization or its staff, acting now")
    return found[0], found[1], found[2]


# Decoded parameter tables by their stored record's bytes, the newest few: a version's
# record is written once and the handlers only read a table, so decoding the same ~1 kB
# again for every dispense and ship was waste. Keyed by the bytes, not the version, so
# two chains in one process (tests) or a rewritten record can never share an entry.
_TABLES: OrderedDict[bytes, dict[str, Any]] = OrderedDict()
_TABLES_KEPT = 8


def current_params(ctx: Context) -> tuple[int, dict[str, Any]]:
    """The current version and its table (read-only: shared between calls)."""
    version = keeper.params_version(ctx.state)
    raw = keeper.params_raw(ctx.state, version)
    if raw is None:
        raise NO_PARAMS("set them in genesis or with supply/set_params")
    table = _TABLES.get(raw)
    if table is None:
        table = _TABLES[raw] = dict(encoding.decode(raw)["params"])
        if len(_TABLES) > _TABLES_KEPT:
            _TABLES.popitem(last=False)
    return version, table


def record_event(ctx: Context, event_hash: str, step: str, org: str) -> None:
    """Store the event hash id once: a second event with the same id is refused."""
    match = EVENT_HASH_RE.fullmatch(event_hash)
    assert match is not None  # the message parser checked it
    digest = match.group(1)
    if keeper.get_event(ctx.state, digest) is not None:
        raise DUPLICATE_EVENT(event_hash)
    keeper.put_event(ctx.state, digest, {"event_hash": event_hash, "step": step, "by": org,
                                         "signer": ctx.signer, "height": ctx.height})


def product_of(ctx: Context, unit: str) -> keeper.Product:
    product = keeper.get_product(ctx.state, unit.partition("/")[0])
    if product is None:
        raise UNKNOWN_PRODUCT(unit.partition("/")[0])
    return product


def read_case(state: Reader, sscc: str, cases: Cases | None = None) -> keeper.Case | None:
    if cases is not None and sscc in cases:
        return cases[sscc]
    found = keeper.get_case(state, sscc)
    if cases is not None and found is not None:
        cases[sscc] = found
    return found


def root_case(state: Reader, sscc: str, cases: Cases | None = None) -> keeper.Case:
    """The outermost container of case ``sscc`` (itself when it is not packed)."""
    case = read_case(state, sscc, cases)
    for _ in range(MAX_DEPTH):
        assert case is not None  # a packed unit's or case's container exists
        if case["parent"] is None:
            return case
        case = read_case(state, case["parent"], cases)
    raise AssertionError(f"case {sscc} is nested deeper than {MAX_DEPTH}")


def resolve(state: Reader, found: keeper.Unit, cases: Cases | None = None) -> keeper.Unit:
    """``found`` with the custody it is in: a packed unit's custodian and shipment are its
    outermost container's, and an active packed unit is in transit while that is (the
    unit's own record keeps its own steps: decommissioning, dispensing)."""
    if found["case"] is None:
        return found
    root = root_case(state, found["case"], cases)
    unit = found.copy()
    unit["owner"] = root["owner"]
    unit["shipment"] = root["shipment"]
    if root["shipment"] is not None and found["status"] == ACTIVE:
        unit["status"] = IN_TRANSIT
    return unit


def resolve_case(state: Reader, case: keeper.Case, cases: Cases | None = None) -> keeper.Case:
    """A case with the custody it is in (its pallet's while packed in one)."""
    if case["parent"] is None:
        return case
    root = root_case(state, case["parent"], cases)
    return {**case, "owner": root["owner"], "shipment": root["shipment"]}


def owned_case(ctx: Context, sscc: str, org: str, cases: Cases | None = None) -> keeper.Case:
    """Case ``sscc`` if ``org`` holds it, it is not in transit and not packed in a pallet
    (a packed case moves with its pallet); else why not."""
    case = read_case(ctx.state, sscc, cases)
    if case is None:
        raise UNKNOWN_CASE(sscc)
    held = resolve_case(ctx.state, case, cases)
    if held["owner"] != org:
        raise NOT_CUSTODIAN(f"case {sscc}")
    if held["shipment"] is not None:
        raise STATUS_NOT_ALLOWED(f"case {sscc} is in transit")
    if case["parent"] is not None:
        raise IN_CASE(f"case {sscc} is in case {case['parent']}: unpack that first")
    return case


def all_units(state: Reader, case: keeper.Case) -> list[str]:
    """The units in ``case``: packed in it and in the cases packed in it (a case that
    holds no cases costs no second range read)."""
    units = keeper.case_units(state, case["sscc"])
    for inner in keeper.case_cases(state, case["sscc"]) if case["cases"] else ():
        units += keeper.case_units(state, inner)
    return units


def get_unit(ctx: Context, unit: str, cases: Cases | None = None) -> keeper.Unit:
    """The unit, in the custody it is in (:func:`resolve`); else why not: its product is
    unknown (a product is never deleted and a unit is only commissioned for a registered
    one, so a unit that exists has its product and needs no second read) or its serial
    is."""
    found = keeper.get_unit(ctx.state, unit)
    if found is None:
        product_of(ctx, unit)
        raise UNKNOWN_SERIAL(unit)
    return resolve(ctx.state, found, cases)


# (gtin, lot) -> recalled, read once per handler call (nothing a handler does between
# two units' checks writes a recall)
Recalls = dict[tuple[str, str], bool]


def is_recalled(ctx: Context, unit: keeper.Unit, recalls: Recalls | None = None) -> bool:
    lot = (unit["unit"].partition("/")[0], unit["lot"])
    if recalls is not None and lot in recalls:
        return recalls[lot]
    found = keeper.recall(ctx.state, *lot) is not None
    if recalls is not None:
        recalls[lot] = found
    return found


def is_expired(ctx: Context, unit: keeper.Unit) -> bool:
    last = gs1.expiry_day(unit["expiry"])
    return last is None or gs1.day_of(ctx.time_ms) > last


def usable(ctx: Context, unit: str, org: str, *, recalled_ok: bool = False,
           expired_ok: bool = False, recalls: Recalls | None = None,
           cases: Cases | None = None) -> keeper.Unit:
    """The unit, if ``org`` holds it now and it is active (not recalled, not expired
    unless allowed); else the reason it may not move."""
    return check_usable(ctx, get_unit(ctx, unit, cases), org, recalled_ok=recalled_ok,
                        expired_ok=expired_ok, recalls=recalls)


def check_usable(ctx: Context, found: keeper.Unit, org: str, *, recalled_ok: bool = False,
                 expired_ok: bool = False, recalls: Recalls | None = None) -> keeper.Unit:
    """:func:`usable` for a unit already read and resolved."""
    unit = found["unit"]
    if found["owner"] != org:
        raise NOT_CUSTODIAN(unit)
    if found["status"] == DISPENSED:
        raise ALREADY_DISPENSED(unit)
    if found["status"] != ACTIVE:
        raise STATUS_NOT_ALLOWED(f"{unit} is {found['status']}")
    if not recalled_ok and is_recalled(ctx, found, recalls):
        raise RECALLED(unit)
    if not expired_ok and is_expired(ctx, found):
        raise EXPIRED(unit)
    return found
