"""Claims messages (stateless checks). Codes never appear: a line names a *code tag*,
HMAC-SHA256(product key, "system|code") as 64 lowercase hex, computed by the insurer's
SDK; the chain only compares tags (README "Privacy")."""

from __future__ import annotations

import itertools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Self

from phrchain.core import encoding
from phrchain.modules import fields
from phrchain.modules.claims.errors import AMOUNT_MISMATCH, INVALID_FIELD
from phrchain.modules.claims.reasons import REVIEW_DENY
from phrchain.modules.identity.messages import NAME_RE
from phrchain.modules.settlement.messages import MAX_AMOUNT, amount, currency

PUBLISH: Final = "claims/publish"
ENROL: Final = "claims/enrol"
LEAVE: Final = "claims/leave"
FILE: Final = "claims/file"
REVIEW: Final = "claims/review"
LAPSE: Final = "claims/lapse"
APPEAL: Final = "claims/appeal"
SETTLE: Final = "claims/settle"

# Events the handlers emit (``Event.type``), for clients that filter events.
CLAIMS_PUBLISHED: Final = "claims.published"
CLAIMS_ENROLLED: Final = "claims.enrolled"
CLAIMS_LEFT: Final = "claims.left"
CLAIMS_FILED: Final = "claims.filed"
CLAIMS_DECIDED: Final = "claims.decided"
CLAIMS_PAID: Final = "claims.paid"
CLAIMS_UNFUNDED: Final = "claims.unfunded"
CLAIMS_APPEALED: Final = "claims.appealed"
EVENTS: Final = frozenset({CLAIMS_PUBLISHED, CLAIMS_ENROLLED, CLAIMS_LEFT, CLAIMS_FILED,
                           CLAIMS_DECIDED, CLAIMS_PAID, CLAIMS_UNFUNDED, CLAIMS_APPEALED})

MAX_TAGS: Final = 512
MAX_RECORDS: Final = 16
MAX_LINES: Final = 32
BPS: Final = 10_000
DECISIONS: Final = frozenset({"approve", "deny"})
LINK_DOMAIN: Final = "phrchain/claims/link/v1"
_SIGNATURE: Final = re.compile(r"[0-9a-f]{128}")
_TAG: Final = re.compile(r"[0-9a-f]{64}")


def link_bytes(claim: str, member: str) -> bytes:
    """What the owner pseudonym of a claim's records signs to link itself to the claim's
    signer (the insurer-pseudonym, ``member``) for exactly this claim."""
    return encoding.encode({"domain": LINK_DOMAIN, "claim": claim, "member": member})


def _is_tag(value: str) -> bool:
    """64 lowercase hex characters (one compiled match, not a Python step per character)."""
    return _TAG.fullmatch(value) is not None


def _tags(msg: Mapping[str, Any], name: str, low: int) -> tuple[str, ...]:
    """A sorted, duplicate-free list of ``low``..512 code tags (one spelling per set)."""
    value = msg.get(name)
    if not isinstance(value, list) or not low <= len(value) <= MAX_TAGS \
            or not all(isinstance(v, str) and _is_tag(v) for v in value) \
            or any(a >= b for a, b in itertools.pairwise(value)):
        raise INVALID_FIELD(f"{name} must be a sorted, duplicate-free list of {low} to "
                            f"{MAX_TAGS} code tags (64 lowercase hex)")
    return tuple(value)


def _items(msg: Mapping[str, Any], name: str, high: int) -> list[Mapping[str, Any]]:
    value = msg.get(name)
    if not isinstance(value, list) or not 1 <= len(value) <= high \
            or not all(isinstance(v, dict) for v in value):
        raise INVALID_FIELD(f"{name} must be a list of 1 to {high} objects")
    return value


