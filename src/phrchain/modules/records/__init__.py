"""Records module (M3, M12, M14): descriptors of encrypted off-chain records."""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.records.handlers import HANDLERS
from phrchain.modules.records.queries import QUERIES


class RecordsModule(StaticModule):
    name = "records"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
