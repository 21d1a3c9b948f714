"""Sealed audit entries: who read what stays readable by the patient, the custodian and
the regulator's auditors only (``modules/audit/README.md`` fixes the format).

A vault decision (:class:`AccessEntry`: record, accessor, action, purpose, decision,
reason, consent, break-glass flag, request, decision height; optionally the client, the
client's grant, the batch and what a permit released, :data:`OPTIONAL_FIELDS`, written
only when set) goes on chain sealed:

1. ``plaintext = encode({entry fields..., "salt": 32 hex})`` (canonical JSON, a fresh
   16-byte salt so that the commitment cannot be confirmed by guessing the few possible
   entries);
2. ``commitment = tagged_hash("phrchain/audit/commitment/v1", plaintext)``;
3. ``padded = plaintext || 0x00 ...`` up to the next multiple of :data:`SEAL_BLOCK`
   bytes (canonical JSON never holds a raw 0x00, so the padding is unambiguous; the
   ciphertext length says only which 256-byte bucket the entry falls in);
4. ``ct = AES-256-GCM(key, nonce = 12 zero bytes, padded, aad)`` under a fresh 32-byte
   key (used once, so the fixed nonce never repeats under a key), ``aad =
   domain_prefix("phrchain/audit/aad/v1") || encode({"patient", "request"})``: the
   ciphertext belongs to one place in one log;
5. the key is wrapped to each reader with HPKE exactly as record keys are
   (``vault/crypto.py`` step 5's suite), ``info = domain_prefix("phrchain/audit/wrap/v1")
   || encode({"patient", "reader", "request"})``.

The commitment matters because AES-GCM does not commit to its key: two wrapped keys
could open one ciphertext to two different entries. A reader that checks the commitment
reads the plaintext every other reader reads.

Sealing refuses an inconsistent entry (the chain cannot check it any more); opening
checks the same, and that the entry is the one its leaf names (request, commitment, a
decision height below the inclusion height). Every failure raises
:class:`~phrchain.vault.errors.VaultError` ``vault/19``. Randomness (key, salt) is
drawn here only when the caller passes none, so tests fix them.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phrchain.core import encoding, keys
from phrchain.core.errors import CodedError, CryptoError, EncodingError
from phrchain.core.hashing import domain_prefix, tagged_hash
from phrchain.modules import fields
from phrchain.modules.audit.messages import (
    MAX_SEALED_BLOCKS,
    SEAL_BLOCK,
    TAG_SIZE,
    WRAPPED_KEY_SIZE,
    Entry,
)
from phrchain.modules.consent.decide import ACTIONS, PERMIT_REASONS, REASONS
from phrchain.modules.consent.messages import PURPOSES
from phrchain.vault.crypto import HPKE_SUITE
from phrchain.vault.errors import AUDIT_ENTRY_INVALID, VaultError

__all__ = ["AccessEntry", "commitment", "open_entry", "pad", "plaintext", "readers_of",
           "seal", "unpad"]

COMMITMENT_TAG: Final = "phrchain/audit/commitment/v1"
AAD_TAG: Final = "phrchain/audit/aad/v1"
WRAP_TAG: Final = "phrchain/audit/wrap/v1"
KEY_SIZE: Final = 32
SALT_SIZE: Final = 16  # 32 hex characters
NONCE: Final = bytes(12)  # one key per entry: the nonce never repeats under a key
ENTRY_FIELDS: Final = ("record", "accessor", "action", "purpose", "decision", "reason",
                       "consent", "break_glass", "request", "at")
# Optional fields (added for the FHIR facade, issue 19), written only when set, so every
# entry sealed before them opens and re-encodes byte for byte as it did:
# ``client`` the OAuth client (a SMART app) the accessor acted through; ``grant`` the
# consent id that authorised that client (a patient's app consent; not a consent the
# decision rests on, which is ``consent``); ``batch`` the request several decisions
# belong to (a FHIR search page: each decision has its own ``request``, since the chain
# keeps one entry per request); ``released`` what a permit released when it was not the
# record itself (``count``: only that it is counted in a ``_summary=count`` total).
OPTIONAL_FIELDS: Final = ("client", "grant", "batch", "released")
RELEASED: Final = ("count",)
_CLIENT: Final = re.compile(r"[\x21-\x7e]{1,128}")
# The vault's own permit rule (docs/privacy-v2-design.md section 2: authors are known to
# their vault only), a reason an entry may carry whether or not the chain decides it.
VAULT_PERMIT_REASONS: Final = frozenset({"author"})
ENTRY_PERMIT_REASONS: Final = PERMIT_REASONS | VAULT_PERMIT_REASONS
ENTRY_REASONS: Final = REASONS | VAULT_PERMIT_REASONS


def _invalid(detail: str) -> VaultError:
    return VaultError(AUDIT_ENTRY_INVALID, detail)


@dataclass(frozen=True, slots=True)
class AccessEntry:
    """One vault decision, in the clear (only ever inside a sealed entry). ``consent``
    is ``None`` unless the decision rests on a consent."""

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
    client: str | None = None
    grant: str | None = None
    batch: str | None = None
    released: str | None = None

    @classmethod
    def parse(cls, entry: Mapping[str, Any]) -> AccessEntry:
        """A checked entry: each field, and that decision, reason, consent and the
        break-glass flag agree (permit ⇔ a permit reason; ``consent`` set ⇔ reason
        ``consent``; ``break_glass`` ⇔ reason ``break_glass``)."""
        bad = AUDIT_ENTRY_INVALID
        fields.exact(entry, bad, ENTRY_FIELDS, OPTIONAL_FIELDS)
        out = cls(
            record=fields.object_id(entry, "record", bad),
            accessor=fields.did(entry, "accessor", bad),
            action=fields.choice(entry, "action", ACTIONS, bad),
            purpose=fields.choice(entry, "purpose", PURPOSES, bad),
            decision=fields.choice(entry, "decision", ("permit", "deny"), bad),
            reason=fields.choice(entry, "reason", ENTRY_REASONS, bad),
            consent=None if entry.get("consent") is None
            else fields.object_id(entry, "consent", bad),
            break_glass=fields.boolean(entry, "break_glass", bad),
            request=fields.digest(entry, "request", bad),
            at=fields.integer(entry, "at", bad),
            client=None if "client" not in entry
            else fields.matching(entry, "client", _CLIENT, bad, "1-128 printable ASCII"),
            grant=None if "grant" not in entry else fields.object_id(entry, "grant", bad),
            batch=None if "batch" not in entry else fields.digest(entry, "batch", bad),
            released=None if "released" not in entry
            else fields.choice(entry, "released", RELEASED, bad),
        )
        permit = out.decision == "permit"
        if (out.released is not None and not permit) \
                or permit != (out.reason in ENTRY_PERMIT_REASONS) \
                or out.break_glass != (out.reason == "break_glass") \
                or (out.consent is not None) != (out.reason == "consent"):
            raise _invalid(f"inconsistent entry: decision {out.decision} with reason "
                           f"{out.reason}")
        return out

    def to_json(self) -> dict[str, Any]:
        return {"record": self.record, "accessor": self.accessor, "action": self.action,
                "purpose": self.purpose, "decision": self.decision, "reason": self.reason,
                "consent": self.consent, "break_glass": self.break_glass,
                "request": self.request, "at": self.at,
                **fields.present(client=self.client, grant=self.grant, batch=self.batch,
                                 released=self.released)}


# -- the format, step by step ------------------------------------------------------------
def plaintext(entry: AccessEntry, salt: bytes) -> bytes:
    """Step 1: the canonical entry with its salt."""
    if not isinstance(salt, bytes) or len(salt) != SALT_SIZE:
        raise _invalid(f"salt must be {SALT_SIZE} bytes")
    return encoding.encode({**entry.to_json(), "salt": salt.hex()})


def commitment(plain: bytes) -> bytes:
    """Step 2."""
    return tagged_hash(COMMITMENT_TAG, plain)


def pad(plain: bytes) -> bytes:
    """Step 3: zero bytes up to the next multiple of :data:`SEAL_BLOCK`."""
    size = max(1, -(-len(plain) // SEAL_BLOCK)) * SEAL_BLOCK
    if size > MAX_SEALED_BLOCKS * SEAL_BLOCK:
        raise _invalid(f"entry of {len(plain)} bytes exceeds "
                       f"{MAX_SEALED_BLOCKS * SEAL_BLOCK}")
    return plain + bytes(size - len(plain))


def unpad(padded: bytes) -> bytes:
    """The inverse of :func:`pad`, refusing any other padding."""
    plain = padded.rstrip(b"\x00")
    if not plain or pad(plain) != padded:
        raise _invalid("the entry's padding is not the format's")
    return plain


def aad(patient: str, request: str) -> bytes:
    """Step 4's associated data."""
    return domain_prefix(AAD_TAG) + encoding.encode({"patient": patient, "request": request})


