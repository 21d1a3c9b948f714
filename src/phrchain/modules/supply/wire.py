"""The supply messages' vocabulary: message type and event names, the enumerations,
patterns and limits their fields obey, and the stateless field checks every message
parser shares (``messages.py`` re-exports all of it)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from phrchain.modules import fields
from phrchain.modules.supply import gs1
from phrchain.modules.supply.errors import INVALID_FIELD
from phrchain.modules.supply.params import CODE_RE

SET_PARAMS: Final = "supply/set_params"
REGISTER_PRODUCT: Final = "supply/register_product"
COMMISSION: Final = "supply/commission"
PACK: Final = "supply/pack"
UNPACK: Final = "supply/unpack"
SHIP: Final = "supply/ship"
RETURN: Final = "supply/return"
RECEIVE: Final = "supply/receive"
DECOMMISSION: Final = "supply/decommission"
REVERSE: Final = "supply/reverse"
RECALL: Final = "supply/recall"
DECLARE_ERROR: Final = "supply/declare_error"
DISPENSE: Final = "supply/dispense"
CLOSE_ALERT: Final = "supply/close_alert"
READ_HISTORY: Final = "supply/read_history"
PRESCRIBE: Final = "supply/prescribe"
CANCEL_RX: Final = "supply/cancel_rx"

# Events the handlers emit (``Event.type``), for clients that filter events.
SUPPLY_PARAMS_SET: Final = "supply.params_set"
SUPPLY_PRODUCT_REGISTERED: Final = "supply.product_registered"
SUPPLY_COMMISSIONED: Final = "supply.commissioned"
SUPPLY_PACKED: Final = "supply.packed"
SUPPLY_UNPACKED: Final = "supply.unpacked"
SUPPLY_SHIPPED: Final = "supply.shipped"
SUPPLY_RECEIVED: Final = "supply.received"
SUPPLY_DISCREPANCY: Final = "supply.discrepancy"
SUPPLY_DECOMMISSIONED: Final = "supply.decommissioned"
SUPPLY_REVERSED: Final = "supply.reversed"
SUPPLY_RECALLED: Final = "supply.recalled"
SUPPLY_ERROR_DECLARED: Final = "supply.error_declared"
SUPPLY_DISPENSED: Final = "supply.dispensed"
SUPPLY_ALERT: Final = "supply.alert"
SUPPLY_ALERT_CLOSED: Final = "supply.alert_closed"
SUPPLY_HISTORY_READ: Final = "supply.history_read"
SUPPLY_PRESCRIBED: Final = "supply.prescribed"
SUPPLY_RX_CANCELLED: Final = "supply.rx_cancelled"
EVENTS: Final = frozenset({
    SUPPLY_PARAMS_SET, SUPPLY_PRODUCT_REGISTERED, SUPPLY_COMMISSIONED, SUPPLY_PACKED,
    SUPPLY_UNPACKED, SUPPLY_SHIPPED, SUPPLY_RECEIVED, SUPPLY_DISCREPANCY,
    SUPPLY_DECOMMISSIONED, SUPPLY_REVERSED, SUPPLY_RECALLED, SUPPLY_ERROR_DECLARED,
    SUPPLY_DISPENSED, SUPPLY_ALERT, SUPPLY_ALERT_CLOSED, SUPPLY_HISTORY_READ,
    SUPPLY_PRESCRIBED, SUPPLY_RX_CANCELLED})

DECOMMISSION_REASONS: Final = frozenset({"destroyed", "stolen", "sample", "exported"})
ALERT_OUTCOMES: Final = frozenset({"false_positive", "justified", "intervened", "referred"})
ERROR_REASONS: Final = frozenset({"did_not_occur", "incorrect_data"})
HISTORY_PURPOSES: Final = frozenset({"strong_opioid", "controlled_prescription"})
EVENT_HASH_RE: Final = re.compile(r"ni:///sha-256;([0-9a-f]{64})\?ver=CBV2\.0")
DOSE_FORM_RE: Final = re.compile(r"[a-z][a-z_]{0,31}")
NAME_RE: Final = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
SIGNATURE_RE: Final = re.compile(r"[0-9a-f]{128}")
MAX_DAY: Final = 10**6      # UTC day numbers (year 4707)
MAX_VALID_DAYS: Final = 366  # days a registered prescription may be valid
MAX_UNITS: Final = 200      # units per message (a tx writes at most 512 keys)
MAX_CASES: Final = 20
MAX_INGREDIENTS: Final = 8
# Strengths in micrograms per dose unit (at most 100 g) and dose units per pack: their
# products over a dispense (8 ingredients, 50 packs) stay below 2**53 (canonical JSON).
MAX_UG: Final = 10**8
MAX_DOSE_UNITS: Final = 10_000


def text_field(msg: Mapping[str, Any], name: str, pattern: re.Pattern[str], what: str) -> str:
    return fields.matching(msg, name, pattern, INVALID_FIELD, what)


def gtin_field(msg: Mapping[str, Any], name: str = "gtin") -> str:
    """A GTIN-14 with a valid check digit; a GTIN-13 (the Korean KD code), -12 or -8 is
    accepted and normalised to 14 digits."""
    value = msg.get(name)
    normal = gs1.normalize_gtin(value) if isinstance(value, str) else None
    if normal is None:
        raise INVALID_FIELD(f"{name} must be a GTIN (8, 12, 13 or 14 digits) with a valid "
                            f"check digit")
    return normal


def event_hash_field(msg: Mapping[str, Any], name: str = "event_hash") -> str:
    return text_field(msg, name, EVENT_HASH_RE,
                 "a CBV 2.0 event hash id ni:///sha-256;<64 hex>?ver=CBV2.0")


def is_sgtin(value: str) -> bool:
    """``<GTIN-14>/<serial>``: the unit references of every message and state key."""
    gtin, sep, serial = value.partition("/")
    return bool(sep) and gs1.valid_key(gtin, 14) and gs1.SERIAL_RE.fullmatch(serial) is not None


def sorted_list(msg: Mapping[str, Any], name: str, ok: Any, what: str, high: int,
                 low: int = 0) -> tuple[str, ...]:
    return fields.sorted_set(msg, name, INVALID_FIELD, ok, what, high, low)


def units_field(msg: Mapping[str, Any], name: str = "units", low: int = 0) -> tuple[str, ...]:
    return sorted_list(msg, name, is_sgtin, "units <GTIN-14>/<serial>", MAX_UNITS, low)


def cases_field(msg: Mapping[str, Any]) -> tuple[str, ...]:
    return sorted_list(msg, "cases", gs1.valid_sscc, "SSCCs (18 digits)", MAX_CASES)


def sscc_field(msg: Mapping[str, Any]) -> str:
    value = msg.get("sscc")
    if not isinstance(value, str) or not gs1.valid_sscc(value):
        raise INVALID_FIELD("sscc must be an SSCC: 18 digits with a valid check digit")
    return value


def code_field(msg: Mapping[str, Any], name: str) -> str | None:
    if name not in msg:
        return None
    return text_field(msg, name, CODE_RE, "a code [a-z][a-z0-9_]{0,31}")


def units_and_cases(msg: Mapping[str, Any]) -> tuple[tuple[str, ...], tuple[str, ...]]:
    units, cases = units_field(msg), cases_field(msg)
    if not units and not cases:
        raise INVALID_FIELD("name at least one unit or case")
    return units, cases

