"""Records module (M3, M12, M14): descriptors of encrypted off-chain records."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core.module import Context, Handler, Query
from phrchain.modules.records.handlers import HANDLERS
from phrchain.modules.records.queries import QUERIES


class RecordsModule:
    name = "records"

    def handlers(self) -> Mapping[str, Handler]:
        return HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        """Records start empty: a genesis section would be health data in a config file."""
        if section:
            raise ValueError("the records module takes no genesis state")
