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

# The vocabulary of a record's *sealed* descriptor (``vault/descriptor.py``): never on
# chain (v2), but one list for the wallet, the vault and the consent form to agree on.
CATEGORIES: Final = frozenset({
    "administrative", "allergy", "care-plan", "condition", "device", "diagnostic-report",
    "document", "encounter", "financial", "genomic", "imaging", "immunization",
    "laboratory", "medication", "observation", "other", "procedure", "vital-signs",
})
ERASE_REASONS: Final = frozenset({
    "patient_request", "regulator_order", "entered_in_error", "retention_expired",
})
RESOURCE_RE: Final = re.compile(r"[A-Z][A-Za-z]{1,63}")
# Sealing constants (vault/crypto.py uses the same ones).
CHUNK_SIZE: Final = 1 << 20
SALT_SIZE: Final = 32
TAG_SIZE: Final = 16
# The on-chain size is a bucket: the ciphertext size rounded up to a power of two, at
# least MIN_SIZE (so the chain tells a 200-byte observation from a 180-byte one apart
# never, and a scan from a note only by order of magnitude).
MIN_SIZE: Final = 1 << 12
MAX_SIZE: Final = 1 << 40


def size_bucket(size: int) -> int:
    """The on-chain ``size`` of a record of ``size`` ciphertext bytes: the next power of
    two, at least :data:`MIN_SIZE`. A ciphertext over :data:`MAX_SIZE` has no bucket."""
    if type(size) is not int or not 0 < size <= MAX_SIZE:
        raise ValueError(f"a ciphertext size is 1..{MAX_SIZE} bytes, not {size!r}")
    return max(MIN_SIZE, 1 << (size - 1).bit_length())


def is_bucket(size: int) -> bool:
    """Whether ``size`` is a power of two in [MIN_SIZE, MAX_SIZE]."""
    return MIN_SIZE <= size <= MAX_SIZE and size & (size - 1) == 0


@dataclass(frozen=True, slots=True)
class Register:
    """Registers a record: signed by its custodian organization (its vault sends it), or
    by the owner patient pseudonym for a self-reported record (``custodian`` required).
    What the record is (type, category, author, exact size, chunks) is sealed in the
    descriptor that ``descriptor`` commits to; none of it is on chain."""

    record: str
    patient: str
    hash: str
    size: int
    commitment: str
    descriptor: str
    custodian: str | None = None
    replaces: str | None = None

    TYPE: ClassVar[str] = REGISTER

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Register:
        fields.exact(msg, INVALID_FIELD,
                     ("record", "patient", "hash", "size", "commitment", "descriptor"),
                     ("custodian", "replaces"))
        size = fields.integer(msg, "size", INVALID_FIELD, 1, MAX_SIZE)
        if not is_bucket(size):
            raise BAD_SIZE(f"size {size} is not a power of two from {MIN_SIZE} to "
                           f"{MAX_SIZE} (the ciphertext size rounded up)")
        return cls(
            record=fields.object_id(msg, "record", INVALID_FIELD),
            patient=fields.did(msg, "patient", INVALID_FIELD),
            hash=fields.digest(msg, "hash", INVALID_FIELD),
            size=size,
            commitment=fields.digest(msg, "commitment", INVALID_FIELD),
            descriptor=fields.digest(msg, "descriptor", INVALID_FIELD),
            custodian=fields.did(msg, "custodian", INVALID_FIELD) if "custodian" in msg
            else None,
            replaces=fields.object_id(msg, "replaces", INVALID_FIELD) if "replaces" in msg
            else None,
        )

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "record": self.record, "patient": self.patient,
                "hash": self.hash, "size": self.size, "commitment": self.commitment,
                "descriptor": self.descriptor,
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
