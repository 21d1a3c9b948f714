"""Research messages (stateless checks) and the bytes approvers sign. A donor is named by
nothing but the per-relationship pseudonym that signs its donation (README "Privacy")."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.core import encoding
from phrchain.modules import fields
from phrchain.modules.research import duo
from phrchain.modules.research.errors import INVALID_FIELD
from phrchain.modules.research.tables import check_diseases, check_terms, text

SET_PARAMS: Final = "research/set_params"
DONATE: Final = "research/donate"
REVOKE: Final = "research/revoke"
REGISTER_STUDY: Final = "research/register_study"
REQUEST: Final = "research/request"
MATCH: Final = "research/match"
RELEASE: Final = "research/release"
DESTROY_KEY: Final = "research/destroy_key"

RESEARCH_PARAMS_SET: Final = "research.params_set"
RESEARCH_DONATED: Final = "research.donated"
RESEARCH_REVOKED: Final = "research.revoked"
RESEARCH_STUDY_REGISTERED: Final = "research.study_registered"
RESEARCH_REQUESTED: Final = "research.requested"
RESEARCH_MATCHED: Final = "research.matched"
RESEARCH_RELEASED: Final = "research.released"
RESEARCH_KEY_DESTROYED: Final = "research.key_destroyed"
EVENTS: Final = frozenset({
    RESEARCH_PARAMS_SET, RESEARCH_DONATED, RESEARCH_REVOKED, RESEARCH_STUDY_REGISTERED,
    RESEARCH_REQUESTED, RESEARCH_MATCHED, RESEARCH_RELEASED, RESEARCH_KEY_DESTROYED})

RELEASE_DOMAIN: Final = "phrchain/research/release/v1"
IRB_DOMAIN: Final = "phrchain/research/irb/v1"
MAX_LIST: Final = 32
MAX_SCOPE: Final = 1024          # as consent scopes (docs/privacy-v2-design.md)
_SIG: Final = re.compile(r"[0-9a-f]{128}")
_MONDO: Final = re.compile(r"MONDO:[0-9]{7}")
_COUNTRY: Final = re.compile(r"[A-Z]{2}")


def _dids(msg: Mapping[str, Any], name: str, low: int = 1) -> tuple[str, ...]:
    found = fields.sorted_set(msg, name, INVALID_FIELD, lambda v: v.startswith("did:"),
                              "DIDs", MAX_LIST, low)
    for did in found:
        fields.did({name: did}, name, INVALID_FIELD)
    return found


def _param(code: str, value: Mapping[str, Any]) -> Any:
    """The parameter of a DUO code, checked against its kind (``duo.PARAM_KINDS``)."""
    kind = duo.PARAM_KINDS[code]
    if kind == "none":
        fields.exact(value, INVALID_FIELD, ("code",))
        return None
    fields.exact(value, INVALID_FIELD, ("code", "param"))
    if kind == "disease":
        return fields.matching(value, "param", _MONDO, INVALID_FIELD, "a MONDO id")
    if kind == "dids":
        return list(_dids(value, "param"))
    if kind == "countries":
        return list(fields.sorted_set(value, "param", INVALID_FIELD,
                                      lambda v: _COUNTRY.fullmatch(v) is not None,
                                      "ISO 3166 alpha-2 codes", 64))
    if kind == "ids":
        return list(fields.sorted_set(value, "param", INVALID_FIELD, fields.is_id,
                                      "study ids", MAX_LIST))
    if kind == "date":
        return fields.integer(value, "param", INVALID_FIELD)
    return fields.integer(value, "param", INVALID_FIELD, 1, 1200)  # months


def parse_permission(value: Any, allowed: frozenset[str]) -> dict[str, Any]:
    """``{code}`` or ``{code: "DS", disease}``."""
    if not isinstance(value, dict):
        raise INVALID_FIELD("permission and purpose must be objects")
    code = fields.choice(value, "code", allowed, INVALID_FIELD)
    if code == "DS":
        fields.exact(value, INVALID_FIELD, ("code", "disease"))
        return {"code": code, "disease": fields.matching(value, "disease", _MONDO,
                                                         INVALID_FIELD, "a MONDO id")}
    fields.exact(value, INVALID_FIELD, ("code",))
    return {"code": code}


def parse_modifiers(msg: Mapping[str, Any]) -> list[dict[str, Any]]:
    value = msg.get("modifiers")
    if not isinstance(value, list) or len(value) > MAX_LIST:
        raise INVALID_FIELD(f"modifiers must be a list of at most {MAX_LIST} objects")
    out: list[dict[str, Any]] = []
    for item in value:
        if not isinstance(item, dict):
            raise INVALID_FIELD("each modifier must be an object")
        code = fields.choice(item, "code", frozenset(duo.MODIFIER_RULES), INVALID_FIELD)
        param = _param(code, item)
        out.append({"code": code} if param is None else {"code": code, "param": param})
    if any(a["code"] >= b["code"] for a, b in itertools.pairwise(out)):
        raise INVALID_FIELD("modifiers must be sorted by code, each code once")
    return out


def parse_scope(value: Any) -> dict[str, Any]:
    """``{"all": true}`` or ``{"records": [ids]}`` (the wallet expands categories)."""
    if not isinstance(value, dict):
        raise INVALID_FIELD("scope must be an object")
    if "all" in value:
        fields.exact(value, INVALID_FIELD, ("all",))
        if value["all"] is not True:
            raise INVALID_FIELD("scope.all must be true")
        return {"all": True}
    fields.exact(value, INVALID_FIELD, ("records",))
    return {"records": list(fields.sorted_set(value, "records", INVALID_FIELD, fields.is_id,
                                              "record ids", MAX_SCOPE))}


def release_bytes(dataset: str, study: str, root: str, leaves_root: str, config: str,
                  key: str) -> bytes:
    """What a dataset's approver signs (Ed25519)."""
    return encoding.encode({"domain": RELEASE_DOMAIN, "dataset": dataset, "study": study,
                            "root": root, "leaves_root": leaves_root, "config": config,
                            "key": key})