def wrap_info(patient: str, request: str, reader: str) -> bytes:
    """Step 5's HPKE ``info``: one key, one entry, one reader."""
    return domain_prefix(WRAP_TAG) + encoding.encode(
        {"patient": patient, "reader": reader, "request": request})


# -- sealing and opening -----------------------------------------------------------------
@lru_cache(maxsize=4096)
def _public_key(raw: bytes) -> X25519PublicKey:
    """A reader's key object, parsed once (the same few readers seal every entry: the
    patient, the institution, the regulator); immutable, so shared between threads."""
    return X25519PublicKey.from_public_bytes(raw)


def seal(entry: Mapping[str, Any] | AccessEntry, patient: str,
         readers: Mapping[str, bytes], *, key: bytes | None = None,
         salt: bytes | None = None) -> dict[str, Any]:
    """The ``audit/append`` entry (``{patient, request, commitment, sealed}``) for a
    decision in ``patient``'s log, readable by each of ``readers`` (DID → registered
    X25519 ``enc_key``). Refuses an inconsistent entry."""
    checked = entry if isinstance(entry, AccessEntry) else AccessEntry.parse(entry)
    key = secrets.token_bytes(KEY_SIZE) if key is None else key
    salt = secrets.token_bytes(SALT_SIZE) if salt is None else salt
    if len(key) != KEY_SIZE:
        raise _invalid(f"an entry key is {KEY_SIZE} bytes")
    if not readers:
        raise _invalid("a sealed entry needs at least one reader")
    plain = plaintext(checked, salt)
    ct = AESGCM(key).encrypt(NONCE, pad(plain), aad(patient, checked.request))
    wrapped = {}
    for reader, public in readers.items():
        try:
            keys.check_x25519_public_key(public)
        except CryptoError as exc:
            raise _invalid(f"reader {reader}: {exc}") from None
        wrapped[reader] = HPKE_SUITE.encrypt(
            key, _public_key(public),
            info=wrap_info(patient, checked.request, reader)).hex()
    out = {"patient": patient, "request": checked.request,
           "commitment": commitment(plain).hex(), "sealed": {"ct": ct.hex(), "keys": wrapped}}
    try:
        Entry.parse(out)  # what the chain will check: a DID, the sizes
    except CodedError as exc:  # audit/2 or audit/6: a TxError
        raise _invalid(f"the sealed entry would be refused on chain: {exc}") from None
    return out


