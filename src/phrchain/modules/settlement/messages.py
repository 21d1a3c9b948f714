"""Settlement messages (stateless checks). Money is an integer count of minor units."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.core.errors import ErrorCode
from phrchain.modules import fields
from phrchain.modules.settlement.errors import INVALID_FIELD

MINT: Final = "settlement/mint"
BURN: Final = "settlement/burn"
TRANSFER: Final = "settlement/transfer"
BILL: Final = "settlement/bill"
PAY_BILL: Final = "settlement/pay_bill"

# Events the handlers emit (``Event.type``), for clients that filter events.
SETTLEMENT_MINTED: Final = "settlement.minted"
SETTLEMENT_BURNED: Final = "settlement.burned"
SETTLEMENT_TRANSFERRED: Final = "settlement.transferred"
SETTLEMENT_BILLED: Final = "settlement.billed"
SETTLEMENT_PAID: Final = "settlement.paid"
EVENTS: Final = frozenset({SETTLEMENT_MINTED, SETTLEMENT_BURNED, SETTLEMENT_TRANSFERRED,
                           SETTLEMENT_BILLED, SETTLEMENT_PAID})

# ISO 4217 alphabetic code shape; which codes a consortium uses is its own business.
CURRENCY_RE: Final = re.compile(r"[A-Z]{3}")
MAX_AMOUNT: Final = 10**15
# Every balance is at most its currency's supply, and the supply stays below 2**53 - 1,
# the largest integer canonical JSON carries (core/encoding.py).
MAX_SUPPLY: Final = 9 * 10**15
# A memo is an opaque reference (an invoice number, a hash), never free text.
MEMO_RE: Final = re.compile(r"[A-Za-z0-9._:-]{1,64}")


def amount(msg: Mapping[str, Any], name: str, error: ErrorCode, low: int = 1) -> int:
    """An amount in minor units: an integer (not a float, string or boolean) in
    ``[low, MAX_AMOUNT]``."""
    value = msg.get(name)
    if type(value) is not int or not low <= value <= MAX_AMOUNT:
        raise error(f"{name} must be an integer count of minor units from {low} to "
                    f"{MAX_AMOUNT} (not a float, string or boolean)")
    return value


def currency(msg: Mapping[str, Any], name: str, error: ErrorCode) -> str:
    value = msg.get(name)
    if not isinstance(value, str) or CURRENCY_RE.fullmatch(value) is None:
        raise error(f"{name} must be three capital letters (an ISO 4217 code)")
    return value


@dataclass(frozen=True, slots=True)
class Mint:
    """``settlement/mint``: fiat deposited into the system, credited to ``to``."""

    to: str
    amount: int
    currency: str

    TYPE: ClassVar[str] = MINT

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Mint:
        fields.exact(msg, INVALID_FIELD, ("to", "amount", "currency"))
        return cls(fields.did(msg, "to", INVALID_FIELD), amount(msg, "amount", INVALID_FIELD),
                   currency(msg, "currency", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "to": self.to, "amount": self.amount,
                "currency": self.currency}


@dataclass(frozen=True, slots=True)
class Burn:
    """``settlement/burn``: a withdrawal out of the system, debited from ``holder``."""

    holder: str
    amount: int
    currency: str

    TYPE: ClassVar[str] = BURN

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Burn:
        fields.exact(msg, INVALID_FIELD, ("from", "amount", "currency"))
        return cls(fields.did(msg, "from", INVALID_FIELD),
                   amount(msg, "amount", INVALID_FIELD), currency(msg, "currency", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "from": self.holder, "amount": self.amount,
                "currency": self.currency}


@dataclass(frozen=True, slots=True)
class Transfer:
    to: str
    amount: int
    currency: str
    memo: str | None = None

    TYPE: ClassVar[str] = TRANSFER

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Transfer:
        fields.exact(msg, INVALID_FIELD, ("to", "amount", "currency"), ("memo",))
        memo = msg.get("memo")
        if "memo" in msg and (not isinstance(memo, str) or MEMO_RE.fullmatch(memo) is None):
            raise INVALID_FIELD("memo must be an opaque reference of 1 to 64 characters "
                                "[A-Za-z0-9._:-] (never free text)")
        return cls(fields.did(msg, "to", INVALID_FIELD), amount(msg, "amount", INVALID_FIELD),
                   currency(msg, "currency", INVALID_FIELD), memo)

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "to": self.to, "amount": self.amount,
                "currency": self.currency, **fields.present(memo=self.memo)}


@dataclass(frozen=True, slots=True)
class Bill:
    bill: str
    patient: str
    amount: int
    currency: str
    encounter: str

    TYPE: ClassVar[str] = BILL

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Bill:
        fields.exact(msg, INVALID_FIELD, ("bill", "patient", "amount", "currency", "encounter"))
        return cls(fields.object_id(msg, "bill", INVALID_FIELD),
                   fields.did(msg, "patient", INVALID_FIELD),
                   amount(msg, "amount", INVALID_FIELD),
                   currency(msg, "currency", INVALID_FIELD),
                   fields.digest(msg, "encounter", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "bill": self.bill, "patient": self.patient,
                "amount": self.amount, "currency": self.currency, "encounter": self.encounter}


@dataclass(frozen=True, slots=True)
class PayBill:
    bill: str

    TYPE: ClassVar[str] = PAY_BILL

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> PayBill:
        fields.exact(msg, INVALID_FIELD, ("bill",))
        return cls(fields.object_id(msg, "bill", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "bill": self.bill}
