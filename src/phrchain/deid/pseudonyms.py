"""Keyed per-study pseudonyms and per-patient date offsets (HMAC-SHA256, RFC 2104, with
``cryptography``). The key is held only by the custodian's vault and never leaves it;
without the key a pseudonym is not computable from the identifier — unlike a plain hash,
which Korea's 2024 pseudonymisation guideline still counts as an identifier.

Public and small on purpose: the genomics pipeline pseudonymises sample ids with the
same function, so one key and study give one pseudonym per identifier across both.
"""

from __future__ import annotations

from typing import Final

from cryptography.hazmat.primitives import hashes, hmac

from phrchain.core import encoding
from phrchain.deid.errors import BAD_KEY

KEY_BYTES: Final = 32
PSEUDONYM_DOMAIN: Final = "phrchain/deid/pseudonym/v1"
OFFSET_DOMAIN: Final = "phrchain/deid/date-offset/v1"
MAX_SHIFT_DAYS: Final = 50   # offsets are ±1..±50 days, never 0

COMMITMENT_DOMAIN: Final = "phrchain/deid/key-commitment/v1"

__all__ = ["KEY_BYTES", "check_key", "date_offset_days", "key_commitment",
           "study_pseudonym"]


def check_key(key: bytes) -> bytes:
    if not isinstance(key, bytes) or len(key) != KEY_BYTES:
        raise BAD_KEY(f"the key must be {KEY_BYTES} bytes")
    return key


def _mac(key: bytes, message: dict[str, str]) -> bytes:
    mac = hmac.HMAC(check_key(key), hashes.SHA256())
    mac.update(encoding.encode(message))
    return mac.finalize()


def study_pseudonym(key: bytes, study: str, kind: str, value: str) -> str:
    """32 hex characters: HMAC-SHA256(key, encode({domain, study, kind, value}))[:16].

    ``kind`` separates namespaces (``"id"`` for ``Type/id`` resource ids, ``"sample"``
    for a genomic sample id, …), so equal strings of different kinds never collide."""
    return _mac(key, {"domain": PSEUDONYM_DOMAIN, "study": study, "kind": kind,
                      "value": value})[:16].hex()


def date_offset_days(key: bytes, study: str, dataset: str, patient: str) -> int:
    """One offset per patient per dataset, in ±1..±MAX_SHIFT_DAYS (never 0, so no
    shifted date equals its source): every date of the patient moves by it, so the
    intervals between the patient's events survive."""
    mac = _mac(key, {"domain": OFFSET_DOMAIN, "study": study, "dataset": dataset,
                     "patient": patient})
    n = int.from_bytes(mac[:8], "big") % (2 * MAX_SHIFT_DAYS)
    return n - MAX_SHIFT_DAYS if n < MAX_SHIFT_DAYS else n - MAX_SHIFT_DAYS + 1


def key_commitment(key: bytes) -> str:
    """64 hex: what a dataset manifest names for the key (HMAC of a fixed label under
    it). The vault can show it holds the key, or destroyed it; nobody learns the key."""
    return _mac(key, {"domain": COMMITMENT_DOMAIN}).hex()
