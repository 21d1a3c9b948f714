"""GS1 element strings as a barcode scanner sends them (GS1 General Specifications §3,
§7.8), and the GS1 Digital Link URIs of units, lots and cases.

Two input forms of the same data, both accepted:

- the human-readable form ``(01)08800000000015(17)301231(10)L1(21)S1``;
- the raw form a scanner sends: an optional symbology identifier (``]d2`` DataMatrix,
  ``]C1`` GS1-128, ``]Q3`` QR, ``]e0`` DataBar), then the application identifiers one
  after another, each variable-length field ended by FNC1, transmitted as the ASCII
  group separator (GS, 0x1D), unless it is the last.

The AIs a medicine pack or case carries are supported: 00 SSCC, 01 GTIN, 10 lot,
11 production date, 17 expiry, 21 serial; any other is refused (:class:`BarcodeError`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from phrchain.modules.supply.gs1 import EXPIRY_RE, check_digit, expiry_day, normalize_gtin

GS: Final = "\x1d"
SYMBOLOGY: Final = re.compile(r"\][A-Za-z][0-9A-Za-z]")
# AI -> fixed length, or None for variable (at most 20 characters)
AIS: Final[dict[str, int | None]] = {"00": 18, "01": 14, "10": None, "11": 6, "17": 6,
                                     "21": None}
_CSET82: Final = re.compile(r"[!\"%-?A-Z_a-z]{1,20}")
_BRACKETED: Final = re.compile(r"\((\d{2})\)")


class BarcodeError(ValueError):
    """Text that is not a GS1 element string phrchain accepts."""


@dataclass(frozen=True, slots=True)
class ElementString:
    gtin: str | None = None
    serial: str | None = None
    lot: str | None = None
    expiry: str | None = None
    sscc: str | None = None
    produced: str | None = None

    @property
    def unit(self) -> str:
        """``<GTIN-14>/<serial>``, the supply module's unit reference."""
        if self.gtin is None or self.serial is None:
            raise BarcodeError("a pack's code needs (01) GTIN and (21) serial")
        return f"{self.gtin}/{self.serial}"

    def scan(self) -> dict[str, str]:
        """The ``scans`` entry of ``supply/dispense``: GTIN, serial, lot and expiry."""
        if self.lot is None or self.expiry is None:
            raise BarcodeError("dispensing needs (10) lot and (17) expiry too")
        return {"gtin": self.unit.split("/")[0], "serial": str(self.serial),
                "lot": self.lot, "expiry": self.expiry}


def _check(ai: str, value: str) -> str:
    fixed = AIS[ai]
    if fixed is not None and (len(value) != fixed or not value.isdigit()):
        raise BarcodeError(f"({ai}) must be {fixed} digits")
    if ai == "01":
        gtin = normalize_gtin(value)
        if gtin is None:
            raise BarcodeError(f"(01) {value} has a wrong check digit")
        return gtin
    if ai == "00" and check_digit(value[:-1]) != int(value[-1]):
        raise BarcodeError(f"(00) {value} has a wrong check digit")
    if ai in ("11", "17") and (EXPIRY_RE.fullmatch(value) is None or expiry_day(value) is None):
        raise BarcodeError(f"({ai}) {value} is not a date YYMMDD")
    if fixed is None and _CSET82.fullmatch(value) is None:
        raise BarcodeError(f"({ai}) must be 1 to 20 characters of GS1 CSET 82")
    return value


def _pairs_raw(text: str) -> list[tuple[str, str]]:
    pairs = []
    rest = text
    while rest:
        ai = rest[:2]
        if ai not in AIS:
            raise BarcodeError(f"application identifier {ai!r} is not supported")
        fixed = AIS[ai]
        if fixed is not None:
            value, rest = rest[2:2 + fixed], rest[2 + fixed:]
            rest = rest.removeprefix(GS)  # a (needless) FNC1 after a fixed field
        else:
            value, _, rest = rest[2:].partition(GS)
        pairs.append((ai, value))
    return pairs


def _pairs_bracketed(text: str) -> list[tuple[str, str]]:
    pieces = _BRACKETED.split(text)
    if pieces[0] != "":
        raise BarcodeError("a human-readable element string starts with (AI)")
    pairs = list(zip(pieces[1::2], pieces[2::2], strict=True))
    for ai, _ in pairs:
        if ai not in AIS:
            raise BarcodeError(f"application identifier ({ai}) is not supported")
    return pairs


def parse_element_string(text: str) -> ElementString:
    """The GS1 data of one scanned code (either form)."""
    if not isinstance(text, str) or not text:
        raise BarcodeError("empty code")
    body = text[3:] if SYMBOLOGY.match(text) else text
    body = body.removeprefix(GS)  # a leading FNC1 (GS1-128 start)
    pairs = _pairs_bracketed(body) if body.startswith("(") else _pairs_raw(body)
    found: dict[str, str] = {}
    for ai, value in pairs:
        if ai in found:
            raise BarcodeError(f"({ai}) appears twice")
        found[ai] = _check(ai, value)
    return ElementString(gtin=found.get("01"), serial=found.get("21"), lot=found.get("10"),
                         expiry=found.get("17"), sscc=found.get("00"),
                         produced=found.get("11"))


def unit_uri(unit: str) -> str:
    """A unit ``<GTIN-14>/<serial>`` as its GS1 Digital Link URI (an SGTIN EPC)."""
    gtin, _, serial = unit.partition("/")
    return f"https://id.gs1.org/01/{gtin}/21/{_percent(serial)}"


def lot_uri(gtin: str, lot: str) -> str:
    return f"https://id.gs1.org/01/{gtin}/10/{_percent(lot)}"


def case_uri(sscc: str) -> str:
    return f"https://id.gs1.org/00/{sscc}"


def _percent(value: str) -> str:
    """GS1 Digital Link §6: characters outside the URI-unreserved set percent-encoded."""
    return "".join(c if c.isalnum() or c in "-._~" else f"%{ord(c):02X}" for c in value)
