"""The only code that reads or writes the ``settlement/`` key prefix.

State layout (values canonical JSON)::

    settlement/b/<did>/<currency>      -> balance (integer, minor units; absent = 0)
    settlement/s/<currency>            -> total supply (integer; absent = 0)
    settlement/bill/<bill id>          -> bill (README "State")
    settlement/bp/<patient>/<bill id>  -> b"1"   bills to a patient
    settlement/bo/<org>/<bill id>      -> b"1"   bills of a provider organization

Invariant: for every currency, the balances sum to the supply. Only :func:`mint` and
:func:`burn` change a supply, each together with one balance; :func:`transfer` moves an
amount between two balances or nothing at all.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final, TypedDict

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes
from phrchain.modules.settlement.keys import (
    BALANCE,
    SUPPLY,
    balance_key,
    bill_key,
    patient_prefix,
    provider_prefix,
    supply_key,
)
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"



class Bill(TypedDict):
    """A provider's bill at ``settlement/bill/<id>`` (README "State layout")."""

    bill: str
    patient: str
    provider: str                  # the organization paid
    issued_by: str                 # the organization or its staff member
    amount: int                    # minor units
    currency: str
    encounter: str
    status: str                    # open | paid
    height: int
    time_ms: int
    paid_height: int | None


def _amount(state: Reader, key: bytes) -> int:
    found = json_get(state, key)
    return 0 if found is None else int(found)


def _set_amount(state: Overlay, key: bytes, value: int) -> None:
    # A zero balance is no key at all: the state holds only accounts with money.
    if value == 0:
        state.delete(key)
    else:
        json_put(state, key, value)


def balance(state: Reader, did: str, currency: str) -> int:
    return _amount(state, balance_key(did, currency))


def balances(state: Reader, did: str) -> dict[str, int]:
    """Every nonzero balance of ``did``, by currency."""
    prefix = BALANCE + did.encode() + b"/"
    return {key[len(prefix):].decode(): int(encoding.decode(raw))
            for key, raw in state.iterate(prefix)}


def supply(state: Reader, currency: str) -> int:
    return _amount(state, supply_key(currency))


def mint(state: Overlay, to: str, amount: int, currency: str) -> None:
    _set_amount(state, supply_key(currency), supply(state, currency) + amount)
    _set_amount(state, balance_key(to, currency), balance(state, to, currency) + amount)


def burn(state: Overlay, holder: str, amount: int, currency: str) -> bool:
    """Take ``amount`` out of ``holder``'s balance and the supply; False (and nothing
    changed) if the balance is too small."""
    held = balance(state, holder, currency)
    if held < amount:
        return False
    _set_amount(state, balance_key(holder, currency), held - amount)
    _set_amount(state, supply_key(currency), supply(state, currency) - amount)
    return True


def transfer(state: Overlay, frm: str, to: str, amount: int, currency: str) -> bool:
    """Move ``amount`` from ``frm`` to ``to``; False (and nothing changed) if ``frm``
    holds less. Never a partial move. ``frm == to`` moves nothing and succeeds when
    the balance covers the amount."""
    held = balance(state, frm, currency)
    if held < amount:
        return False
    if frm != to:
        _set_amount(state, balance_key(frm, currency), held - amount)
        _set_amount(state, balance_key(to, currency), balance(state, to, currency) + amount)
    return True


def get_bill(state: Reader, bill_id: str) -> Bill | None:
    found: Bill | None = json_get(state, bill_key(bill_id))
    return found


def put_bill(state: Overlay, bill: Bill) -> None:
    json_put(state, bill_key(bill["bill"]), bill)


def index_bill(state: Overlay, bill: Bill) -> None:
    bid = bill["bill"].encode()
    state.set(patient_prefix(bill["patient"]) + bid, _MARK)
    state.set(provider_prefix(bill["provider"]) + bid, _MARK)


def bills_of_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, patient_prefix(patient), after)


def bills_of_provider(state: Reader, org: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, provider_prefix(org), after)


def all_balances(state: Reader) -> Iterator[tuple[str, str, int]]:
    """``(did, currency, amount)`` of every nonzero balance (audits and tests)."""
    for key, raw in state.iterate(BALANCE):
        did, currency = key[len(BALANCE):].decode().rsplit("/", 1)
        yield did, currency, int(encoding.decode(raw))


def all_supplies(state: Reader) -> dict[str, int]:
    return {key[len(SUPPLY):].decode(): int(encoding.decode(raw))
            for key, raw in state.iterate(SUPPLY)}
