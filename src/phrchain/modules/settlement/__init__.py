"""Settlement module (M15): integer balances per currency, mint/burn by an authority,
transfers, and provider bills paid by patients.

Other modules move money only through the ledger functions re-exported here (the claims
module pays approved claims with :func:`transfer`)."""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.settlement.handlers import HANDLERS
from phrchain.modules.settlement.keeper import Bill, balance, get_bill, supply, transfer
from phrchain.modules.settlement.queries import QUERIES

__all__ = ["Bill", "SettlementModule", "balance", "get_bill", "supply", "transfer"]


class SettlementModule(StaticModule):
    name = "settlement"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
