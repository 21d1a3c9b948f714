"""Audit messages: batches of vault decisions (stateless checks)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.modules import fields
from phrchain.modules.audit.errors import INCONSISTENT, INVALID_FIELD
from phrchain.modules.consent.decide import ACTIONS, PERMIT_REASONS, REASONS
from phrchain.modules.consent.messages import PURPOSES

APPEND: Final = "audit/append"
MAX_ENTRIES: Final = 64
ENTRY_FIELDS: Final = ("record", "accessor", "action", "purpose", "decision", "reason",
                       "consent", "break_glass", "request", "at")


def parse_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of one entry; consistency of its fields is checked too."""
    fields.exact(entry, INVALID_FIELD, ENTRY_FIELDS)
    out: dict[str, Any] = {
        "record": fields.object_id(entry, "record", INVALID_FIELD),
        "accessor": fields.did(entry, "accessor", INVALID_FIELD),
        "action": fields.choice(entry, "action", ACTIONS, INVALID_FIELD),
        "purpose": fields.choice(entry, "purpose", PURPOSES, INVALID_FIELD),
        "decision": fields.choice(entry, "decision", ("permit", "deny"), INVALID_FIELD),
        "reason": fields.choice(entry, "reason", REASONS, INVALID_FIELD),
        "consent": None if entry.get("consent") is None
        else fields.object_id(entry, "consent", INVALID_FIELD),
        "break_glass": fields.boolean(entry, "break_glass", INVALID_FIELD),
        "request": fields.digest(entry, "request", INVALID_FIELD),
        "at": fields.integer(entry, "at", INVALID_FIELD),
    }
    permit = out["decision"] == "permit"
    if permit != (out["reason"] in PERMIT_REASONS) \
            or out["break_glass"] != (out["reason"] == "break_glass") \
            or (out["consent"] is not None) != (out["reason"] == "consent"):
        raise INCONSISTENT(f"decision {out['decision']} with reason {out['reason']}")
    return out


def parse_append(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    fields.exact(msg, INVALID_FIELD, ("entries",))
    entries = msg.get("entries")
    if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
        raise INVALID_FIELD(f"entries must be a list of 1 to {MAX_ENTRIES} entries")
    return [fields.apply(parse_entry, e, INVALID_FIELD, "entry") for e in entries]
