"""Controlled-substance monitoring, run on every dispense: deterministic integer rules
over a patient tag's recent supplies. A rule never refuses a dispense; it raises an
alert (state, provable), which a notified party or a regulator closes.

Days are UTC day numbers of block times; a supply dispensed on day ``s`` for ``d`` days
covers days ``s … s+d-1`` (``end = s + d``, exclusive). Rules (README "Monitoring"):

- ``mme_high``: the morphine milligram equivalents per day of every opioid supply
  covering today reach ``mme_per_day`` (exact fractions, no rounding).
- ``multiple_providers``: controlled dispenses of the last ``window_days`` days
  (day ``today - window_days + 1`` … today) come from at least ``providers``
  prescribers and at least ``pharmacies`` pharmacies.
- ``opioid_benzodiazepine``: an opioid and a benzodiazepine supply cover today.
- ``zolpidem_dose``: zolpidem above ``zolpidem_ug_per_day`` per day of supply.
- ``long_use:<group>``: a continuous course of a long-use group longer than
  ``long_use_days``; ``appetite_combined``: two appetite suppressants at once.

An exemption code (e.g. cancer pain) on the dispense suppresses ``mme_high`` and the
long-use rules for it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.encoding import MAX_SAFE_INTEGER
from phrchain.core.hashing import tagged_hash
from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.supply import keeper
from phrchain.modules.supply.custody import acting_org
from phrchain.modules.supply.errors import ALERT_CLOSED, UNAUTHORIZED, UNKNOWN_ALERT
from phrchain.modules.supply.messages import (
    SUPPLY_ALERT,
    SUPPLY_ALERT_CLOSED,
    SUPPLY_HISTORY_READ,
    CloseAlert,
    ReadHistory,
)
from phrchain.modules.supply.params import groups_of

MME_SCALE: Final = 10**6     # micrograms x (factor x 1000) per milligram MME
# A supply's MME total saturates here (≈ 9·10⁹ mg MME, far above any real dispense):
# state holds integers canonical JSON carries, and the rules compare exactly below it.
MME_CAP: Final = MAX_SAFE_INTEGER


def alert_id(dispense: str, kind: str) -> str:
    return tagged_hash("phrchain/supply/alert-id/v1",
                       encoding.encode({"dispense": dispense, "kind": kind})).hex()[:32]


def _supply(record: keeper.Dispense, products: list[keeper.Product],
            table: Mapping[str, Any]) -> dict[str, Any]:
    """What the rules remember of one dispense."""
    factors = table["mme_milli"]
    zolpidem = table["groups"]["zolpidem"]
    mme = zolpidem_ug = 0
    groups: set[str] = set()
    ingredients: set[str] = set()
    for product in products:
        for i in product["ingredients"]:
            amount = product["dose_units"] * i["ug"]
            mme += amount * int(factors.get(i["rxnorm"], 0))
            if any(i["atc"].startswith(p) for p in zolpidem):
                zolpidem_ug += amount
            found = groups_of(table, [i["atc"]])
            groups |= set(found)
            if "appetite_suppressant" in found:
                ingredients.add(i["rxnorm"])
    return {"dispense": record["dispense"], "start": record["day"],
            "end": record["day"] + record["days_supply"], "days": record["days_supply"],
            "groups": sorted(groups), "mme": min(mme, MME_CAP), "zolpidem_ug": zolpidem_ug,
            "appetite": sorted(ingredients), "prescriber": record["prescriber"],
            "pharmacy": record["pharmacy"],
            "controlled": any(p["controlled"] != "none" for p in products),
            "exempt": record["exemption"] is not None}


def _mme_per_day_at_least(supplies: list[dict[str, Any]], threshold: int) -> bool:
    """Σ mme_i / days_i ≥ threshold · MME_SCALE, exactly (common denominator)."""
    if not supplies:
        return False
    common = math.lcm(*(s["days"] for s in supplies))
    total = sum(int(s["mme"]) * (common // int(s["days"])) for s in supplies)
    return total >= threshold * MME_SCALE * common


def _mme_per_day(supplies: list[dict[str, Any]]) -> int:
    return sum(int(s["mme"]) // int(s["days"]) for s in supplies) // MME_SCALE


def _rules(today: int, new: dict[str, Any], state: dict[str, Any],
           table: Mapping[str, Any]) -> list[tuple[str, int]]:
    limits = table["thresholds"]
    found: list[tuple[str, int]] = []
    supplies: list[dict[str, Any]] = state["supplies"]
    active = [s for s in supplies if s["start"] <= today < s["end"]]
    others = [s for s in active if s["dispense"] != new["dispense"]]
    opioids = [s for s in active if "opioid" in s["groups"] and s["mme"] and not s["exempt"]]
    if new["mme"] and not new["exempt"] \
            and _mme_per_day_at_least(opioids, int(limits["mme_per_day"])):
        found.append(("mme_high", _mme_per_day(opioids)))
    if new["controlled"]:
        recent = [s for s in supplies if s["controlled"]
                  and today - s["start"] < int(limits["window_days"])]
        prescribers = {s["prescriber"] for s in recent}
        pharmacies = {s["pharmacy"] for s in recent}
        if len(prescribers) >= int(limits["providers"]) \
                and len(pharmacies) >= int(limits["pharmacies"]):
            found.append(("multiple_providers", len(prescribers)))
    pairs = (("opioid", "benzodiazepine"), ("benzodiazepine", "opioid"))
    if any(a in new["groups"] and any(b in s["groups"] for s in others) for a, b in pairs):
        found.append(("opioid_benzodiazepine", len(others)))
    if new["zolpidem_ug"] > int(limits["zolpidem_ug_per_day"]) * new["days"]:
        found.append(("zolpidem_dose", new["zolpidem_ug"] // new["days"]))
    if new["appetite"] and any(s["appetite"] and s["appetite"] != new["appetite"]
                               for s in others):
        found.append(("appetite_combined", len(others)))
    return found


def _courses(today: int, new: dict[str, Any], state: dict[str, Any],
             table: Mapping[str, Any]) -> list[tuple[str, int]]:
    """Continue or start each long-use group's course; a course continues while the next
    supply is dispensed no later than the day the previous one runs out."""
    found = []
    limit = int(table["thresholds"]["long_use_days"])
    for group in table["long_use_groups"]:
        if group not in new["groups"]:
            continue
        start, end = state["courses"].get(group, (today, today))
        if today > end:
            start, end = today, today
        end = max(end, today) + new["days"]
        state["courses"][group] = [start, end]
        if end - start > limit and not new["exempt"]:
            found.append((f"long_use:{group}", end - start))
    return found


def evaluate(ctx: Context, record: keeper.Dispense, products: list[keeper.Product],
             table: Mapping[str, Any]) -> list[str]:
    """Add the dispense to its patient tag's monitoring state; store and announce the
    alerts it raises; return their ids."""
    today = record["day"]
    state = keeper.monitor(ctx.state, record["patient"])
    new = _supply(record, products, table)
    keep = int(table["thresholds"]["window_days"])
    state["supplies"] = [s for s in state["supplies"]
                         if s["end"] > today or today - s["start"] < keep] + [new]
    found = _rules(today, new, state, table) + _courses(today, new, state, table)
    keeper.put_monitor(ctx.state, record["patient"], state)
    ids = []
    for kind, detail in found:
        alert: keeper.Alert = {
            "alert": alert_id(record["dispense"], kind), "kind": kind,
            "patient": record["patient"], "dispense": record["dispense"], "detail": detail,
            "notify": [record["prescriber"], record["pharmacy"], "regulator", "patient"],
            "status": "open", "outcome": None, "closed_by": None, "height": ctx.height,
            "time_ms": ctx.time_ms, "closed_height": None}
        keeper.put_alert(ctx.state, alert)
        ids.append(alert["alert"])
        ctx.emit(SUPPLY_ALERT, alert=alert["alert"], kind=kind,
                 dispense=record["dispense"], prescriber=record["prescriber"],
                 pharmacy=record["pharmacy"])
    return ids


def close_alert(ctx: Context, msg: Msg) -> None:
    m = CloseAlert.parse(msg)
    signer, org = acting_org(ctx)
    alert = keeper.get_alert(ctx.state, m.alert)
    if alert is None:
        raise UNKNOWN_ALERT(m.alert)
    notified = ctx.signer in alert["notify"] or org in alert["notify"]
    if not notified and not parties.is_regulator_officer(ctx.state, signer):
        raise UNAUTHORIZED("only a notified prescriber or pharmacy, or a regulator, closes "
                           "an alert")
    if alert["status"] != "open":
        raise ALERT_CLOSED(m.alert)
    alert.update({"status": "closed", "outcome": m.outcome, "closed_by": ctx.signer,
                  "closed_height": ctx.height})
    keeper.put_alert(ctx.state, alert)
    ctx.emit(SUPPLY_ALERT_CLOSED, alert=m.alert, outcome=m.outcome, by=ctx.signer)


def read_history(ctx: Context, msg: Msg) -> None:
    """Record a prescriber's statutory read of a patient tag's history (README)."""
    m = ReadHistory.parse(msg)
    signer, org = acting_org(ctx)
    if not parties.has_role(signer, "physician") \
            or parties.org_type(ctx.state, org) not in ("hospital", "clinic"):
        raise UNAUTHORIZED("only a physician of a hospital or clinic reads a patient's "
                           "controlled-substance history")
    keeper.put_history_read(ctx.state, m.patient, {
        "reader": ctx.signer, "organization": org, "purpose": m.purpose,
        "height": ctx.height, "time_ms": ctx.time_ms})
    ctx.emit(SUPPLY_HISTORY_READ, reader=ctx.signer, organization=org, purpose=m.purpose)
