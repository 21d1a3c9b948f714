"""Money for display: integer minor units to a string, with the currency's exponent
(ISO 4217). Only integers are computed with; the browser gets the formatted string."""

from __future__ import annotations

from typing import Final

# ISO 4217 minor-unit exponents that differ from 2 (the default) and are in use here.
EXPONENTS: Final = {"KRW": 0, "JPY": 0, "VND": 0, "CLP": 0, "ISK": 0, "BHD": 3, "KWD": 3,
                    "JOD": 3, "OMR": 3, "TND": 3}
DEFAULT_EXPONENT: Final = 2


def exponent(currency: str) -> int:
    return EXPONENTS.get(currency, DEFAULT_EXPONENT)


def format_amount(amount: int, currency: str) -> str:
    """``format_amount(123456, "USD") == "1,234.56 USD"``; ``(350000, "KRW")`` →
    ``"350,000 KRW"``. Integer arithmetic only."""
    if isinstance(amount, bool) or not isinstance(amount, int):
        raise TypeError("an amount is an integer count of minor units")
    sign, units = ("-" if amount < 0 else ""), abs(amount)
    exp = exponent(currency)
    whole, minor = divmod(units, 10 ** exp)
    text = f"{whole:,}" + (f".{minor:0{exp}d}" if exp else "")
    return f"{sign}{text} {currency}"


def money(amount: int, currency: str) -> dict[str, object]:
    return {"amount": amount, "currency": currency, "text": format_amount(amount, currency)}
