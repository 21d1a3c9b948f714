"""Audit messages: batches of vault decisions (stateless checks)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.modules import fields
from phrchain.modules.audit.errors import INCONSISTENT, INVALID_FIELD
from phrchain.modules.consent.decide import ACTIONS, PERMIT_REASONS, REASONS
from phrchain.modules.consent.messages import PURPOSES

APPEND: Final = "audit/append"
MAX_ENTRIES: Final = 64
ENTRY_FIELDS: Final = ("record", "accessor", "action", "purpose", "decision", "reason",
                       "consent", "break_glass", "request", "at")

# Events the handlers emit (``Event.type``), for clients that filter events.
AUDIT_APPENDED: Final = "audit.appended"
AUDIT_BREAK_GLASS: Final = "audit.break_glass"
EVENTS: Final = frozenset({AUDIT_APPENDED, AUDIT_BREAK_GLASS})


@dataclass(frozen=True, slots=True)
class Entry:
    """One vault decision. ``consent`` is always present: ``None`` (JSON null) unless
    the decision rests on a consent."""

    record: str
    accessor: str
    action: str
    purpose: str
    decision: str
    reason: str
    consent: str | None
    break_glass: bool
    request: str
    at: int

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> Entry:
        """A checked entry; consistency of its fields is checked too."""
        fields.exact(entry, INVALID_FIELD, ENTRY_FIELDS)
        out = cls(
            record=fields.object_id(entry, "record", INVALID_FIELD),
            accessor=fields.did(entry, "accessor", INVALID_FIELD),
            action=fields.choice(entry, "action", ACTIONS, INVALID_FIELD),
            purpose=fields.choice(entry, "purpose", PURPOSES, INVALID_FIELD),
            decision=fields.choice(entry, "decision", ("permit", "deny"), INVALID_FIELD),
            reason=fields.choice(entry, "reason", REASONS, INVALID_FIELD),
            consent=None if entry.get("consent") is None
            else fields.object_id(entry, "consent", INVALID_FIELD),
            break_glass=fields.boolean(entry, "break_glass", INVALID_FIELD),
            request=fields.digest(entry, "request", INVALID_FIELD),
            at=fields.integer(entry, "at", INVALID_FIELD),
        )
        permit = out.decision == "permit"
        if permit != (out.reason in PERMIT_REASONS) \
                or out.break_glass != (out.reason == "break_glass") \
                or (out.consent is not None) != (out.reason == "consent"):
            raise INCONSISTENT(f"decision {out.decision} with reason {out.reason}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record, "accessor": self.accessor, "action": self.action,
                "purpose": self.purpose, "decision": self.decision, "reason": self.reason,
                "consent": self.consent, "break_glass": self.break_glass,
                "request": self.request, "at": self.at}


@dataclass(frozen=True, slots=True)
class Append:
    entries: tuple[Entry, ...]

    TYPE: ClassVar[str] = APPEND

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Append:
        fields.exact(msg, INVALID_FIELD, ("entries",))
        entries = msg.get("entries")
        if not isinstance(entries, list) or not 1 <= len(entries) <= MAX_ENTRIES:
            raise INVALID_FIELD(f"entries must be a list of 1 to {MAX_ENTRIES} entries")
        return cls(tuple(fields.apply(Entry.parse, e, INVALID_FIELD, "entry")
                         for e in entries))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "entries": [e.to_json() for e in self.entries]}


def parse_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A checked copy of one entry (:meth:`Entry.parse`), as the plain dict the handler
    puts in the log's leaf."""
    return Entry.parse(entry).to_json()


def parse_append(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [e.to_json() for e in Append.parse(msg).entries]
