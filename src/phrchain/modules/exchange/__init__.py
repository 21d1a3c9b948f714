"""Exchange module (M5): the Push, Pull and View models of the briefing."""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.exchange.handlers import HANDLERS
from phrchain.modules.exchange.queries import QUERIES


class ExchangeModule(StaticModule):
    name = "exchange"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
