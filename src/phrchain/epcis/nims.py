"""NIMS-style statutory controlled-substance report (dispensing, administration and
disposal, as Korea's Narcotics Information Management System asks of a handler),
*generated* from the ledger and the pharmacy's own store (``client/pharmacy_log.py``),
never typed in: the packs, lots, expiries, products, prescriber and day of each dispense
come from the chain; the patient reference and what the ward administered come from the
pharmacy's store.

One row per pack and controlled ingredient, columns (``COLUMNS``):

- ``date`` — UTC date (YYYY-MM-DD): the block day of a dispense; the time the store
  gives for an administration and for the wasted remainder it leaves;
- ``kind`` — ``dispense``, ``administration`` or ``disposal``;
- ``reporter`` — the pharmacy's DID (the dispensing organization on chain);
- ``dispense`` — the dispense id on chain;
- ``gtin``, ``serial``, ``lot``, ``expiry`` (YYMMDD) — the pack, from the chain;
- ``product``, ``controlled`` (``narcotic``/``psychotropic``), ``rxnorm`` — the product;
- ``dose_units`` — dose units moved (a dispense: the whole pack; otherwise empty);
- ``amount_mg`` — the ingredient amount in mg (exact decimal from integer µg);
- ``prescriber`` — the prescriber's DID on chain;
- ``patient_ref`` — the pharmacy's own patient reference (from its store);
- ``reason`` — ``wasted_remainder`` on the disposal of what a fractional dose left;
- ``event_hash`` — the dispense's CBV 2.0 event hash id.

A pack with administrations gets one ``administration`` row per entry and, when less
than the pack holds was given, one ``disposal`` row for the remainder (a 50 mg ampoule
of which 30 mg was given: 20 mg wasted). Administrations are of single-ingredient packs;
more than the pack holds is refused (``pharmacy/5``)."""

from __future__ import annotations

import datetime
from collections.abc import Mapping, Sequence
from typing import Any, Final

from phrchain.epcis.errors import BAD_ADMINISTRATION

COLUMNS: Final = ("date", "kind", "reporter", "dispense", "gtin", "serial", "lot", "expiry",
                  "product", "controlled", "rxnorm", "dose_units", "amount_mg",
                  "prescriber", "patient_ref", "reason", "event_hash")
DAY_MS: Final = 86_400_000


def mg(ug: int) -> str:
    """Integer micrograms as an exact decimal number of milligrams (``20000`` → ``20``,
    ``2500`` → ``2.5``)."""
    whole, rest = divmod(ug, 1000)
    return str(whole) if not rest else f"{whole}.{rest:03d}".rstrip("0")


def _date(day: int) -> str:
    return (datetime.date(1970, 1, 1) + datetime.timedelta(days=day)).isoformat()


def _administered(unit: str, product: Mapping[str, Any],
                  given: list[Mapping[str, Any]], base: dict[str, Any]) -> list[dict[str, Any]]:
    if len(product["ingredients"]) != 1:
        raise BAD_ADMINISTRATION(f"{unit}: administrations are of single-ingredient packs")
    held = int(product["ingredients"][0]["ug"]) * int(product["dose_units"])
    total = sum(int(g["given_ug"]) for g in given)
    if total > held:
        raise BAD_ADMINISTRATION(f"{unit}: {mg(total)} mg given of a {mg(held)} mg pack")
    rows = [{**base, "date": _date(int(g["time_ms"]) // DAY_MS), "kind": "administration",
             "dose_units": "", "amount_mg": mg(int(g["given_ug"]))}
            for g in sorted(given, key=lambda g: int(g["time_ms"]))]
    if total < held:
        last = max(int(g["time_ms"]) for g in given)
        rows.append({**base, "date": _date(last // DAY_MS), "kind": "disposal",
                     "dose_units": "", "amount_mg": mg(held - total),
                     "reason": "wasted_remainder"})
    return rows


def nims_rows(log: Mapping[str, Any], dispenses: Mapping[str, Mapping[str, Any]],
              units: Mapping[str, Mapping[str, Any]],
              products: Mapping[str, Mapping[str, Any]],
              classes: Sequence[str] = ("narcotic", "psychotropic")) -> list[dict[str, Any]]:
    """The report's rows in the order of the store's dispenses. ``dispenses``, ``units``
    and ``products``: the chain's records (``supply/dispense``, ``supply/unit``,
    ``supply/product``) of the store's dispenses; an administration must name a pack of
    one of them."""
    given: dict[tuple[str, str], list[Mapping[str, Any]]] = {}
    for entry in log["administrations"]:
        d = dispenses.get(entry["dispense"])
        if d is None or entry["unit"] not in d["units"]:
            raise BAD_ADMINISTRATION(f"{entry['unit']} is not a pack of dispense "
                                     f"{entry['dispense']}")
        given.setdefault((entry["dispense"], entry["unit"]), []).append(entry)
    out: list[dict[str, Any]] = []
    for kept in log["dispenses"]:
        d = dispenses[kept["dispense"]]
        for ref in d["units"]:
            gtin, _, serial = ref.partition("/")
            product, unit = products[gtin], units[ref]
            if product["controlled"] not in classes:
                continue
            base = {"reporter": d["pharmacy"], "dispense": d["dispense"], "gtin": gtin,
                    "serial": serial, "lot": unit["lot"], "expiry": unit["expiry"],
                    "product": product["name"], "controlled": product["controlled"],
                    "rxnorm": product["ingredients"][0]["rxnorm"],
                    "prescriber": d["prescriber"], "patient_ref": kept["patient_ref"],
                    "reason": "", "event_hash": d["event_hash"]}
            for ingredient in product["ingredients"]:
                out.append({**base, "date": _date(int(d["day"])), "kind": "dispense",
                            "rxnorm": ingredient["rxnorm"],
                            "dose_units": str(product["dose_units"]),
                            "amount_mg": mg(int(ingredient["ug"]) * int(product["dose_units"]))})
            if (d["dispense"], ref) in given:
                out += _administered(ref, product, given[(d["dispense"], ref)], base)
    return out