@dataclass(frozen=True, slots=True)
class Publish:
    product: str
    name: str
    currency: str
    deductible: int
    copay_bps: int
    per_claim_limit: int
    yearly_limit: int
    waiting_ms: int
    max_term_ms: int
    covered: tuple[str, ...]
    excluded: tuple[str, ...]
    refer_above: int
    review_window_ms: int
    appeal_window_ms: int

    TYPE: ClassVar[str] = PUBLISH

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Publish:
        fields.exact(msg, INVALID_FIELD, (
            "product", "name", "currency", "deductible", "copay_bps", "per_claim_limit",
            "yearly_limit", "waiting_ms", "max_term_ms", "covered", "excluded", "refer_above",
            "review_window_ms", "appeal_window_ms"))
        name = msg.get("name")
        if not isinstance(name, str) or NAME_RE.fullmatch(name) is None:
            raise INVALID_FIELD("name must be 1 to 128 printable characters")
        per_claim = amount(msg, "per_claim_limit", INVALID_FIELD)
        covered, excluded = _tags(msg, "covered", 1), _tags(msg, "excluded", 0)
        if set(covered) & set(excluded):
            raise INVALID_FIELD("a code tag cannot be both covered and excluded")
        return cls(
            product=fields.object_id(msg, "product", INVALID_FIELD), name=name,
            currency=currency(msg, "currency", INVALID_FIELD),
            deductible=amount(msg, "deductible", INVALID_FIELD, 0),
            copay_bps=fields.integer(msg, "copay_bps", INVALID_FIELD, 0, BPS),
            per_claim_limit=per_claim,
            yearly_limit=amount(msg, "yearly_limit", INVALID_FIELD, per_claim),
            waiting_ms=fields.integer(msg, "waiting_ms", INVALID_FIELD),
            max_term_ms=fields.integer(msg, "max_term_ms", INVALID_FIELD, 1),
            covered=covered, excluded=excluded,
            refer_above=amount(msg, "refer_above", INVALID_FIELD, 0),
            review_window_ms=fields.integer(msg, "review_window_ms", INVALID_FIELD, 1),
            appeal_window_ms=fields.integer(msg, "appeal_window_ms", INVALID_FIELD),
        )

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "product": self.product, "name": self.name,
                "currency": self.currency, "deductible": self.deductible,
                "copay_bps": self.copay_bps, "per_claim_limit": self.per_claim_limit,
                "yearly_limit": self.yearly_limit, "waiting_ms": self.waiting_ms,
                "max_term_ms": self.max_term_ms, "covered": list(self.covered),
                "excluded": list(self.excluded), "refer_above": self.refer_above,
                "review_window_ms": self.review_window_ms,
                "appeal_window_ms": self.appeal_window_ms}


