"""The only code that reads or writes the ``supply/`` key prefix.

State layout (values canonical JSON)::

    supply/pv                         -> current parameter version (integer)
    supply/p/<version:08d>            -> {version, height, params}
    supply/g/<gtin14>                 -> product
    supply/u/<gtin14>/<serial>        -> unit
    supply/c/<sscc>                   -> case
    supply/cu/<sscc>/<gtin14>/<serial> -> b"1"   units packed in a case
    supply/cc/<sscc>/<child sscc>     -> b"1"   cases packed in a case (a pallet)

Custody follows EPCIS aggregation: a packed unit's (or case's) ``owner``, ``shipment``
and in-transit state are its outermost container's, whatever its own record says, until
it is unpacked (``custody.resolve``); shipping or receiving a case writes the case only.
    supply/s/<shipment>               -> shipment
    supply/r/<gtin14>/<lot>           -> recall
    supply/e/<event hash hex>         -> {event_hash, step, by, height}  every event
    supply/x/<event hash hex>         -> error declaration on that event
    supply/d/<dispense>               -> dispense
    supply/rx/<rx tag>                -> registered prescription and its fills
    supply/m/<patient tag>            -> monitoring state (recent supplies, courses)
    supply/h/<patient tag>/<height:012d>/<dispense> -> b"1"   a patient tag's history
    supply/a/<alert>                  -> alert
    supply/ao/<alert>                 -> b"1"   open alerts
    supply/ab/<did>                   -> {total, access}  antibiotic dispenses
    supply/hr/<patient tag>/<height:012d>/<reader> -> statutory history read
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes
from phrchain.modules.supply import keys
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"


class Product(TypedDict):
    gtin: str
    name: str
    ingredients: list[dict[str, Any]]   # [{rxnorm, atc, ug}]
    dose_form: str
    dose_units: int
    controlled: str
    manufacturer: str
    height: int


class Decommissioning(TypedDict):
    reason: str
    by: str                              # the organization
    day: int
    prior: str                           # the status before


class Unit(TypedDict):
    unit: str                            # <gtin14>/<serial>
    lot: str
    expiry: str                          # YYMMDD
    status: str                          # active|in_transit|dispensed|<decommission reason>
    owner: str                           # custodian organization
    case: str | None
    shipment: str | None
    decommission: Decommissioning | None
    dispense: str | None
    height: int


class Case(TypedDict):
    sscc: str
    owner: str                           # custodian (its parent's while packed)
    units: int                           # units packed directly in it
    cases: int                           # cases packed in it (a pallet)
    parent: str | None                   # the case (pallet) it is packed in
    shipment: str | None                 # (its parent's while packed)
    height: int


class Shipment(TypedDict):
    shipment: str
    kind: str                            # ship | return
    sender: str
    to: str
    units: list[str]
    cases: list[str]
    count: int                           # units moved (loose and in the cases)
    pending: list[str]                   # units not yet received
    status: str                          # in_transit | received | discrepancy
    event_hash: str
    receipts: list[str]                  # event hash ids of the receipts
    height: int
    time_ms: int


class Dispense(TypedDict):
    dispense: str
    pharmacy: str
    pharmacist: str
    prescriber: str
    patient: str                         # monitoring tag
    rx: str                              # monitoring tag of the prescription
    units: list[str]
    day: int
    days_supply: int
    params_version: int
    stewardship: str | None
    exemption: str | None
    alerts: list[str]
    event_hash: str
    height: int


class Rx(TypedDict):
    rx: str                              # monitoring tag of the prescription
    patient: str                         # monitoring tag of the patient
    prescriber: str
    commitment: str                      # salted commitment to record, quantity, refills
    quantity: int                        # packs per fill at most
    refills: int
    valid_days: int
    day: int                             # UTC day of registration
    status: str                          # active | cancelled
    fills: int
    height: int


class Alert(TypedDict):
    alert: str
    kind: str
    patient: str                         # monitoring tag
    dispense: str
    detail: int                          # the measured value (README "Alerts")
    notify: list[str]                    # prescriber DID, pharmacy DID, "regulator", "patient"
    status: str                          # open | closed
    outcome: str | None
    closed_by: str | None
    height: int
    time_ms: int
    closed_height: int | None


def _get(state: Reader, key: bytes) -> Any:
    return json_get(state, key)


def params_version(state: Reader) -> int:
    found = json_get(state, keys.PARAMS_VERSION)
    return 0 if found is None else int(found)


def params(state: Reader, version: int | None = None) -> dict[str, Any] | None:
    """The parameter table of ``version`` (default: the current one), or None."""
    version = params_version(state) if version is None else version
    found = json_get(state, keys.params_key(version)) if version else None
    return None if found is None else dict(found["params"])


def params_raw(state: Reader, version: int) -> bytes | None:
    """The stored bytes of version ``version``'s record (what ``params`` decodes)."""
    return state.get(keys.params_key(version)) if version else None


def params_record(state: Reader, version: int) -> dict[str, Any] | None:
    found: dict[str, Any] | None = json_get(state, keys.params_key(version))
    return found


def put_params(state: Overlay, table: dict[str, Any], height: int) -> int:
    version = params_version(state) + 1
    json_put(state, keys.params_key(version),
             {"version": version, "height": height, "params": table})
    json_put(state, keys.PARAMS_VERSION, version)
    return version


