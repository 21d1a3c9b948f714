"""Audit module (M6): every vault decision, sealed, in a per-patient RFC 9162 log."""

from __future__ import annotations

from phrchain.core.module import StaticModule
from phrchain.modules.audit.handlers import HANDLERS
from phrchain.modules.audit.queries import QUERIES


class AuditModule(StaticModule):
    name = "audit"
    HANDLERS = HANDLERS
    QUERIES = QUERIES
