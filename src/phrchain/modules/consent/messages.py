"""Consent messages (stateless checks); FHIR Consent compatible (``fhir/mapping.py``)."""

from __future__ import annotations

import bisect
import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.modules import fields
from phrchain.modules.consent.errors import INVALID_FIELD
from phrchain.modules.identity.messages import ROLES

GRANT: Final = "consent/grant"
REVOKE: Final = "consent/revoke"

# Events the handlers emit (``Event.type``), for clients that filter events.
CONSENT_GRANTED: Final = "consent.granted"
CONSENT_REVOKED: Final = "consent.revoked"
EVENTS: Final = frozenset({CONSENT_GRANTED, CONSENT_REVOKED})

CONSENT_ACTIONS: Final = frozenset({"pull", "push", "read"})
# HL7 v3 PurposeOfUse (ActReason) codes a consent may name.
PURPOSES: Final = frozenset({
    "CAREMGT", "CLINTRCH", "CLMATTCH", "COVERAGE", "ETREAT", "HLEGAL", "HOPERAT", "HPAYMT",
    "HRESCH", "PATRQT", "PUBHLTH", "TREAT",
})
GRANTEE_KINDS: Final = frozenset({"practitioner", "organization", "role"})
# Record ids one scope may list: a grant naming this many ids is about 36 KiB of
# canonical JSON (35 bytes an id), so it fits one tx (``core.tx.MAX_TX_BYTES``, 64 KiB)
# and one state value (``core.state.MAX_VALUE_BYTES``, 64 KiB) with room for the rest of
# the consent. More records: ``{"all": true}``, or several consents.
MAX_SCOPE_RECORDS: Final = 1024
# Scope fields of the v1 chain, refused with a sentence saying what a scope names now.
RETIRED_SCOPE_FIELDS: Final = frozenset({"resources", "categories"})


@dataclass(frozen=True, slots=True)
class Grantee:
    kind: str
    id: str
    organization: str | None = None

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> Grantee:
        kind = fields.choice(value, "kind", GRANTEE_KINDS, INVALID_FIELD)
        if kind == "role":
            fields.exact(value, INVALID_FIELD, ("kind", "id"), ("organization",))
            org = fields.did(value, "organization", INVALID_FIELD) \
                if "organization" in value else None
            return cls(kind, fields.choice(value, "id", ROLES, INVALID_FIELD), org)
        fields.exact(value, INVALID_FIELD, ("kind", "id"))
        return cls(kind, fields.did(value, "id", INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        out = {"kind": self.kind, "id": self.id}
        if self.organization is not None:
            out["organization"] = self.organization
        return out

    def index_key(self) -> str:
        """How the grantee is indexed: its DID, or ``role:<role>``."""
        return f"role:{self.id}" if self.kind == "role" else self.id


@dataclass(frozen=True, slots=True)
class Scope:
    """Which records: all of the patient's (``{"all": true}``: every record this patient
    identity owns, those registered later included), or the listed record ids
    (``{"records": [ids]}``, sorted, at most :data:`MAX_SCOPE_RECORDS`).

    A scope never names a resource type or category: those are health data (issue 14).
    The patient's wallet turns a choice of categories or types into the ids of the
    records they match (``phrchain.client.scopes``), so a consent meant to cover future
    records must be ``all``."""

    all: bool = False
    records: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        # One spelling per scope (and :meth:`names` bisects): a caller building a Scope
        # by hand gets the same rule as a parsed message.
        if self.all == bool(self.records) \
                or any(a >= b for a, b in itertools.pairwise(self.records)):
            raise ValueError("a Scope is all, or a sorted, duplicate-free, non-empty "
                             "list of record ids")

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> Scope:
        retired = sorted(RETIRED_SCOPE_FIELDS & set(value))
        if retired:
            raise INVALID_FIELD(
                f"scope.{retired[0]} is not accepted: a scope names record ids "
                "({'records': [ids]}) or all records ({'all': true}); the wallet turns "
                "categories and resource types into the ids of the records they match")
        if "all" in value:
            fields.exact(value, INVALID_FIELD, ("all",))
            if value["all"] is not True:
                raise INVALID_FIELD("scope.all must be true (omit it to list record ids)")
            return cls(all=True)
        if "records" not in value:
            raise INVALID_FIELD("scope must be {'all': true} or {'records': [ids]}")
        fields.exact(value, INVALID_FIELD, ("records",))
        return cls(False, fields.sorted_set(value, "records", INVALID_FIELD, fields.is_id,
                                            "record ids", MAX_SCOPE_RECORDS))

    @classmethod
    def stored(cls, value: Mapping[str, Any]) -> Scope:
        """A scope read back from state: written only as :meth:`to_json` of a parsed
        scope, so not checked again (the access decision reads every consent)."""
        return cls(all=True) if value.get("all") is True \
            else cls(False, tuple(value["records"]))

    def names(self, record_id: str) -> bool:
        """Whether this scope covers the record with this id."""
        if self.all:
            return True
        at = bisect.bisect_left(self.records, record_id)  # records are sorted
        return at < len(self.records) and self.records[at] == record_id

    def covers(self, record: Mapping[str, Any]) -> bool:
        """Whether this scope covers ``record`` (a record's chain descriptor): by its id
        only, whatever else the descriptor says."""
        return self.names(record["record"])

    def contains(self, other: Scope) -> bool:
        """Whether every record ``other`` can cover is covered by this scope."""
        if self.all:
            return True
        return not other.all and set(other.records) <= set(self.records)

    def to_json(self) -> dict[str, Any]:
        return {"all": True} if self.all else {"records": list(self.records)}


@dataclass(frozen=True, slots=True)
class Grant:
    consent: str
    grantee: Grantee
    actions: tuple[str, ...]
    scope: Scope
    purposes: tuple[str, ...]
    start_ms: int
    end_ms: int

    TYPE: ClassVar[str] = GRANT

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Grant:
        fields.exact(msg, INVALID_FIELD,
                     ("consent", "grantee", "actions", "scope", "purposes", "period"))
        period = fields.mapping(msg, "period", INVALID_FIELD)
        fields.exact(period, INVALID_FIELD, ("start_ms", "end_ms"))
        return cls(
            consent=fields.object_id(msg, "consent", INVALID_FIELD),
            grantee=fields.apply(Grantee.parse, msg.get("grantee"), INVALID_FIELD, "grantee"),
            actions=fields.sorted_set(msg, "actions", INVALID_FIELD,
                                      lambda a: a in CONSENT_ACTIONS, "actions",
                                      len(CONSENT_ACTIONS)),
            scope=fields.apply(Scope.parse, msg.get("scope"), INVALID_FIELD, "scope"),
            purposes=fields.sorted_set(msg, "purposes", INVALID_FIELD,
                                       lambda p: p in PURPOSES, "PurposeOfUse codes",
                                       len(PURPOSES)),
            start_ms=fields.integer(period, "start_ms", INVALID_FIELD),
            end_ms=fields.integer(period, "end_ms", INVALID_FIELD),
        )

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "consent": self.consent, "grantee": self.grantee.to_json(),
                "actions": list(self.actions), "scope": self.scope.to_json(),
                "purposes": list(self.purposes),
                "period": {"start_ms": self.start_ms, "end_ms": self.end_ms}}


@dataclass(frozen=True, slots=True)
class Revoke:
    consent: str

    TYPE: ClassVar[str] = REVOKE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Revoke:
        fields.exact(msg, INVALID_FIELD, ("consent",))
        return cls(fields.object_id(msg, "consent", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "consent": self.consent}
