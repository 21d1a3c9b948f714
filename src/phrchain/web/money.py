"""Money for display: integer minor units to a string, with the currency's exponent
(ISO 4217). Only integers are computed with; the browser gets the formatted string.
Money *in* (a form's amount) goes through :data:`FormAmount`: the SDK's one parser."""

from __future__ import annotations

from typing import Annotated

from pydantic import BeforeValidator

from phrchain.client.claims import parse_amount
from phrchain.client.session import RecordsError
from phrchain.fhir.claims import minor_unit_exponent as exponent
from phrchain.modules.settlement.messages import MAX_AMOUNT


def form_amount(value: object) -> int:
    """A form's amount: a JSON integer from 0 to ``MAX_AMOUNT`` (not a float or boolean),
    or a string of ASCII digits as the input box holds it (:func:`parse_amount`), so
    Arabic-Indic digits, ``'1_000'``, ``' 12'`` and ``'1e3'`` are refused, never read as numbers."""
    if isinstance(value, str):
        try:
            return parse_amount(value, "amount", low=0)
        except RecordsError as exc:
            raise ValueError(str(exc)) from None
    if type(value) is not int or not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"amount must be an integer of minor units from 0 to {MAX_AMOUNT}")
    return value


FormAmount = Annotated[int, BeforeValidator(form_amount)]


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