def irb_bytes(study: str, reference: str, protocol: str) -> bytes:
    """What a study's IRB / data review board approver signs (Ed25519)."""
    return encoding.encode({"domain": IRB_DOMAIN, "study": study, "reference": reference,
                            "protocol": protocol})


def leaf_bytes(commitment: str, donation: int) -> bytes:
    """One dataset leaf: a released record's commitment and the donation version."""
    return encoding.encode({"record": commitment, "donation": donation})


def signature(msg: Mapping[str, Any], name: str) -> bytes:
    return bytes.fromhex(fields.matching(msg, name, _SIG, INVALID_FIELD,
                                         "an Ed25519 signature (128 hex)"))


@dataclass(frozen=True, slots=True)
class SetParams:
    """Chain parameters and the pinned terms tables (authority)."""

    TYPE: ClassVar[str] = SET_PARAMS

    match_batch: int
    max_leaves: int
    min_k: int
    min_l: int
    terms: dict[str, Any]
    diseases: dict[str, Any]

    FIELDS: ClassVar[tuple[str, ...]] = ("match_batch", "max_leaves", "min_k", "min_l",
                                         "terms", "diseases")

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> SetParams:
        fields.exact(msg, INVALID_FIELD, cls.FIELDS)
        return cls(fields.integer(msg, "match_batch", INVALID_FIELD, 1, 400),
                   fields.integer(msg, "max_leaves", INVALID_FIELD, 1, 200),
                   fields.integer(msg, "min_k", INVALID_FIELD, 1, 1000),
                   fields.integer(msg, "min_l", INVALID_FIELD, 1, 1000),
                   check_terms(msg.get("terms")), check_diseases(msg.get("diseases")))

    def to_json(self) -> dict[str, Any]:
        return {"match_batch": self.match_batch, "max_leaves": self.max_leaves,
                "min_k": self.min_k, "min_l": self.min_l, "terms": self.terms,
                "diseases": self.diseases}

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, **self.to_json()}


