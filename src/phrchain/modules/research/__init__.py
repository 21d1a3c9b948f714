"""Research module (M11): patient-signed research donations in GA4GH DUO terms, studies
of admitted research institutes, deterministic per-donor matching of data requests, and
dataset manifests whose leaves prove — per donor — inclusion or exclusion.

Clients use the stateless matcher and the bytes approvers sign, re-exported here."""

from __future__ import annotations

from typing import Any

from phrchain.core.module import Context, StaticModule
from phrchain.modules.research import genesis
from phrchain.modules.research.duo import is_a, outcome
from phrchain.modules.research.handlers import HANDLERS
from phrchain.modules.research.messages import irb_bytes, leaf_bytes, release_bytes
from phrchain.modules.research.queries import QUERIES

__all__ = ["ResearchModule", "irb_bytes", "is_a", "leaf_bytes", "outcome", "release_bytes"]


class ResearchModule(StaticModule):
    name = "research"
    HANDLERS = HANDLERS
    QUERIES = QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        genesis.init_genesis(ctx, section)