@dataclass(frozen=True, slots=True)
class Enrol:
    insurer: str
    product: str
    start_ms: int
    end_ms: int

    TYPE: ClassVar[str] = ENROL

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Enrol:
        fields.exact(msg, INVALID_FIELD, ("insurer", "product", "start_ms", "end_ms"))
        return cls(fields.did(msg, "insurer", INVALID_FIELD),
                   fields.object_id(msg, "product", INVALID_FIELD),
                   fields.integer(msg, "start_ms", INVALID_FIELD),
                   fields.integer(msg, "end_ms", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "insurer": self.insurer, "product": self.product,
                "start_ms": self.start_ms, "end_ms": self.end_ms}


@dataclass(frozen=True, slots=True)
class Leave:
    insurer: str
    product: str

    TYPE: ClassVar[str] = LEAVE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Leave:
        fields.exact(msg, INVALID_FIELD, ("insurer", "product"))
        return cls(fields.did(msg, "insurer", INVALID_FIELD),
                   fields.object_id(msg, "product", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "insurer": self.insurer, "product": self.product}


@dataclass(frozen=True, slots=True)
class RecordRef:
    record: str
    commitment: str

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> RecordRef:
        fields.exact(value, INVALID_FIELD, ("record", "commitment"))
        return cls(fields.object_id(value, "record", INVALID_FIELD),
                   fields.digest(value, "commitment", INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record, "commitment": self.commitment}


@dataclass(frozen=True, slots=True)
class Line:
    tag: str
    amount: int

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> Line:
        fields.exact(value, INVALID_FIELD, ("tag", "amount"))
        tag = value.get("tag")
        if not isinstance(tag, str) or not _is_tag(tag):
            raise INVALID_FIELD("a line's tag must be a code tag (64 lowercase hex)")
        return cls(tag, amount(value, "amount", INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        return {"tag": self.tag, "amount": self.amount}


@dataclass(frozen=True, slots=True)
class Link:
    """A claim's link to the pseudonym that owns its records and bill: that pseudonym's
    Ed25519 signature over :func:`link_bytes` (README "Pseudonyms and links")."""

    pseudonym: str
    sig: bytes

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> Link:
        fields.exact(value, INVALID_FIELD, ("pseudonym", "sig"))
        sig = value.get("sig")
        if not isinstance(sig, str) or _SIGNATURE.fullmatch(sig) is None:
            raise INVALID_FIELD("link.sig must be an Ed25519 signature (128 lowercase hex)")
        return cls(fields.did(value, "pseudonym", INVALID_FIELD), bytes.fromhex(sig))

    def to_json(self) -> dict[str, Any]:
        return {"pseudonym": self.pseudonym, "sig": self.sig.hex()}


@dataclass(frozen=True, slots=True)
class File:
    claim: str
    insurer: str
    product: str
    version: int
    bill: str
    service_ms: int
    records: tuple[RecordRef, ...]
    lines: tuple[Line, ...]
    amount: int
    consent_end_ms: int
    link: Link | None = None

    TYPE: ClassVar[str] = FILE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> File:
        fields.exact(msg, INVALID_FIELD, (
            "claim", "insurer", "product", "version", "bill", "service_ms", "records",
            "lines", "amount", "consent_end_ms"), ("link",))
        records = tuple(RecordRef.parse(r) for r in _items(msg, "records", MAX_RECORDS))
        if len({r.record for r in records}) != len(records):
            raise INVALID_FIELD("records must name each record once")
        lines = tuple(Line.parse(line) for line in _items(msg, "lines", MAX_LINES))
        total = amount(msg, "amount", INVALID_FIELD)
        if total != sum(line.amount for line in lines):
            raise AMOUNT_MISMATCH(f"amount {total}, lines sum to "
                                  f"{sum(line.amount for line in lines)}")
        return cls(
            claim=fields.object_id(msg, "claim", INVALID_FIELD),
            insurer=fields.did(msg, "insurer", INVALID_FIELD),
            product=fields.object_id(msg, "product", INVALID_FIELD),
            version=fields.integer(msg, "version", INVALID_FIELD, 1),
            bill=fields.object_id(msg, "bill", INVALID_FIELD),
            service_ms=fields.integer(msg, "service_ms", INVALID_FIELD),
            records=records, lines=lines, amount=total,
            consent_end_ms=fields.integer(msg, "consent_end_ms", INVALID_FIELD),
            link=fields.apply(Link.parse, msg["link"], INVALID_FIELD, "link") if "link" in msg
            else None,
        )

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "claim": self.claim, "insurer": self.insurer,
                "product": self.product, "version": self.version, "bill": self.bill,
                "service_ms": self.service_ms,
                "records": [r.to_json() for r in self.records],
                "lines": [line.to_json() for line in self.lines], "amount": self.amount,
                "consent_end_ms": self.consent_end_ms,
                **({} if self.link is None else {"link": self.link.to_json()})}


@dataclass(frozen=True, slots=True)
class Review:
    claim: str
    decision: str
    amount: int | None = None
    reason: str | None = None
    note_hash: str | None = None

    TYPE: ClassVar[str] = REVIEW

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Review:
        decision = fields.choice(msg, "decision", DECISIONS, INVALID_FIELD)
        detail = ("amount",) if decision == "approve" else ("reason",)
        fields.exact(msg, INVALID_FIELD, ("claim", "decision", *detail), ("note_hash",))
        return cls(
            claim=fields.object_id(msg, "claim", INVALID_FIELD), decision=decision,
            amount=fields.integer(msg, "amount", INVALID_FIELD, 0, MAX_AMOUNT)
            if decision == "approve" else None,
            reason=fields.choice(msg, "reason", REVIEW_DENY, INVALID_FIELD)
            if decision == "deny" else None,
            note_hash=fields.digest(msg, "note_hash", INVALID_FIELD) if "note_hash" in msg
            else None,
        )

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "claim": self.claim, "decision": self.decision,
                **fields.present(amount=self.amount, reason=self.reason,
                                 note_hash=self.note_hash)}


@dataclass(frozen=True, slots=True)
class ClaimRef:
    """``claims/lapse``, ``claims/appeal`` and ``claims/settle``: the claim id only.
    Build one as :class:`Lapse`, :class:`Appeal` or :class:`Settle`, which name the type."""

    claim: str

    TYPE: ClassVar[str]

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Self:
        fields.exact(msg, INVALID_FIELD, ("claim",))
        return cls(fields.object_id(msg, "claim", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "claim": self.claim}


@dataclass(frozen=True, slots=True)
class Lapse(ClaimRef):
    TYPE: ClassVar[str] = LAPSE


@dataclass(frozen=True, slots=True)
class Appeal(ClaimRef):
    TYPE: ClassVar[str] = APPEAL


@dataclass(frozen=True, slots=True)
class Settle(ClaimRef):
    TYPE: ClassVar[str] = SETTLE
