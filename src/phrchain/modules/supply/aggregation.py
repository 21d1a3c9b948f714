"""``supply/pack`` and ``supply/unpack``: EPCIS aggregation (ADD / DELETE). Units go into
a case, cases into a pallet (a case holding cases); a pallet is not packed again, so a
unit has at most ``custody.MAX_DEPTH`` containers above it. Packing writes each child's
record (its ``case`` or ``parent``); from then on the child's custody is its outermost
container's (``custody.resolve``) until it is unpacked, which writes the custody back."""

from __future__ import annotations

from typing import Final

from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.supply import keeper
from phrchain.modules.supply.custody import (
    MAX_DEPTH,
    Cases,
    Recalls,
    acting_org,
    get_unit,
    owned_case,
    record_event,
    usable,
)
from phrchain.modules.supply.errors import ALREADY_IN_STATE, IN_CASE, INVALID_FIELD, TOO_DEEP
from phrchain.modules.supply.messages import SUPPLY_PACKED, SUPPLY_UNPACKED, Pack, Unpack

MAX_CASE_UNITS: Final = 200


def _pack_cases(ctx: Context, target: keeper.Case, m: Pack, org: str,
                recalls: Recalls, cases: Cases) -> None:
    """Cases into ``target`` (a pallet): each held by ``org``, at rest, loose, holding no
    cases itself, and every unit in it still allowed to move."""
    for sscc in m.cases:
        if sscc == m.sscc:
            raise INVALID_FIELD("a case cannot be packed into itself")
        child = owned_case(ctx, sscc, org, cases)
        if child["cases"]:
            raise TOO_DEEP(f"case {sscc} holds cases: at most {MAX_DEPTH} containers "
                           f"above a unit")
        for ref in keeper.case_units(ctx.state, sscc):
            usable(ctx, ref, org, recalls=recalls, cases=cases)
        child["parent"] = m.sscc
        keeper.put_case(ctx.state, child)
        keeper.pack_case(ctx.state, m.sscc, sscc)
    target["cases"] += len(m.cases)


def pack(ctx: Context, msg: Msg) -> None:
    m = Pack.parse(msg)
    _, org = acting_org(ctx)
    cases: Cases = {}
    case = keeper.get_case(ctx.state, m.sscc)
    if case is None:
        case = {"sscc": m.sscc, "owner": org, "units": 0, "cases": 0, "parent": None,
                "shipment": None, "height": ctx.height}
        cases[m.sscc] = case
    else:
        case = owned_case(ctx, m.sscc, org, cases)
    if case["units"] + len(m.units) > MAX_CASE_UNITS:
        raise INVALID_FIELD(f"a case holds at most {MAX_CASE_UNITS} units")
    recalls: Recalls = {}
    for ref in m.units:
        unit = usable(ctx, ref, org, recalls=recalls, cases=cases)
        if unit["case"] is not None:
            raise IN_CASE(f"{ref} is in case {unit['case']}")
        unit["case"] = m.sscc
        keeper.put_unit(ctx.state, unit)
        keeper.pack_unit(ctx.state, m.sscc, ref)
    if m.cases:
        _pack_cases(ctx, case, m, org, recalls, cases)
    case["units"] += len(m.units)
    keeper.put_case(ctx.state, case)
    record_event(ctx, m.event_hash, "packing", org)
    ctx.emit(SUPPLY_PACKED, sscc=m.sscc, count=len(m.units), event_hash=m.event_hash,
             **({"cases": len(m.cases)} if m.cases else {}))


def unpack(ctx: Context, msg: Msg) -> None:
    """Every unit and case out of a case; each gets the case's custody back."""
    m = Unpack.parse(msg)
    _, org = acting_org(ctx)
    cases: Cases = {}
    case = owned_case(ctx, m.sscc, org, cases)
    children = keeper.case_units(ctx.state, m.sscc)
    inner = keeper.case_cases(ctx.state, m.sscc)
    if not children and not inner:
        raise ALREADY_IN_STATE(f"case {m.sscc} is empty")
    for ref in children:
        unit = get_unit(ctx, ref, cases)
        unit["case"] = None
        keeper.put_unit(ctx.state, unit)
        keeper.unpack_unit(ctx.state, m.sscc, ref)
    for sscc in inner:
        child = cases.get(sscc) or keeper.get_case(ctx.state, sscc)
        assert child is not None
        child.update({"parent": None, "owner": case["owner"], "shipment": None})
        keeper.put_case(ctx.state, child)
        keeper.unpack_case(ctx.state, m.sscc, sscc)
    case["units"] = case["cases"] = 0
    keeper.put_case(ctx.state, case)
    record_event(ctx, m.event_hash, "unpacking", org)
    ctx.emit(SUPPLY_UNPACKED, sscc=m.sscc, count=len(children), event_hash=m.event_hash,
             **({"cases": len(inner)} if inner else {}))
