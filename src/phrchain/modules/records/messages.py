"""Records messages (stateless checks). Layout of a sealed record: ``docs/records.md``."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.modules import fields
from phrchain.modules.records.errors import BAD_SIZE, INVALID_FIELD

REGISTER: Final = "records/register"
ERASE: Final = "records/erase"
ADD_HOLDER: Final = "records/add_holder"

# Events the handlers emit (``Event.type``), for clients that filter events.
RECORDS_REGISTERED: Final = "records.registered"
RECORDS_SUPERSEDED: Final = "records.superseded"
RECORDS_ERASED: Final = "records.erased"
RECORDS_HOLDER_ADDED: Final = "records.holder_added"
EVENTS: Final = frozenset({RECORDS_REGISTERED, RECORDS_SUPERSEDED, RECORDS_ERASED,
                           RECORDS_HOLDER_ADDED})

CATEGORIES: Final = frozenset({
    "administrative", "allergy", "care-plan", "condition", "device", "diagnostic-report",
    "document", "encounter", "financial", "genomic", "imaging", "immunization",
    "laboratory", "medication", "observation", "other", "procedure", "vital-signs",
})
ERASE_REASONS: Final = frozenset({
    "patient_request", "regulator_order", "entered_in_error", "retention_expired",
})
RESOURCE_RE: Final = re.compile(r"[A-Z][A-Za-z]{1,63}")
# Sealing constants the chain checks sizes against (vault/crypto.py uses the same ones).
CHUNK_SIZE: Final = 1 << 20
SALT_SIZE: Final = 32
TAG_SIZE: Final = 16
MAX_SIZE: Final = 1 << 40


def expected_chunks(size: int, chunks: int) -> bool:
    """Whether ``chunks`` AES-GCM chunks can total ``size`` ciphertext bytes: the framed
    plaintext (salt + record) is ``size - 16 * chunks`` bytes, cut every CHUNK_SIZE."""
    framed = size - TAG_SIZE * chunks
    return framed >= SALT_SIZE and chunks == -(-framed // CHUNK_SIZE)


@dataclass(frozen=True, slots=True)
class Register:
    record: str
    patient: str
    resource: str
    category: str
    hash: str
    size: int
    chunks: int
    commitment: str
    custodian: str | None = None
    replaces: str | None = None

    TYPE: ClassVar[str] = REGISTER

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Register:
        fields.exact(msg, INVALID_FIELD,
                     ("record", "patient", "resource", "category", "hash", "size", "chunks",
                      "commitment"), ("custodian", "replaces"))
        resource = msg.get("resource")
        if not isinstance(resource, str) or RESOURCE_RE.fullmatch(resource) is None:
            raise INVALID_FIELD("resource must be a FHIR resource type name")
        size = fields.integer(msg, "size", INVALID_FIELD, 1, MAX_SIZE)
        chunks = fields.integer(msg, "chunks", INVALID_FIELD, 1, MAX_SIZE // CHUNK_SIZE + 1)
        if not expected_chunks(size, chunks):
            raise BAD_SIZE(f"{chunks} chunk(s) cannot hold {size} ciphertext bytes")
        return cls(
            record=fields.object_id(msg, "record", INVALID_FIELD),
            patient=fields.did(msg, "patient", INVALID_FIELD),
            resource=resource,
            category=fields.choice(msg, "category", CATEGORIES, INVALID_FIELD),
            hash=fields.digest(msg, "hash", INVALID_FIELD),
            size=size, chunks=chunks,
            commitment=fields.digest(msg, "commitment", INVALID_FIELD),
            custodian=fields.did(msg, "custodian", INVALID_FIELD) if "custodian" in msg
            else None,
            replaces=fields.object_id(msg, "replaces", INVALID_FIELD) if "replaces" in msg
            else None,
        )

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "record": self.record, "patient": self.patient,
                "resource": self.resource, "category": self.category, "hash": self.hash,
                "size": self.size, "chunks": self.chunks, "commitment": self.commitment,
                **fields.present(custodian=self.custodian, replaces=self.replaces)}


@dataclass(frozen=True, slots=True)
class Erase:
    record: str
    reason: str

    TYPE: ClassVar[str] = ERASE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Erase:
        fields.exact(msg, INVALID_FIELD, ("record", "reason"))
        return cls(fields.object_id(msg, "record", INVALID_FIELD),
                   fields.choice(msg, "reason", ERASE_REASONS, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "record": self.record, "reason": self.reason}


@dataclass(frozen=True, slots=True)
class AddHolder:
    """The owner patient names a care organization whose vault will hold a copy (the
    portable record, ``docs/portable.md``)."""

    record: str
    org: str

    TYPE: ClassVar[str] = ADD_HOLDER

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> AddHolder:
        fields.exact(msg, INVALID_FIELD, ("record", "org"))
        return cls(fields.object_id(msg, "record", INVALID_FIELD),
                   fields.did(msg, "org", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "record": self.record, "org": self.org}
