"""Supply queries. A single-key answer returns its ``key`` so the app attaches a proof
(a regulator proves an alert fired, and when, with ``alert``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.paging import number, object_id, page, paging, text
from phrchain.modules.supply import gs1, keeper, keys
from phrchain.modules.supply.custody import resolve, resolve_case
from phrchain.modules.supply.messages import EVENT_HASH_RE, is_sgtin
from phrchain.modules.supply.params import aware_of


def _gtin(data: Mapping[str, Any]) -> str:
    value = gs1.normalize_gtin(text(data, "gtin"))
    if value is None:
        raise BAD_QUERY("'gtin' must be a GTIN with a valid check digit")
    return value


def _tag(data: Mapping[str, Any], name: str) -> str:
    value = text(data, name)
    if len(value) != 64 or any(c not in "0123456789abcdef" for c in value):
        raise BAD_QUERY(f"'{name}' must be 64 lowercase hex characters (a monitoring tag)")
    return value


def params(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """``{version, height, params}`` of ``version`` (default: the current one), provable."""
    version = number(data, "version", keeper.params_version(state))
    return QueryResult(keeper.params_record(state, version), keys.params_key(version))


def product(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A product's master data, provable; ``aware`` per ingredient is derived from the
    current parameter table (so it is not part of the proved value)."""
    gtin = _gtin(data)
    found = keeper.get_product(state, gtin)
    table = keeper.params(state)
    if found is None or table is None:
        return QueryResult(found, keys.product_key(gtin))
    aware = {i["atc"]: aware_of(table, i["atc"]) for i in found["ingredients"]}
    return QueryResult({**found, "aware": aware}, None)


def unit(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    ref = text(data, "unit")
    if not is_sgtin(ref):
        raise BAD_QUERY("'unit' must be <GTIN-14>/<serial>")
    found = keeper.get_unit(state, ref)
    if found is None or found["case"] is None:
        return QueryResult(found, keys.unit_key(ref))
    # packed: its custody is its outermost case's (not one key's value, so no proof)
    return QueryResult(resolve(state, found))


def case(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A case with its custody (its pallet's while packed in one), the units packed in
    it (``contents``) and the cases (``children``, a pallet's)."""
    sscc = text(data, "sscc")
    if not gs1.valid_sscc(sscc):
        raise BAD_QUERY("'sscc' must be an SSCC")
    found = keeper.get_case(state, sscc)
    return QueryResult(None if found is None else
                       {**resolve_case(state, found), "contents": keeper.case_units(state, sscc),
                        "children": keeper.case_cases(state, sscc)})


def shipment(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    sid = object_id(data, "shipment")
    return QueryResult(keeper.get_shipment(state, sid), keys.shipment_key(sid))


def recall(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    gtin, lot = _gtin(data), text(data, "lot")
    return QueryResult(keeper.recall(state, gtin, lot), keys.recall_key(gtin, lot))


def event(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """An event hash id: who recorded it, at which height, and any error declared."""
    match = EVENT_HASH_RE.fullmatch(text(data, "event_hash"))
    if match is None:
        raise BAD_QUERY("'event_hash' must be a CBV 2.0 event hash id")
    found = keeper.get_event(state, match.group(1))
    error = keeper.get_error(state, match.group(1))
    if error is None:
        return QueryResult(found, keys.event_key(match.group(1)))
    return QueryResult(None if found is None else {**found, "error": error})


def dispense(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = object_id(data, "dispense")
    return QueryResult(keeper.get_dispense(state, did), keys.dispense_key(did))


def rx(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    tag = _tag(data, "rx")
    return QueryResult(keeper.get_rx(state, tag), keys.rx_key(tag))


def history(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A patient tag's dispenses, oldest first (the patient's own medication history;
    the tag comes from the pharmacy that holds the monitoring key)."""
    tag, pg = _tag(data, "patient"), paging(data)
    entries, after = page(pg, lambda a: keeper.history(state, tag, a))
    return QueryResult({"patient": tag, "dispenses": [e.split("/")[1] for e in entries],
                        "next": after})


def history_reads(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Every statutory read of a patient tag's history (who, for what, when): what the
    patient's client shows them, as break-glass reads are shown."""
    tag = _tag(data, "patient")
    return QueryResult({"patient": tag, "reads": keeper.history_reads(state, tag)})


def alert(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    aid = object_id(data, "alert")
    return QueryResult(keeper.get_alert(state, aid), keys.alert_key(aid))


def alerts(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Alert ids of the regulator's board: the open ones (``status`` ``open``, the
    default) or every alert, closed ones too (``all``)."""
    status = data.get("status", "open")
    if status not in ("open", "all"):
        raise BAD_QUERY("'status' must be 'open' or 'all'")
    ids, after = page(paging(data), lambda a: keeper.open_alerts(state, a)
                      if status == "open" else keeper.all_alerts(state, a))
    return QueryResult({"status": status, "alerts": ids, "next": after})


def antibiotics(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Antibiotic dispenses of a prescriber or institution, and the Access share in
    basis points (integer; null with no antibiotic dispense)."""
    party = text(data, "did")
    counts = keeper.antibiotics(state, party)
    share = counts["access"] * 10_000 // counts["total"] if counts["total"] else None
    return QueryResult({"did": party, **counts, "access_bps": share})


QUERIES: Final[Mapping[str, Query]] = {
    "params": params, "product": product, "unit": unit, "case": case,
    "shipment": shipment, "recall": recall, "event": event, "dispense": dispense,
    "rx": rx, "history": history, "alert": alert, "alerts": alerts,
    "antibiotics": antibiotics, "history_reads": history_reads,
}
