"""Consent messages (stateless checks); FHIR Consent compatible (``fhir/mapping.py``)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.modules import fields
from phrchain.modules.consent.errors import INVALID_FIELD
from phrchain.modules.identity.messages import ROLES
from phrchain.modules.records.messages import CATEGORIES, RESOURCE_RE

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
MAX_SCOPE_ITEMS: Final = 64


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
    """Which records: all of the patient's, or those matching any listed id, FHIR
    resource type or category."""

    all: bool = False
    records: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> Scope:
        if "all" in value:
            fields.exact(value, INVALID_FIELD, ("all",))
            if value["all"] is not True:
                raise INVALID_FIELD("scope.all must be true (omit it to list what is covered)")
            return cls(all=True)
        fields.exact(value, INVALID_FIELD, (), ("records", "resources", "categories"))
        if not value:
            raise INVALID_FIELD("scope must be {'all': true} or list records, resources or "
                                "categories")

        def listed(name: str, ok: Any, what: str) -> tuple[str, ...]:
            return fields.sorted_set(value, name, INVALID_FIELD, ok, what, MAX_SCOPE_ITEMS) \
                if name in value else ()

        return cls(False,
                   listed("records", fields.is_id, "record ids"),
                   listed("resources", lambda r: RESOURCE_RE.fullmatch(r) is not None,
                          "FHIR resource types"),
                   listed("categories", lambda c: c in CATEGORIES, "categories"))

    def covers(self, record: Mapping[str, Any]) -> bool:
        return self.all or record["record"] in self.records \
            or record.get("resource") in self.resources \
            or record.get("category") in self.categories

    def contains(self, other: Scope) -> bool:
        """Whether every record ``other`` can cover is covered by this scope."""
        if self.all:
            return True
        if other.all:
            return False
        return set(other.records) <= set(self.records) \
            and set(other.resources) <= set(self.resources) \
            and set(other.categories) <= set(self.categories)

    def to_json(self) -> dict[str, Any]:
        if self.all:
            return {"all": True}
        return {name: list(items) for name, items in (
            ("records", self.records), ("resources", self.resources),
            ("categories", self.categories)) if items}


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
