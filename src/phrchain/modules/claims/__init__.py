"""Claims module (M8): insurance products as deterministic rules over code tags,
enrolment, claims adjudicated on filing, human review, lapse and appeal."""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.claims.adjudicate import Decision, Facts, Rules, adjudicate
from phrchain.modules.claims.handlers import HANDLERS
from phrchain.modules.claims.queries import QUERIES
from phrchain.modules.claims.reasons import REASONS

__all__ = ["REASONS", "ClaimsModule", "Decision", "Facts", "Rules", "adjudicate"]


class ClaimsModule(StaticModule):
    name = "claims"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
