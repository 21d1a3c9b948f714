"""``supply/dispense``: scanned packs → a prescription → a patient, named only by
monitoring tags. Verification in the European system's order (unknown serial, lot,
expiry, custodian, status, recall, expiry date), then the prescriber's right to
prescribe the class, the stewardship code of Reserve antibiotics, the prescription's
fills, and last the monitoring rules (``monitor.py``), which never refuse: they raise
alerts."""

from __future__ import annotations

from typing import Any, Final

from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.supply import gs1, keeper, monitor, prescribe
from phrchain.modules.supply.custody import (
    DISPENSED,
    acting_org_type,
    check_usable,
    current_params,
    product_of,
    record_event,
    resolve,
)
from phrchain.modules.supply.errors import (
    DISPENSE_EXISTS,
    EXPIRY_MISMATCH,
    IN_CASE,
    INVALID_FIELD,
    LOT_MISMATCH,
    PRESCRIBER_NOT_ALLOWED,
    STEWARDSHIP_REQUIRED,
    UNAUTHORIZED,
    UNKNOWN_SERIAL,
)
from phrchain.modules.supply.messages import SUPPLY_DISPENSED, Dispense
from phrchain.modules.supply.params import aware_of, groups_of

DISPENSING_ORG_TYPES: Final = prescribe.DISPENSING_ORG_TYPES


def _scanned_units(ctx: Context, m: Dispense, org: str
                   ) -> tuple[list[keeper.Unit], list[keeper.Product]]:
    """The scanned units, verified, and their products (each product read once)."""
    units, products, known = [], [], dict[str, keeper.Product]()
    for scan in m.scans:
        if scan.gtin not in known:
            known[scan.gtin] = product_of(ctx, scan.unit)
        found = keeper.get_unit(ctx.state, scan.unit)
        if found is None:
            raise UNKNOWN_SERIAL(scan.unit)
        if found["lot"] != scan.lot:
            raise LOT_MISMATCH(scan.unit)
        if found["expiry"] != scan.expiry:
            raise EXPIRY_MISMATCH(scan.unit)
        unit = check_usable(ctx, resolve(ctx.state, found), org)
        if unit["case"] is not None:
            raise IN_CASE(f"{scan.unit} is in case {unit['case']}")
        units.append(unit)
        products.append(known[scan.gtin])
    return units, products


def _antibiotics(products: list[keeper.Product], table: dict[str, Any]) -> list[str]:
    """AWaRe groups of the antibiotic ingredients dispensed."""
    return [aware_of(table, i["atc"]) or "unclassified"
            for p in products for i in p["ingredients"]
            if groups_of(table, [i["atc"]]).count("antibiotic")]


def dispense(ctx: Context, msg: Msg) -> None:
    m = Dispense.parse(msg)
    signer, org, org_type = acting_org_type(ctx)
    if not parties.has_role(signer, "pharmacist") or org_type not in DISPENSING_ORG_TYPES:
        raise UNAUTHORIZED("only a pharmacist of a pharmacy, hospital or clinic dispenses")
    version, table = current_params(ctx)
    if keeper.get_dispense(ctx.state, m.dispense) is not None:
        raise DISPENSE_EXISTS(m.dispense)
    if m.exemption is not None and m.exemption not in table["exemptions"]:
        raise INVALID_FIELD(f"exemption must be one of {table['exemptions']}")
    units, products = _scanned_units(ctx, m, org)
    prescriber = prescribe.prescriber_of(ctx, m.prescriber)
    for product in products:
        roles = table["prescriber_roles"][product["controlled"]]
        if not any(parties.has_role(prescriber, r) for r in roles):
            raise PRESCRIBER_NOT_ALLOWED(f"{product['controlled']} products need a "
                                         f"prescriber with a role in {roles}")
    aware = _antibiotics(products, table)
    if "reserve" in aware and m.stewardship not in table["stewardship_codes"]:
        raise STEWARDSHIP_REQUIRED(f"codes: {table['stewardship_codes']}")
    prescribe.check_fill(ctx, m)
    for unit in units:
        unit.update({"status": DISPENSED, "dispense": m.dispense})
        keeper.put_unit(ctx.state, unit)
    record: keeper.Dispense = {
        "dispense": m.dispense, "pharmacy": org, "pharmacist": ctx.signer,
        "prescriber": m.prescriber, "patient": m.patient, "rx": m.rx,
        "units": [u["unit"] for u in units], "day": gs1.day_of(ctx.time_ms),
        "days_supply": m.days_supply, "params_version": version,
        "stewardship": m.stewardship, "exemption": m.exemption, "alerts": [],
        "event_hash": m.event_hash, "height": ctx.height}
    if aware:
        access = all(a == "access" for a in aware)
        keeper.count_antibiotic(ctx.state, m.prescriber, access)
        keeper.count_antibiotic(ctx.state, str(prescriber["organization"]), access)
    record["alerts"] = monitor.evaluate(ctx, record, products, table)
    keeper.put_dispense(ctx.state, record)
    record_event(ctx, m.event_hash, "dispensing", org)
    ctx.emit(SUPPLY_DISPENSED, dispense=m.dispense, pharmacy=org, count=len(units),
             alerts=len(record["alerts"]), event_hash=m.event_hash)
