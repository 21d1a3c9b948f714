"""Controlled-substance movement reports (NIMS-style: what a handler received, dispensed,
disposed of, lost and exported) generated from the sender's EPCIS copy and the chain's
product data — never typed in. The caller keeps only events whose event hash id is on
chain (``phrchain supply report`` checks each), so a report says what the ledger holds.

One row per pack: ``date`` (UTC), ``kind`` (``receipt``, ``dispense``, ``disposal``,
``theft_or_loss``, ``sample``, ``export``), ``gtin``, ``serial``, ``lot`` (from the
commissioning ILMD when the copy holds it), ``product``, ``controlled``, ``dose_units``,
``event_hash``. Not covered: the wasted remainder of fractional doses (administration is
not an event here)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from phrchain.epcis.hashid import event_hash_id

SGTIN: Final = "https://id.gs1.org/01/"
_KINDS: Final = {("receiving", "in_progress"): "receipt",
                 ("dispensing", "dispensed"): "dispense",
                 ("destroying", "destroyed"): "disposal",
                 ("decommissioning", "stolen"): "theft_or_loss",
                 ("sampling", "inactive"): "sample",
                 ("decommissioning", "inactive"): "export"}
COLUMNS: Final = ("date", "kind", "gtin", "serial", "lot", "product", "controlled",
                  "dose_units", "event_hash")


def _word(value: str) -> str:
    return value.rsplit("-", 1)[-1].rsplit(":", 1)[-1]


def _unit(uri: str) -> tuple[str, str] | None:
    if not uri.startswith(SGTIN) or "/21/" not in uri:
        return None
    gtin, _, serial = uri[len(SGTIN):].partition("/21/")
    return gtin, serial


def rows(events: Sequence[Mapping[str, Any]], products: Mapping[str, Mapping[str, Any]],
         classes: Sequence[str] = ("narcotic", "psychotropic")) -> list[dict[str, Any]]:
    """The report's rows, in event order, for products of ``classes``. ``products``: the
    chain's product records by GTIN (``supply/product``); packs of other GTINs are left
    out. Receipts of cases list only the loose units they name."""
    lots: dict[str, str] = {}
    for event in events:
        if _word(str(event.get("bizStep", ""))) == "commissioning":
            lot = event.get("ilmd", {}).get("cbvmda:lotNumber")
            for uri in event.get("epcList", []):
                if lot is not None:
                    lots[uri] = str(lot)
    out = []
    for event in events:
        kind = _KINDS.get((_word(str(event.get("bizStep", ""))),
                           _word(str(event.get("disposition", "")))))
        if kind is None:
            continue
        for uri in event.get("epcList", []):
            unit = _unit(uri)
            product = products.get(unit[0]) if unit else None
            if unit is None or product is None or product["controlled"] not in classes:
                continue
            out.append({"date": str(event["eventTime"])[:10], "kind": kind,
                        "gtin": unit[0], "serial": unit[1], "lot": lots.get(uri, ""),
                        "product": product["name"], "controlled": product["controlled"],
                        "dose_units": product["dose_units"],
                        "event_hash": event_hash_id(event)})
    return out
