"""Per-relationship pseudonyms (issue 14, ``docs/privacy-v2-design.md`` §1).

A patient's wallet holds one 32-byte *root* secret. For each counterpart (a custodian
institution, an insurer, a study, a trial, the drug-monitoring programme) it derives an
unrelated patient identity with HKDF-SHA256 (RFC 5869, ``cryptography``'s HKDF)::

    okm = HKDF-SHA256(ikm=root, salt=b"phrchain/pseudonym/v1",
                      info=encode({"counterpart": did, "kind": kind,
                                   "generation": g, "rotation": r}), L=64)
    seed = okm[0:32]    (Ed25519)        enc_secret = okm[32:64]   (X25519)

The pseudonym's DID is the did:key of the rotation-0 signing key and never changes;
``rotation`` counts ``identity/rotate_key``s of that DID (each moves it to the keys
derived with ``rotation + 1``); ``generation`` makes a fresh, unlinkable relationship
with the same counterpart. HKDF is one-way: one pseudonym's keys give nothing about the
root or any other pseudonym, and nothing on chain links two pseudonyms of one patient.

Wallet files written before the root existed load with a *legacy root*
(:func:`legacy_root`): HKDF-SHA256(ikm=signing seed, salt none,
info=b"phrchain/pseudonym/legacy-root/v1", L=32); it is then saved with the wallet.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phrchain.core import encoding

SALT: Final = b"phrchain/pseudonym/v1"
LEGACY_ROOT_INFO: Final = b"phrchain/pseudonym/legacy-root/v1"
ROOT_BYTES: Final = 32
KINDS: Final = frozenset({"custodian", "insurer", "study", "trial", "monitoring", "self"})
MAX_COUNTERPART: Final = 256
# Generations and rotations are small counters; the bound keeps a hostile wallet file
# from naming absurd ones (each rotation step derives one key pair).
MAX_COUNTER: Final = 1 << 16

__all__ = ["KINDS", "Pseudonym", "PseudonymError", "derive_pseudonym", "legacy_root"]


class PseudonymError(ValueError):
    """A derivation parameter or a pseudonym map entry is malformed."""


def derive_pseudonym(root: bytes, counterpart_did: str, kind: str, generation: int = 0,
                     rotation: int = 0) -> tuple[bytes, bytes]:
    """``(ed25519_seed, x25519_secret)`` of one pseudonym at one rotation."""
    if not isinstance(root, bytes) or len(root) != ROOT_BYTES:
        raise PseudonymError(f"the root secret must be {ROOT_BYTES} bytes")
    _check(counterpart_did, kind, generation, rotation)
    info = encoding.encode({"counterpart": counterpart_did, "kind": kind,
                            "generation": generation, "rotation": rotation})
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=SALT, info=info).derive(root)
    return okm[:32], okm[32:]


def legacy_root(signing_seed: bytes) -> bytes:
    """The root of a wallet file written before roots existed (see the module doc)."""
    return HKDF(algorithm=hashes.SHA256(), length=ROOT_BYTES, salt=None,
                info=LEGACY_ROOT_INFO).derive(signing_seed)


def _check(counterpart: Any, kind: Any, generation: Any, rotation: Any) -> None:
    if not isinstance(counterpart, str) or not 0 < len(counterpart) <= MAX_COUNTERPART \
            or not counterpart.isprintable():
        raise PseudonymError("the counterpart must be a DID (1 to 256 printable characters)")
    if kind not in KINDS:
        raise PseudonymError(f"kind must be one of {', '.join(sorted(KINDS))}, got {kind!r}")
    for name, value in (("generation", generation), ("rotation", rotation)):
        if type(value) is not int or not 0 <= value < MAX_COUNTER:
            raise PseudonymError(f"{name} must be an integer from 0 to {MAX_COUNTER - 1}")


@dataclass(frozen=True, slots=True)
class Pseudonym:
    """One entry of a wallet's pseudonym map: which relationship a pseudonym DID is for,
    how many times its key was rotated, and the height it was registered at (if known)."""

    did: str
    counterpart: str
    kind: str
    generation: int = 0
    rotation: int = 0
    registered_height: int | None = None

    def to_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"counterpart": self.counterpart, "kind": self.kind,
                                 "generation": self.generation, "rotation": self.rotation}
        if self.registered_height is not None:
            entry["registered_height"] = self.registered_height
        return entry

    @classmethod
    def from_json(cls, did: str, entry: Any) -> Pseudonym:
        if not isinstance(entry, dict) or not {"counterpart", "kind", "generation",
                                               "rotation"} <= set(entry) <= {
                "counterpart", "kind", "generation", "rotation", "registered_height"}:
            raise PseudonymError(f"pseudonym {did}: malformed map entry")
        _check(entry["counterpart"], entry["kind"], entry["generation"], entry["rotation"])
        height = entry.get("registered_height")
        if height is not None and (type(height) is not int or height < 0):
            raise PseudonymError(f"pseudonym {did}: registered_height must be a height")
        return cls(did, entry["counterpart"], entry["kind"], entry["generation"],
                   entry["rotation"], height)
