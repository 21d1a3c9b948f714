"""Audit module (M6): every vault decision in a per-patient RFC 9162 log."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core.module import Context, Handler, Query
from phrchain.modules.audit.handlers import HANDLERS
from phrchain.modules.audit.queries import QUERIES


class AuditModule:
    name = "audit"

    def handlers(self) -> Mapping[str, Handler]:
        return HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        if section:
            raise ValueError("the audit module takes no genesis state")
