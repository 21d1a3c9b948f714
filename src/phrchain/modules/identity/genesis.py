"""Identity genesis: the consortium's authorities and its founding organizations.

::

    {"authorities":   [{"did": did:key, "enc_key": hex, "name": str}],
     "organizations": [{"did": did:key, "org_type": str, "name": str, "enc_key": hex}]}

Genesis organizations carry no proof of possession (``pop``): the genesis file itself is
what every member of the consortium agreed to.
"""

from __future__ import annotations

from typing import Any, Final

from phrchain.core.errors import TxError
from phrchain.core.module import Context
from phrchain.modules.identity.handlers import new_identity
from phrchain.modules.identity.messages import (
    did_field,
    enc_key_field,
    name_field,
    organization_fields,
)

GENESIS: Final = "genesis"
_AUTHORITY_FIELDS: Final = frozenset({"did", "enc_key", "name"})
_ORGANIZATION_FIELDS: Final = frozenset({"did", "org_type", "name", "enc_key"})


def _entries(section: dict[str, Any], name: str, fields: frozenset[str]) -> list[Any]:
    entries = section.get(name, [])
    if not isinstance(entries, list) or any(not isinstance(e, dict) or set(e) != fields
                                            for e in entries):
        raise ValueError(f"identity genesis {name}: a list of objects with exactly the "
                         f"fields {sorted(fields)}")
    return entries


def init_genesis(ctx: Context, section: dict[str, Any]) -> None:
    authorities = _entries(section, "authorities", _AUTHORITY_FIELDS)
    if not authorities:
        raise ValueError("identity genesis needs at least one authority")
    organizations = _entries(section, "organizations", _ORGANIZATION_FIELDS)
    try:
        for entry in authorities:
            new_identity(ctx.state, did_field(entry), "authority", enc_key_field(entry),
                         GENESIS, 0, name=name_field(entry))
        for entry in organizations:
            did, org_type, name, enc_key = organization_fields(entry)
            new_identity(ctx.state, did, "organization", enc_key, GENESIS, 0,
                         org_type=org_type, name=name)
    except TxError as exc:
        raise ValueError(f"invalid identity genesis: {exc}") from exc
