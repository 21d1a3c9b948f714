"""Consent module (M4, M5): patient-signed consents and the access decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core.module import Context, Handler, Query
from phrchain.modules.consent.decide import Decision, decide
from phrchain.modules.consent.handlers import HANDLERS
from phrchain.modules.consent.queries import QUERIES

__all__ = ["ConsentModule", "Decision", "decide"]


class ConsentModule:
    name = "consent"

    def handlers(self) -> Mapping[str, Handler]:
        return HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        if section:
            raise ValueError("the consent module takes no genesis state")
