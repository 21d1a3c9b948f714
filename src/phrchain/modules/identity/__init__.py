"""Identity module (M2): authorities, organizations, practitioners, patients, keys."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core.module import Context, Handler, Query
from phrchain.modules.identity import genesis
from phrchain.modules.identity.handlers import HANDLERS, IdentityAuthenticator
from phrchain.modules.identity.messages import admission_bytes, rotation_bytes
from phrchain.modules.identity.queries import QUERIES

__all__ = ["IdentityAuthenticator", "IdentityModule", "admission_bytes", "rotation_bytes"]


class IdentityModule:
    name = "identity"

    def handlers(self) -> Mapping[str, Handler]:
        return HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        genesis.init_genesis(ctx, section)