def open_entry(leaf: Mapping[str, Any], reader: str, reader_key: keys.EncryptionKey
               ) -> dict[str, Any]:
    """The plaintext entry of an audit leaf (or a sealed ``audit/append`` entry), opened
    with ``reader``'s X25519 key and checked: its commitment, its consistency, its
    request, and (for a leaf) a decision height below the inclusion height."""
    try:
        patient, request = str(leaf["patient"]), str(leaf["request"])
        sealed = leaf["sealed"]
        wrapped = bytes.fromhex(sealed["keys"][reader])
        ct = bytes.fromhex(sealed["ct"])
        committed = bytes.fromhex(leaf["commitment"])
    except (KeyError, TypeError, ValueError) as exc:
        raise _invalid(f"no sealed entry for {reader} ({type(exc).__name__})") from None
    if len(wrapped) != WRAPPED_KEY_SIZE or len(ct) < SEAL_BLOCK + TAG_SIZE:
        raise _invalid("a wrapped key or the ciphertext has the wrong size")
    try:
        key = HPKE_SUITE.decrypt(wrapped, reader_key.private(),
                                 info=wrap_info(patient, request, reader))
        if len(key) != KEY_SIZE:
            raise InvalidTag
        padded = AESGCM(key).decrypt(NONCE, ct, aad(patient, request))
    except InvalidTag:
        raise _invalid(f"the entry does not open for {reader} (another key, entry or "
                       "log, or altered bytes)") from None
    plain = unpad(padded)
    if commitment(plain) != committed:
        raise _invalid("the opened entry does not match its commitment")
    try:
        body = encoding.decode(plain)
    except EncodingError as exc:
        raise _invalid(f"the opened entry is not canonical ({exc})") from None
    salt = body.pop("salt", None) if isinstance(body, dict) else None
    if not isinstance(salt, str) or len(salt) != 2 * SALT_SIZE:
        raise _invalid("the opened entry has no salt")
    entry = AccessEntry.parse(body)
    if entry.request != request:
        raise _invalid("the opened entry names another request than its leaf")
    height = leaf.get("height")
    if height is not None and not (type(height) is int and entry.at < height):
        raise _invalid(f"decided at {entry.at}, included at {height}")
    return entry.to_json()


def readers_of(leaf: Mapping[str, Any]) -> list[str]:
    """The DIDs a sealed leaf is wrapped to (public: what the chain shows)."""
    sealed = leaf.get("sealed")
    wrapped = sealed.get("keys") if isinstance(sealed, Mapping) else None
    return sorted(wrapped) if isinstance(wrapped, Mapping) else []