@dataclass(frozen=True, slots=True)
class Donate:
    """A donation (or a new version of the signer's donation): DUO permission and
    modifiers, the records it covers, its period. Signed by the donor pseudonym that owns
    the records."""

    TYPE: ClassVar[str] = DONATE

    permission: dict[str, Any]
    modifiers: list[dict[str, Any]]
    scope: dict[str, Any]
    start_ms: int
    end_ms: int

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Donate:
        fields.exact(msg, INVALID_FIELD, ("permission", "modifiers", "scope", "period"))
        period = fields.mapping(msg, "period", INVALID_FIELD)
        fields.exact(period, INVALID_FIELD, ("start_ms", "end_ms"))
        return cls(parse_permission(msg.get("permission"), duo.PERMISSIONS),
                   parse_modifiers(msg), parse_scope(msg.get("scope")),
                   fields.integer(period, "start_ms", INVALID_FIELD),
                   fields.integer(period, "end_ms", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "permission": self.permission, "modifiers": self.modifiers,
                "scope": self.scope,
                "period": {"start_ms": self.start_ms, "end_ms": self.end_ms}}


@dataclass(frozen=True, slots=True)
class Revoke:
    """Withdraw the signer's donation: it is excluded from every later request and
    dataset (datasets already released stay as they were, provably)."""

    TYPE: ClassVar[str] = REVOKE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Revoke:
        fields.exact(msg, INVALID_FIELD, ())
        return cls()

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE}


@dataclass(frozen=True, slots=True)
class Irb:
    reference: str
    approver: str
    sig: bytes

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Irb:
        fields.exact(msg, INVALID_FIELD, ("reference", "approver", "sig"))
        return cls(text(msg, "reference", 128), fields.did(msg, "approver", INVALID_FIELD),
                   signature(msg, "sig"))

    def to_json(self) -> dict[str, Any]:
        return {"reference": self.reference, "approver": self.approver,
                "sig": self.sig.hex()}


@dataclass(frozen=True, slots=True)
class RegisterStudy:
    """A study of an admitted research institute: what it declares is what donors'
    terms are matched against (``duo.MODIFIER_RULES`` reads these fields)."""

    TYPE: ClassVar[str] = REGISTER_STUDY

    study: str
    purpose: dict[str, Any]
    for_profit: bool
    commercial: bool
    country: str
    genetic: bool
    publish: bool
    returns: bool
    methods: bool
    clinical_care: bool
    publication_ms: int
    duration_months: int
    collaborators: tuple[str, ...]
    users: tuple[str, ...]
    protocol: str
    k: int
    l: int  # noqa: E741  (the l of l-diversity)
    irb: Irb | None

    FLAGS: ClassVar[tuple[str, ...]] = ("for_profit", "commercial", "genetic", "publish",
                                        "returns", "methods", "clinical_care")
    FIELDS: ClassVar[tuple[str, ...]] = (
        "study", "purpose", *FLAGS, "country", "publication_ms", "duration_months",
        "collaborators", "users", "protocol", "k", "l")

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> RegisterStudy:
        fields.exact(msg, INVALID_FIELD, cls.FIELDS, ("irb",))
        flags = {name: fields.boolean(msg, name, INVALID_FIELD) for name in cls.FLAGS}
        return cls(
            study=fields.object_id(msg, "study", INVALID_FIELD),
            purpose=parse_permission(msg.get("purpose"), duo.PURPOSES),
            country=fields.matching(msg, "country", _COUNTRY, INVALID_FIELD,
                                    "an ISO 3166 alpha-2 code"),
            publication_ms=fields.integer(msg, "publication_ms", INVALID_FIELD),
            duration_months=fields.integer(msg, "duration_months", INVALID_FIELD, 1, 1200),
            collaborators=_dids(msg, "collaborators", 0), users=_dids(msg, "users"),
            protocol=fields.digest(msg, "protocol", INVALID_FIELD),
            k=fields.integer(msg, "k", INVALID_FIELD, 1, 1000),
            l=fields.integer(msg, "l", INVALID_FIELD, 1, 1000),
            irb=None if "irb" not in msg else fields.apply(Irb.parse, msg["irb"],
                                                           INVALID_FIELD, "irb"),
            **flags)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "study": self.study, "purpose": self.purpose, "country": self.country,
            "publication_ms": self.publication_ms, "duration_months": self.duration_months,
            "collaborators": list(self.collaborators), "users": list(self.users),
            "protocol": self.protocol, "k": self.k, "l": self.l,
            **{name: getattr(self, name) for name in self.FLAGS}}
        return {**out, "irb": None if self.irb is None else self.irb.to_json()}

    def to_msg(self) -> dict[str, Any]:
        body = self.to_json()
        if body["irb"] is None:
            del body["irb"]
        return {"type": self.TYPE, **body}


