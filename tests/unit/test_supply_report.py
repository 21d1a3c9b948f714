"""Controlled-substance reports from an EPCIS copy: one row per controlled pack and step,
with the lot from the commissioning event, nothing for other products or steps."""

from __future__ import annotations

from phrchain.epcis.events import event_for
from phrchain.epcis.report import rows

GTIN, OTHER = "08800000000015", "08800000000022"
PRODUCTS = {GTIN: {"gtin": GTIN, "name": "Morphine 10 mg", "controlled": "narcotic",
                   "dose_units": 30},
            OTHER: {"gtin": OTHER, "name": "Amoxicillin", "controlled": "none",
                    "dose_units": 21}}


def test_rows_per_controlled_pack_and_step() -> None:
    t = 1_700_000_000_000
    events = [
        event_for({"type": "supply/commission", "gtin": GTIN, "lot": "L7",
                   "expiry": "301231", "serials": ["A", "B", "C"]}, t),
        event_for({"type": "supply/receive", "shipment": "ab" * 16,
                   "units": [f"{OTHER}/X", f"{GTIN}/A"]}, t + 1),
        event_for({"type": "supply/dispense",
                   "scans": [{"gtin": GTIN, "serial": "A"}, {"gtin": OTHER, "serial": "X"}]},
                  t + 2),
        event_for({"type": "supply/decommission", "units": [f"{GTIN}/B"],
                   "reason": "stolen"}, t + 3),
        event_for({"type": "supply/decommission", "units": [f"{GTIN}/C"],
                   "reason": "destroyed"}, t + 4),
        event_for({"type": "supply/pack", "sscc": "088000000000000015",
                   "units": [f"{GTIN}/A"]}, t + 5),
    ]
    got = [(r["kind"], r["serial"], r["lot"], r["dose_units"]) for r in rows(events, PRODUCTS)]
    assert got == [("receipt", "A", "L7", 30), ("dispense", "A", "L7", 30),
                   ("theft_or_loss", "B", "L7", 30), ("disposal", "C", "L7", 30)]
    assert rows(events, PRODUCTS, classes=("psychotropic",)) == []
    assert {r["date"] for r in rows(events, PRODUCTS)} == {"2023-11-14"}
