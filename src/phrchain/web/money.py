"""Money for display: integer minor units to a string, with the currency's exponent
(ISO 4217). Only integers are computed with; the browser gets the formatted string."""

from __future__ import annotations

from phrchain.fhir.claims import minor_unit_exponent as exponent


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
