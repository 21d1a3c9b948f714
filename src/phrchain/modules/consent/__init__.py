"""Consent module (M4, M5): patient-signed consents and the access decision."""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.consent.decide import Decision, decide
from phrchain.modules.consent.handlers import HANDLERS
from phrchain.modules.consent.queries import QUERIES

__all__ = ["ConsentModule", "Decision", "decide"]


class ConsentModule(StaticModule):
    name = "consent"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
