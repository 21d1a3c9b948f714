"""Identity genesis: the consortium's authorities and its founding organizations.

::

    {"authorities":   [{"did": did:key, "enc_key": hex, "name": str}],
     "organizations": [{"did": did:key, "org_type": str, "name": str, "enc_key": hex}]}
"""

from __future__ import annotations

from typing import Any

from phrchain.core.errors import TxError
from phrchain.core.module import Context
from phrchain.modules.identity.handlers import new_identity
from phrchain.modules.identity.messages import (
    NAME_RE,
    AdmitOrganization,
    did_field,
    enc_key_field,
)

GENESIS = "genesis"


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    authorities = section.get("authorities", [])
    if not authorities:
        raise ValueError("identity genesis needs at least one authority")
    try:
        for entry in authorities:
            name = entry.get("name", "")
            if not isinstance(name, str) or NAME_RE.fullmatch(name) is None:
                raise ValueError("authority name must be 1-128 printable characters")
            new_identity(ctx.state, did_field(entry), "authority", enc_key_field(entry),
                         GENESIS, 0, name=name)
        for entry in section.get("organizations", []):
            org = AdmitOrganization.parse({"type": "identity/admit_organization", **entry})
            new_identity(ctx.state, org.did, "organization", org.enc_key, GENESIS, 0,
                         org_type=org.org_type, name=org.name)
    except TxError as exc:
        raise ValueError(f"invalid identity genesis: {exc}") from exc
