"""GS1 identifiers as the chain checks them (GS1 General Specifications, pure integer
arithmetic): GTIN-14 and SSCC check digits (§7.9.1), the KD code (a GTIN-13)
normalised to GTIN-14, serials (AI 21) and expiry dates (AI 17, YYMMDD).

Parsing scanned element strings ``(01)…(17)…(10)…(21)…`` is the edge's job
(``phrchain.epcis.gs1``); this file is what a message field must already be."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Final

DAY_MS: Final = 86_400_000
_DIGITS: Final = re.compile(r"[0-9]+")
# AI 21 / AI 10 values: GS1 allows up to 20 characters of CSET 82; phrchain keeps the
# subset without "/" (a separator in state keys), quotes and "%".
SERIAL_RE: Final = re.compile(r"[0-9A-Za-z!&'()*+,\-.:;<=>?_]{1,20}")
LOT_RE: Final = SERIAL_RE
EXPIRY_RE: Final = re.compile(r"[0-9]{2}(0[1-9]|1[0-2])[0-9]{2}")


def check_digit(body: str) -> int:
    """The mod-10 check digit of a GS1 key's digits without their check digit
    (§7.9.1): weights 3, 1, 3, … from the right."""
    total = 3 * sum(map(int, body[-1::-2])) + sum(map(int, body[-2::-2]))
    return (10 - total % 10) % 10


def valid_key(digits: str, length: int) -> bool:
    return len(digits) == length and _DIGITS.fullmatch(digits) is not None \
        and check_digit(digits[:-1]) == int(digits[-1])


def normalize_gtin(value: str) -> str | None:
    """A GTIN-14 from a GTIN-8, -12, -13 (the Korean KD code) or -14 with a valid check
    digit, left-padded with zeros (which keeps the check digit); None if invalid."""
    if len(value) not in (8, 12, 13, 14) or _DIGITS.fullmatch(value) is None:
        return None
    padded = value.zfill(14)
    return padded if valid_key(padded, 14) else None


def valid_sscc(value: str) -> bool:
    return valid_key(value, 18)


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (integer arithmetic)."""
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _month_days(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


@lru_cache(maxsize=4096)  # a pure function of the string: each lot's expiry parsed once
def expiry_day(yymmdd: str) -> int | None:
    """The last day (days since 1970-01-01) a unit with expiry ``YYMMDD`` may be used:
    day ``00`` means the month's last day (§3.4.7). Years are 20YY (phrchain does not
    apply the sliding century of §7.12: no pack on a chain started in the 2020s expires
    before 2000 or after 2099). None if it is not a date."""
    if EXPIRY_RE.fullmatch(yymmdd) is None:
        return None
    year, month, day = 2000 + int(yymmdd[:2]), int(yymmdd[2:4]), int(yymmdd[4:])
    last = _month_days(year, month)
    if day > last:
        return None
    return days_from_civil(year, month, day or last)


def day_of(time_ms: int) -> int:
    """The UTC day number of a block time."""
    return time_ms // DAY_MS
