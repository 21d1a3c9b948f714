"""Audit messages: batches of sealed vault decisions (stateless checks).

What the chain sees of an entry is only its place (``patient``), its ``request`` hash
(deduplication), a ``commitment`` to the plaintext entry and the ``sealed`` entry: an
AES-256-GCM ciphertext whose length is a multiple of :data:`SEAL_BLOCK` plus the tag,
and its data key wrapped to each reader (HPKE, ``phrchain/audit/wrap/v1``). Who read
what, for which purpose and with which outcome is inside the ciphertext
(``vault/audit_seal.py`` seals and opens it; the module README says who can read it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Final

from phrchain.modules import fields
from phrchain.modules.audit.errors import INVALID_FIELD

APPEND: Final = "audit/append"
MAX_ENTRIES: Final = 64
ENTRY_FIELDS: Final = ("patient", "request", "commitment", "sealed")
SEALED_FIELDS: Final = ("ct", "keys")
SEAL_BLOCK: Final = 256  # the padded plaintext is a multiple of this many bytes
TAG_SIZE: Final = 16  # the AES-GCM tag after the ciphertext
MAX_SEALED_BLOCKS: Final = 8  # at most 2 KiB of padded plaintext per entry
MAX_READERS: Final = 32  # the patient, the appending organization, the regulators
WRAPPED_KEY_SIZE: Final = 80  # HPKE X25519 enc (32) + ChaCha20-Poly1305 of a 32-byte key
_HEX: Final = re.compile(r"(?:[0-9a-f]{2})*")

# Events the handlers emit (``Event.type``), for clients that filter events. There is no
# break-glass event: the flag is sealed; the patient and the regulator find break-glass
# accesses by opening entries.
AUDIT_APPENDED: Final = "audit.appended"
EVENTS: Final = frozenset({AUDIT_APPENDED})


def _hex(value: Any, name: str) -> bytes:
    if not isinstance(value, str) or _HEX.fullmatch(value) is None:
        raise INVALID_FIELD(f"{name} must be lowercase hex")
    return bytes.fromhex(value)


@dataclass(frozen=True, slots=True)
class Sealed:
    """An entry's ciphertext (hex) and its data key wrapped to each reader DID (hex)."""

    ct: str
    keys: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, sealed: Mapping[str, Any]) -> Sealed:
        fields.exact(sealed, INVALID_FIELD, SEALED_FIELDS)
        ct = _hex(sealed.get("ct"), "sealed.ct")
        blocks, rest = divmod(len(ct) - TAG_SIZE, SEAL_BLOCK)
        if rest or not 1 <= blocks <= MAX_SEALED_BLOCKS:
            raise INVALID_FIELD(f"sealed.ct must be k * {SEAL_BLOCK} + {TAG_SIZE} bytes "
                                f"with k from 1 to {MAX_SEALED_BLOCKS}")
        readers = sealed.get("keys")
        if not isinstance(readers, dict) or not 1 <= len(readers) <= MAX_READERS:
            raise INVALID_FIELD(f"sealed.keys must map 1 to {MAX_READERS} reader DIDs to "
                                "wrapped keys")
        for reader, wrapped in readers.items():
            fields.did({"reader": reader}, "reader", INVALID_FIELD)
            if len(_hex(wrapped, "a wrapped key")) != WRAPPED_KEY_SIZE:
                raise INVALID_FIELD(f"a wrapped key must be {WRAPPED_KEY_SIZE} bytes")
        return cls(sealed["ct"], dict(readers))

    def to_json(self) -> dict[str, Any]:
        return {"ct": self.ct, "keys": dict(self.keys)}


@dataclass(frozen=True, slots=True)
class Entry:
    """One sealed vault decision: the owner pseudonym whose log it joins, the hash of
    the caller's signed vault request, the commitment to the plaintext entry and the
    sealed entry."""

    patient: str
    request: str
    commitment: str
    sealed: Sealed

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> Entry:
        fields.exact(entry, INVALID_FIELD, ENTRY_FIELDS)
        return cls(
            patient=fields.did(entry, "patient", INVALID_FIELD),
            request=fields.digest(entry, "request", INVALID_FIELD),
            commitment=fields.digest(entry, "commitment", INVALID_FIELD),
            sealed=fields.apply(Sealed.parse, entry.get("sealed"), INVALID_FIELD, "sealed"),
        )

    def to_json(self) -> dict[str, Any]:
        return {"patient": self.patient, "request": self.request,
                "commitment": self.commitment, "sealed": self.sealed.to_json()}


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


def parse_append(msg: Mapping[str, Any]) -> list[Entry]:
    return list(Append.parse(msg).entries)
