"""Records module (M3, M12, M14): descriptors of encrypted off-chain records.

Other modules read descriptors and note vault copies only through the functions
re-exported here; they never import the keeper, handlers or queries.
"""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.records.handlers import HANDLERS
from phrchain.modules.records.keeper import Record, add_holder, holds_any, is_holder
from phrchain.modules.records.keeper import get as get_record
from phrchain.modules.records.queries import QUERIES

__all__ = ["Record", "RecordsModule", "add_holder", "get_record", "holds_any", "is_holder"]


class RecordsModule(StaticModule):
    name = "records"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