@dataclass(frozen=True, slots=True)
class Request:
    """A data request of a study: every donor is matched against it (in batches)."""

    TYPE: ClassVar[str] = REQUEST

    request: str
    study: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Request:
        fields.exact(msg, INVALID_FIELD, ("request", "study"))
        return cls(fields.object_id(msg, "request", INVALID_FIELD),
                   fields.object_id(msg, "study", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "request": self.request, "study": self.study}


@dataclass(frozen=True, slots=True)
class Match:
    """Match the next batch of donors against a request."""

    TYPE: ClassVar[str] = MATCH

    request: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Match:
        fields.exact(msg, INVALID_FIELD, ("request",))
        return cls(fields.object_id(msg, "request", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "request": self.request}


@dataclass(frozen=True, slots=True)
class Leaf:
    record: str
    donation: int


@dataclass(frozen=True, slots=True)
class Release:
    """A dataset manifest, sent by the custodian organization whose vault released it."""

    TYPE: ClassVar[str] = RELEASE

    dataset: str
    request: str
    root: str               # RFC 9162 root over the released pseudonymised resources
    resources: int
    leaves: tuple[Leaf, ...]
    leaves_root: str        # RFC 9162 root over leaf_bytes(record commitment, donation)
    config: str             # SHA-256 of the de-identification configuration
    k: int
    l: int  # noqa: E741
    key: str                # commitment to the vault's per-study pseudonymisation key
    approver: str
    approval: bytes

    FIELDS: ClassVar[tuple[str, ...]] = ("dataset", "request", "root", "resources", "leaves",
                                         "leaves_root", "config", "k", "l", "key",
                                         "approver", "approval")

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Release:
        fields.exact(msg, INVALID_FIELD, cls.FIELDS)
        raw = msg.get("leaves")
        if not isinstance(raw, list) or not 1 <= len(raw) <= 200:
            raise INVALID_FIELD("leaves must be a list of 1 to 200 objects")
        leaves = tuple(fields.apply(_leaf, v, INVALID_FIELD, "leaves") for v in raw)
        if any(a.record >= b.record for a, b in itertools.pairwise(leaves)):
            raise INVALID_FIELD("leaves must be sorted by record id, each record once")
        return cls(
            fields.object_id(msg, "dataset", INVALID_FIELD),
            fields.object_id(msg, "request", INVALID_FIELD),
            fields.digest(msg, "root", INVALID_FIELD),
            fields.integer(msg, "resources", INVALID_FIELD, 1, 10**9), leaves,
            fields.digest(msg, "leaves_root", INVALID_FIELD),
            fields.digest(msg, "config", INVALID_FIELD),
            fields.integer(msg, "k", INVALID_FIELD, 1, 10**9),
            fields.integer(msg, "l", INVALID_FIELD, 1, 10**9),
            fields.digest(msg, "key", INVALID_FIELD),
            fields.did(msg, "approver", INVALID_FIELD), signature(msg, "approval"))

    def signed_bytes(self, study: str) -> bytes:
        return release_bytes(self.dataset, study, self.root, self.leaves_root, self.config,
                             self.key)

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "dataset": self.dataset, "request": self.request,
                "root": self.root, "resources": self.resources,
                "leaves": [{"record": x.record, "donation": x.donation} for x in self.leaves],
                "leaves_root": self.leaves_root, "config": self.config, "k": self.k,
                "l": self.l, "key": self.key, "approver": self.approver,
                "approval": self.approval.hex()}


def _leaf(value: Mapping[str, Any]) -> Leaf:
    fields.exact(value, INVALID_FIELD, ("record", "donation"))
    return Leaf(fields.object_id(value, "record", INVALID_FIELD),
                fields.integer(value, "donation", INVALID_FIELD, 1))


@dataclass(frozen=True, slots=True)
class DestroyKey:
    """Record that the dataset's pseudonymisation key was destroyed (as an erasure)."""

    TYPE: ClassVar[str] = DESTROY_KEY

    dataset: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> DestroyKey:
        fields.exact(msg, INVALID_FIELD, ("dataset",))
        return cls(fields.object_id(msg, "dataset", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "dataset": self.dataset}
