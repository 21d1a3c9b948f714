"""Exchange module (M5): the Push, Pull and View models of the briefing."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core.module import Context, Handler, Query
from phrchain.modules.exchange.handlers import HANDLERS
from phrchain.modules.exchange.queries import QUERIES


class ExchangeModule:
    name = "exchange"

    def handlers(self) -> Mapping[str, Handler]:
        return HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        if section:
            raise ValueError("the exchange module takes no genesis state")
