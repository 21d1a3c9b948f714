"""Trials module (M10): clinical-trial registration that cannot be back-dated, protocol
versions and commitments, consent bound to the protocol version, case-report entries by
site investigators, database lock, and results classified against the frozen
pre-specified baseline (the COMPare labels).

Other modules and clients use the stateless classifier re-exported here."""

from __future__ import annotations

from typing import Any

from phrchain.core.module import Context, StaticModule
from phrchain.modules.trials import genesis
from phrchain.modules.trials.handlers import HANDLERS
from phrchain.modules.trials.outcomes import LABELS, Outcome, classify
from phrchain.modules.trials.queries import QUERIES

__all__ = ["LABELS", "Outcome", "TrialsModule", "classify"]


class TrialsModule(StaticModule):
    name = "trials"
    HANDLERS = HANDLERS
    QUERIES = QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        genesis.init_genesis(ctx, section)
