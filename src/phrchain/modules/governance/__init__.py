"""Governance module (issue 21): the consortium council's proposals and votes, the
validator set, the parameter store and the schedule of rule versions.

Other modules read what the council decided only through the functions re-exported here
(``parameter``, ``rules_version``, ``validators``); the app finds the end-block hook and
the rule schedule on :class:`GovernanceModule`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from phrchain.core.module import Context, Handler, Query, ValidatorUpdate
from phrchain.core.state import Reader
from phrchain.modules.governance import genesis, handlers, schedule
from phrchain.modules.governance.keeper import Validator
from phrchain.modules.governance.queries import QUERIES
from phrchain.modules.governance.schedule import (
    parameter,
    parameter_version,
    rules_version,
    validators,
)

__all__ = ["GovernanceModule", "Validator", "parameter", "parameter_version",
           "rules_version", "validators"]


class GovernanceModule:
    name = "governance"

    def handlers(self) -> Mapping[str, Handler]:
        return handlers.HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        genesis.init_genesis(ctx, section)

    def end_block(self, ctx: Context) -> Sequence[ValidatorUpdate]:
        return handlers.end_block(ctx)

    def rules_version(self, state: Reader, height: int) -> int:
        return schedule.rules_version(state, height)
