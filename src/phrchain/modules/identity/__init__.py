"""Identity module (M2): authorities, organizations, practitioners, patients, keys.

Other modules read identities only through the view re-exported here (from
:mod:`~phrchain.modules.identity.parties`): who may act now, of which kind, for which
organization. They never import the keeper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core.module import Context, Handler, Query
from phrchain.modules.identity import council, genesis, parties
from phrchain.modules.identity.handlers import HANDLERS, IdentityAuthenticator
from phrchain.modules.identity.messages import admission_bytes, rotation_bytes
from phrchain.modules.identity.parties import (
    CARE_ORG_TYPES,
    Identity,
    acting,
    active_patient,
    authorities,
    has_role,
    is_frozen,
    is_regulator_officer,
    org_type,
    organization_of,
)
from phrchain.modules.identity.queries import QUERIES

__all__ = [
    "CARE_ORG_TYPES", "Identity", "IdentityAuthenticator", "IdentityModule", "acting",
    "active_patient", "admission_bytes", "authorities", "council", "has_role", "is_frozen",
    "is_regulator_officer", "org_type", "organization_of", "parties", "rotation_bytes",
]


class IdentityModule:
    name = "identity"

    def handlers(self) -> Mapping[str, Handler]:
        return HANDLERS

    def queries(self) -> Mapping[str, Query]:
        return QUERIES

    def init_genesis(self, ctx: Context, section: Any) -> None:
        genesis.init_genesis(ctx, section)
