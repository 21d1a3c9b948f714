"""Settlement queries: balances, supplies and bills (lists paged as in ``paging``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.paging import object_id, page, paging, text
from phrchain.modules.settlement import keeper, keys
from phrchain.modules.settlement.messages import CURRENCY_RE


def _currency(data: Mapping[str, Any]) -> str:
    value = text(data, "currency")
    if CURRENCY_RE.fullmatch(value) is None:
        raise BAD_QUERY("'currency' must be three capital letters")
    return value


def balance(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One balance in minor units, provable: the value is the stored amount itself, and
    null for zero (no key: a non-membership proof proves the zero)."""
    did, currency = text(data, "did"), _currency(data)
    return QueryResult(keeper.balance(state, did, currency) or None,
                       keys.balance_key(did, currency))


def balances(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    did = text(data, "did")
    return QueryResult({"did": did, "balances": keeper.balances(state, did)})


def supply(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    currency = _currency(data)
    return QueryResult(keeper.supply(state, currency) or None, keys.supply_key(currency))


def bill(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    bill_id = object_id(data, "bill")
    return QueryResult(keeper.get_bill(state, bill_id), keys.bill_key(bill_id))


def bills(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Bill ids of a patient, or of a provider organization (exactly one of the two)."""
    pg = paging(data)
    if ("patient" in data) == ("provider" in data):
        raise BAD_QUERY("name exactly one of 'patient' and 'provider'")
    if "patient" in data:
        patient = text(data, "patient")
        ids, after = page(pg, lambda a: keeper.bills_of_patient(state, patient, a))
        return QueryResult({"patient": patient, "bills": ids, "next": after})
    provider = text(data, "provider")
    ids, after = page(pg, lambda a: keeper.bills_of_provider(state, provider, a))
    return QueryResult({"provider": provider, "bills": ids, "next": after})


QUERIES: Final[Mapping[str, Query]] = {
    "balance": balance, "balances": balances, "supply": supply, "bill": bill, "bills": bills,
}
