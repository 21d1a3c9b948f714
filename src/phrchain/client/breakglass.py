"""Break-glass justification: a reason no one can later deny or change, kept off chain.

An emergency read without consent needs a reason, and a reason is free text that may
describe the patient's condition, so it goes on no chain and to no vault. Instead the
caller commits to it: ``justification = H(salt ‖ reason)`` (domain tag
``phrchain/break-glass/justification/v1``, a fresh 32-byte salt) travels as a query
parameter of the *signed* vault request, so the request's hash — which the patient's
audit log names — commits to the reason. The vault refuses a break-glass request
without one.

The institution keeps a :class:`Receipt` (the signed envelope, the salt, the
commitment; never the reason) with the reason in its own records. Later, a patient, a
regulator or a court shown the reason checks it with :func:`check`: the salted hash
matches, the envelope carries it, the envelope is the one the audit entry names (and the
caller's signature over it holds), so the reason cannot have been made up afterwards.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any, Final

from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError, PhrError
from phrchain.core.hashing import domain_prefix
from phrchain.vault.requests import REQUEST_HEADER, SIGNATURE_HEADER, TAG

JUSTIFICATION_TAG: Final = "phrchain/break-glass/justification/v1"
PARAM: Final = "justification"
MIN_REASON: Final = 10


class JustificationError(PhrError):
    """A receipt that does not prove what it claims."""


def commit(reason: str, salt: bytes | None = None) -> tuple[bytes, str]:
    """(salt, justification hex) for ``reason``; refuses an empty or token reason."""
    text = reason.strip()
    if len(text) < MIN_REASON:
        raise JustificationError(f"a break-glass reason needs at least {MIN_REASON} "
                                 "characters: say why the access cannot wait for consent")
    salt = secrets.token_bytes(32) if salt is None else salt
    digest = hashlib.sha256(domain_prefix(JUSTIFICATION_TAG) + salt + text.encode()).hexdigest()
    return salt, digest


@dataclass(frozen=True, slots=True)
class Receipt:
    """What the accessing institution keeps (JSON-able; no reason, no health data)."""

    record: str
    vault: str
    caller: str
    request: str        # sha256 of the signed envelope: the audit entry's ``request``
    envelope: str       # the signed request header (base64url canonical JSON)
    signature: str      # the caller's signature over it (hex)
    salt: str           # hex
    justification: str  # hex

    def to_json(self) -> dict[str, str]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Receipt:
        try:
            return cls(**{k: str(data[k]) for k in cls.__dataclass_fields__})
        except (KeyError, TypeError) as exc:
            raise JustificationError(f"not a break-glass receipt: missing {exc}") from None


def receipt(record: str, vault: str, caller: str, headers: Mapping[str, str], salt: bytes,
            justification: str) -> Receipt:
    header = headers[REQUEST_HEADER]
    raw = _raw(header)
    return Receipt(record, vault, caller, hashlib.sha256(raw).hexdigest(), header,
                   headers[SIGNATURE_HEADER], salt.hex(), justification)


def _raw(header: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
    except ValueError:
        raise JustificationError("the receipt's envelope is not base64url") from None


def check(r: Receipt, reason: str, signing_key: bytes | None = None) -> dict[str, Any]:
    """Check that ``reason`` is the one committed to in the signed request ``r.request``
    (and, given the caller's signing key, that the caller signed it). Returns the
    envelope; raises :class:`JustificationError` naming what does not hold. The caller
    then finds ``r.request`` in the patient's audit log (with its inclusion proof)."""
    _, expected = commit(reason, bytes.fromhex(r.salt))
    if not hmac.compare_digest(expected, r.justification):
        raise JustificationError("the reason does not match the committed justification")
    raw = _raw(r.envelope)
    if hashlib.sha256(raw).hexdigest() != r.request:
        raise JustificationError("the envelope is not the request the receipt names")
    try:
        envelope = encoding.decode(raw)
        # canonical_query's k=v&k=v, split the way it was joined
        query = dict(pair.split("=", 1) for pair in envelope["query"].split("&") if pair)
    except (ValueError, KeyError, TypeError) as exc:
        raise JustificationError(f"the envelope is malformed ({exc})") from None
    if query.get(PARAM) != r.justification or query.get("action") != "break_glass":
        raise JustificationError("the signed request carries no such break-glass "
                                 "justification")
    if envelope.get("path") != f"/v1/vault/records/{r.record}" \
            or envelope.get("vault") != r.vault or envelope.get("caller") != r.caller:
        raise JustificationError("the signed request is for another record, vault or caller")
    if signing_key is not None:
        try:
            keys.verify(signing_key, bytes.fromhex(r.signature), domain_prefix(TAG) + raw)
        except (CryptoError, ValueError):
            raise JustificationError("the caller's signature over the request fails") \
                from None
    return dict(envelope)