def get_product(state: Reader, gtin: str) -> Product | None:
    found: Product | None = _get(state, keys.product_key(gtin))
    return found


def put_product(state: Overlay, product: Product) -> None:
    json_put(state, keys.product_key(product["gtin"]), product)


def get_unit(state: Reader, unit: str) -> Unit | None:
    found: Unit | None = _get(state, keys.unit_key(unit))
    return found


def put_unit(state: Overlay, unit: Unit) -> None:
    json_put(state, keys.unit_key(unit["unit"]), unit)


def get_case(state: Reader, sscc: str) -> Case | None:
    found: Case | None = _get(state, keys.case_key(sscc))
    return found


def put_case(state: Overlay, case: Case) -> None:
    json_put(state, keys.case_key(case["sscc"]), case)


def case_units(state: Reader, sscc: str) -> list[str]:
    return list(suffixes(state, keys.case_prefix(sscc)))


def pack_unit(state: Overlay, sscc: str, unit: str) -> None:
    state.set(keys.case_prefix(sscc) + unit.encode(), _MARK)


def unpack_unit(state: Overlay, sscc: str, unit: str) -> None:
    state.delete(keys.case_prefix(sscc) + unit.encode())


def case_cases(state: Reader, sscc: str) -> list[str]:
    return list(suffixes(state, keys.case_cases_prefix(sscc)))


def pack_case(state: Overlay, parent: str, sscc: str) -> None:
    state.set(keys.case_cases_prefix(parent) + sscc.encode(), _MARK)


def unpack_case(state: Overlay, parent: str, sscc: str) -> None:
    state.delete(keys.case_cases_prefix(parent) + sscc.encode())


def get_shipment(state: Reader, shipment: str) -> Shipment | None:
    found: Shipment | None = _get(state, keys.shipment_key(shipment))
    return found


def put_shipment(state: Overlay, shipment: Shipment) -> None:
    json_put(state, keys.shipment_key(shipment["shipment"]), shipment)


def recall(state: Reader, gtin: str, lot: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = _get(state, keys.recall_key(gtin, lot))
    return found


def put_recall(state: Overlay, gtin: str, lot: str, record: dict[str, Any]) -> None:
    json_put(state, keys.recall_key(gtin, lot), record)


def get_event(state: Reader, digest: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = _get(state, keys.event_key(digest))
    return found


def put_event(state: Overlay, digest: str, record: dict[str, Any]) -> None:
    json_put(state, keys.event_key(digest), record)


def get_error(state: Reader, digest: str) -> dict[str, Any] | None:
    found: dict[str, Any] | None = _get(state, keys.error_key(digest))
    return found


def put_error(state: Overlay, digest: str, record: dict[str, Any]) -> None:
    json_put(state, keys.error_key(digest), record)


def get_dispense(state: Reader, dispense: str) -> Dispense | None:
    found: Dispense | None = _get(state, keys.dispense_key(dispense))
    return found


def put_dispense(state: Overlay, record: Dispense) -> None:
    json_put(state, keys.dispense_key(record["dispense"]), record)
    state.set(keys.history_prefix(record["patient"])
              + f"{record['height']:012d}/{record['dispense']}".encode(), _MARK)


def history(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    """``<height:012d>/<dispense>`` of a patient tag's dispenses, oldest first."""
    return suffixes(state, keys.history_prefix(patient), after)


def get_rx(state: Reader, rx: str) -> Rx | None:
    found: Rx | None = _get(state, keys.rx_key(rx))
    return found


def put_rx(state: Overlay, record: Rx) -> None:
    json_put(state, keys.rx_key(record["rx"]), record)


def monitor(state: Reader, patient: str) -> dict[str, Any]:
    found = _get(state, keys.monitor_key(patient))
    return {"supplies": [], "courses": {}} if found is None else dict(found)


def put_monitor(state: Overlay, patient: str, record: dict[str, Any]) -> None:
    json_put(state, keys.monitor_key(patient), record)


def get_alert(state: Reader, alert: str) -> Alert | None:
    found: Alert | None = _get(state, keys.alert_key(alert))
    return found


def put_alert(state: Overlay, alert: Alert) -> None:
    json_put(state, keys.alert_key(alert["alert"]), alert)
    if alert["status"] == "open":
        state.set(keys.open_alert_key(alert["alert"]), _MARK)
    else:
        state.delete(keys.open_alert_key(alert["alert"]))


def open_alerts(state: Reader, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.OPEN_ALERT, after)


def all_alerts(state: Reader, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.ALERT, after)


def antibiotics(state: Reader, party: str) -> dict[str, int]:
    found = _get(state, keys.antibiotics_key(party))
    return {"total": 0, "access": 0} if found is None else dict(found)


def count_antibiotic(state: Overlay, party: str, access: bool) -> None:
    counts = antibiotics(state, party)
    counts["total"] += 1
    counts["access"] += int(access)
    json_put(state, keys.antibiotics_key(party), counts)


def put_history_read(state: Overlay, patient: str, record: dict[str, Any]) -> None:
    json_put(state, keys.history_read_prefix(patient)
             + f"{record['height']:012d}/{record['reader']}".encode(), record)


def history_reads(state: Reader, patient: str) -> list[dict[str, Any]]:
    return [dict(json_get(state, keys.history_read_prefix(patient) + k.encode()))
            for k in suffixes(state, keys.history_read_prefix(patient))]
