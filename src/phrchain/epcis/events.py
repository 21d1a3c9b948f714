"""The EPCIS 2.0 event of each supply message, and EPCIS documents.

The SDK builds the event from the message it is about to send and a time of its own,
puts the event's CBV 2.0 hash id into the message (``event_hash``) and keeps the event
(the EPCIS document stays off chain with the sender). Mapping (CBV 2.0 vocabulary):

- commission: ObjectEvent ADD, epcList, ILMD lotNumber + itemExpirationDate;
  commissioning / active
- pack: AggregationEvent ADD, parentID + childEPCs; packing / in_progress
- unpack: AggregationEvent DELETE, parentID (every child); unpacking
- ship, return, receive: ObjectEvent OBSERVE, units and cases, bizTransaction desadv =
  the shipment; shipping / in_transit, shipping / returned, receiving / in_progress
- decommission: ObjectEvent OBSERVE; destroyed: destroying / destroyed; stolen:
  decommissioning / stolen; sample: sampling / inactive; exported: decommissioning /
  inactive
- reverse: ObjectEvent OBSERVE; inspecting / active
- recall: ObjectEvent OBSERVE, quantityList with the lot's class; holding / recalled
- dispense: ObjectEvent OBSERVE; dispensing / dispensed

No event names a patient, a prescription or a prescriber."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, Final

from phrchain.epcis.barcode import case_uri, lot_uri, unit_uri
from phrchain.epcis.hashid import DEFAULT_PREFIXES, EpcisError, event_hash_id
from phrchain.modules.supply.gs1 import expiry_day

CONTEXT: Final = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
_DECOMMISSION: Final = {"destroyed": ("destroying", "destroyed"),
                        "stolen": ("decommissioning", "stolen"),
                        "sample": ("sampling", "inactive"),
                        "exported": ("decommissioning", "inactive")}


def iso_time(time_ms: int) -> str:
    moment = datetime.fromtimestamp(time_ms // 1000, UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{time_ms % 1000:03d}Z"


def _base(kind: str, time_ms: int, action: str, biz_step: str,
          disposition: str | None) -> dict[str, Any]:
    event: dict[str, Any] = {"type": kind, "eventTime": iso_time(time_ms),
                             "eventTimeZoneOffset": "+00:00", "action": action,
                             "bizStep": biz_step}
    if disposition is not None:
        event["disposition"] = disposition
    return event


def _epcs(msg: Mapping[str, Any]) -> list[str]:
    return [unit_uri(u) for u in msg.get("units", [])] \
        + [case_uri(c) for c in msg.get("cases", [])]


def _expiry_date(yymmdd: str) -> str:
    day = expiry_day(yymmdd)
    if day is None:
        raise EpcisError(f"expiry {yymmdd} is not a date")
    return (date(1970, 1, 1) + timedelta(days=day)).isoformat()


def event_for(msg: Mapping[str, Any], time_ms: int) -> dict[str, Any]:
    """The EPCIS event a supply message records (its ``event_hash`` is not read)."""
    kind = msg.get("type")
    desadv = [{"type": "desadv", "bizTransaction": f"urn:phrchain:shipment:{msg.get('shipment')}"}]
    if kind == "supply/commission":
        event = _base("ObjectEvent", time_ms, "ADD", "commissioning", "active")
        event["epcList"] = [unit_uri(f"{msg['gtin']}/{s}") for s in msg["serials"]]
        event["ilmd"] = {"cbvmda:lotNumber": msg["lot"],
                         "cbvmda:itemExpirationDate": _expiry_date(msg["expiry"])}
    elif kind == "supply/pack":
        event = _base("AggregationEvent", time_ms, "ADD", "packing", "in_progress")
        event.update(parentID=case_uri(msg["sscc"]), childEPCs=_epcs(msg))
    elif kind == "supply/unpack":
        event = _base("AggregationEvent", time_ms, "DELETE", "unpacking", None)
        event["parentID"] = case_uri(msg["sscc"])
    elif kind in ("supply/ship", "supply/return", "supply/receive"):
        step, disposition = {"supply/ship": ("shipping", "in_transit"),
                             "supply/return": ("shipping", "returned"),
                             "supply/receive": ("receiving", "in_progress")}[kind]
        event = _base("ObjectEvent", time_ms, "OBSERVE", step, disposition)
        event.update(epcList=_epcs(msg), bizTransactionList=desadv)
    elif kind == "supply/decommission":
        event = _base("ObjectEvent", time_ms, "OBSERVE", *_DECOMMISSION[msg["reason"]])
        event["epcList"] = _epcs(msg)
    elif kind == "supply/reverse":
        event = _base("ObjectEvent", time_ms, "OBSERVE", "inspecting", "active")
        event["epcList"] = _epcs(msg)
    elif kind == "supply/recall":
        event = _base("ObjectEvent", time_ms, "OBSERVE", "holding", "recalled")
        event["quantityList"] = [{"epcClass": lot_uri(msg["gtin"], msg["lot"])}]
    elif kind == "supply/dispense":
        event = _base("ObjectEvent", time_ms, "OBSERVE", "dispensing", "dispensed")
        event["epcList"] = [unit_uri(f"{s['gtin']}/{s['serial']}") for s in msg["scans"]]
    else:
        raise EpcisError(f"{kind} is not an EPCIS event")
    return event


def stamp(msg: Mapping[str, Any], time_ms: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """``(message with its event_hash, the event)``."""
    event = event_for(msg, time_ms)
    return {**msg, "event_hash": event_hash_id(event)}, event


def document(events: Sequence[Mapping[str, Any]], created_ms: int) -> dict[str, Any]:
    """An EPCIS 2.0 JSON-LD document holding ``events`` in order."""
    return {"@context": [CONTEXT, dict(DEFAULT_PREFIXES)], "type": "EPCISDocument",
            "schemaVersion": "2.0", "creationDate": iso_time(created_ms),
            "epcisBody": {"eventList": [dict(e) for e in events]}}


def _epcs_of(event: Mapping[str, Any]) -> set[str]:
    found = {event["parentID"]} if "parentID" in event else set()
    for name in ("epcList", "childEPCs", "inputEPCList", "outputEPCList"):
        found |= set(event.get(name, []))
    return found


def _shipments_of(event: Mapping[str, Any]) -> set[str]:
    prefix = "urn:phrchain:shipment:"
    return {t["bizTransaction"][len(prefix):] for t in event.get("bizTransactionList", [])
            if str(t.get("bizTransaction", "")).startswith(prefix)}


def select(events: Sequence[Mapping[str, Any]], *, unit: str | None = None,
           shipment: str | None = None) -> list[dict[str, Any]]:
    """The events (from the participants' EPCIS copies) about one unit — itself, and the
    cases it was packed in while they moved — or about one shipment, by event time."""
    chosen: list[Mapping[str, Any]] = []
    if unit is not None:
        wanted = {unit_uri(unit)}
        wanted |= {e["parentID"] for e in events
                   if e.get("type") == "AggregationEvent" and e.get("action") == "ADD"
                   and wanted & set(e.get("childEPCs", []))}
        chosen = [e for e in events if wanted & _epcs_of(e)]
    elif shipment is not None:
        chosen = [e for e in events if shipment in _shipments_of(e)]
    unique = {event_hash_id(e): dict(e) for e in chosen}
    return sorted(unique.values(), key=lambda e: (e["eventTime"], event_hash_id(e)))
