"""Ed25519 signing keys, X25519 encryption keys and ``did:key`` identifiers.

One library for every node: ``cryptography`` (OpenSSL's Ed25519/X25519), pinned in
``pyproject.toml``. Verification is the RFC 8032 cofactorless check as OpenSSL does it;
on top of it phrchain refuses, before any key is accepted into state or any signature is
verified, the inputs on which Ed25519 implementations are known to disagree
(``docs/crypto.md``):

- public keys that are non-canonical (``y >= p``), not on the curve (no ``x`` solves the
  curve equation for ``y``: such a key can never verify anything, so naming it — as a
  grantee, say — would create a party nobody can ever act as) or of small order (the
  eight torsion points, in either sign encoding);
- signatures whose ``S`` is not reduced (``S >= L``) or whose ``R`` is non-canonical.

Key generation needs randomness and lives at the edge (``phrchain.client.wallet``); this
module only derives keys from seeds it is given.
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from phrchain.core.accel import native as _native
from phrchain.core.errors import CryptoError

# RFC 8032 §5.1: field prime p and group order L.
P: Final = 2**255 - 19
L: Final = 2**252 + 27742317777372353535851937790883648493
_Y_MASK: Final = (1 << 255) - 1
# RFC 8032 §5.1: the curve constant d = -121665/121666 (mod p).
D: Final = (-121665 * pow(121666, P - 2, P)) % P

# y-coordinates of the eight small-order points of edwards25519 (the torsion subgroup):
# identity (y=1), order 2 (y=p-1), order 4 (y=0) and order 8 (y=±Y8 mod p). Checked
# against naive curve arithmetic in tests/unit/test_keys.py.
_Y8: Final = 0x05FC536D880238B13933C6D305ACDFD5F098EFF289F4C345B027B2C28F95E826
SMALL_ORDER_Y: Final = frozenset({0, 1, P - 1, _Y8, P - _Y8})

# multicodec prefixes (unsigned varint) for did:key, W3C CCG did:key spec.
ED25519_PUB_MULTICODEC: Final = b"\xed\x01"
X25519_PUB_MULTICODEC: Final = b"\xec\x01"
DID_KEY_PREFIX: Final = "did:key:z"
_B58: Final = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX: Final = {c: i for i, c in enumerate(_B58)}

# Canonical u-coordinates of the low-order points of Curve25519 and its twist (the
# torsion of both: u = 0, 1, p-1 and the two order-8 points) — the canonical half of
# libsodium's blocklist. A key outside it gives a non-zero shared secret with any
# scalar; tests/unit/test_keys.py checks every entry against OpenSSL's own refusal of
# an all-zero secret (RFC 7748 §6.1).
LOW_ORDER_U: Final = frozenset({
    0, 1, P - 1,
    0x00B8495F16056286FDB1329CEB8D09DA6AC49FF1FAE35616AEB8413B7C7AEBE0,
    0x57119FD0DD4E22D8868E1C58C45C44045BEF839C55B1D0B1248C50A3BC959C5F,
})


def b58encode(data: bytes) -> str:
    """Bitcoin-alphabet base58 (multibase ``z``)."""
    zeros = len(data) - len(data.lstrip(b"\x00"))
    num = int.from_bytes(data, "big")
    out = []
    while num:
        num, rem = divmod(num, 58)
        out.append(_B58[rem])
    return "1" * zeros + "".join(reversed(out))


def b58decode(text: str) -> bytes:
    num = 0
    for char in text:
        try:
            num = num * 58 + _B58_INDEX[char]
        except KeyError:
            raise CryptoError(f"invalid base58 character {char!r}") from None
    zeros = len(text) - len(text.lstrip("1"))
    body = num.to_bytes((num.bit_length() + 7) // 8, "big") if num else b""
    return b"\x00" * zeros + body


def check_ed25519_public_key(raw: bytes) -> None:
    """Raise unless ``raw`` is a canonical Ed25519 public key not of small order."""
    if len(raw) != 32:
        raise CryptoError(f"Ed25519 public key must be 32 bytes, got {len(raw)}")
    y = int.from_bytes(raw, "little") & _Y_MASK
    if y >= P:
        raise CryptoError("Ed25519 public key is not canonically encoded (y >= p)")
    if y in SMALL_ORDER_Y:
        raise CryptoError("Ed25519 public key is a small-order point")
    if not _on_curve(y):
        raise CryptoError("Ed25519 public key is not a point on the curve")


def _on_curve(y: int) -> bool:
    """Whether some ``x`` satisfies ``-x² + y² = 1 + d·x²·y²`` (RFC 8032 §5.1.3 step 2):
    ``x² = (y² - 1) / (d·y² + 1)`` must be a square mod p (Euler's criterion). The
    denominator is never 0 (``-1/d`` is not a square). ``x = 0`` only for ``y = ±1``,
    which are small-order and refused before, so the sign-bit rule of step 4 needs no
    check here.

    One exponentiation, not two: Legendre symbols multiply and ``v ≠ 0``, so ``u/v`` is
    a square exactly when ``u·v`` is (``v^((p-1)/2) = ±1`` is its own inverse), and
    ``u/v = 0`` exactly when ``u·v = 0``. (This check ran once per new signer on the
    node's thread, two 255-bit exponentiations of ~100 µs each.)"""
    uv = (y * y - 1) * (D * y * y + 1) % P
    if uv == 0:
        return True
    if _native is not None:  # the same exponentiation, compiled (phrchain.core.accel)
        symbol: bytes = _native.field25519_pow(uv.to_bytes(32, "little"), _EULER_LE)
        return symbol == _ONE_LE
    return pow(uv, _EULER, P) == 1


_EULER: Final = (P - 1) // 2
_EULER_LE: Final = _EULER.to_bytes(32, "little")
_ONE_LE: Final = (1).to_bytes(32, "little")


def check_signature_encoding(signature: bytes) -> None:
    """Raise unless ``signature`` is 64 bytes with canonical ``R`` and reduced ``S``."""
    if len(signature) != 64:
        raise CryptoError(f"Ed25519 signature must be 64 bytes, got {len(signature)}")
    if int.from_bytes(signature[32:], "little") >= L:
        raise CryptoError("Ed25519 signature is not canonical (S >= L)")
    if int.from_bytes(signature[:32], "little") & _Y_MASK >= P:
        raise CryptoError("Ed25519 signature is not canonical (R not reduced)")


def check_x25519_public_key(raw: bytes) -> None:
    """Raise unless ``raw`` is a canonical X25519 public key that is not of low order."""
    if not isinstance(raw, bytes):
        raise CryptoError("X25519 public key must be bytes")
    _check_x25519(raw)


@lru_cache(maxsize=65536)
def _check_x25519(raw: bytes) -> None:
    if len(raw) != 32:
        raise CryptoError(f"X25519 public key must be 32 bytes, got {len(raw)}")
    u = int.from_bytes(raw, "little")
    if raw[31] & 0x80 or u >= P:
        raise CryptoError("X25519 public key is not canonically encoded")
    if u in LOW_ORDER_U:
        raise CryptoError("X25519 public key is a low-order point")


@lru_cache(maxsize=65536)
def _load_public(raw: bytes) -> Ed25519PublicKey:
    check_ed25519_public_key(raw)
    return Ed25519PublicKey.from_public_bytes(raw)


def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Verify an Ed25519 signature; raise :class:`CryptoError` on any failure."""
    check_signature_encoding(signature)
    try:
        _load_public(public_key).verify(signature, message)
    except InvalidSignature:
        raise CryptoError("signature does not verify") from None


class VerifiedSignatures:
    """Signatures known to verify, by a digest of ``public key ‖ signature ‖ message``
    (a bounded LRU, positives only).

    :meth:`verify` is :func:`verify` that skips a triple it has already seen verify:
    whether a signature verifies is a pure function of those bytes, so the memo changes
    when the work is done, never an outcome. A state machine verifying a signature that
    is carried inside a message (a prescriber's, say) meets it once in ``check_tx`` and
    again when its block executes; an engine that verified it elsewhere (the solo
    engine's worker processes) records it with :meth:`note`, which only code that really
    ran :func:`verify` on exactly these bytes may call."""

    def __init__(self, size: int = 65_536) -> None:
        self._size = size
        self._seen: OrderedDict[bytes, None] = OrderedDict()

    @staticmethod
    def _digest(public_key: bytes, signature: bytes, message: bytes) -> bytes | None:
        # Only a 32-byte key and a 64-byte signature are memoised (nothing else can
        # verify): with those lengths fixed the concatenation is unambiguous.
        if len(public_key) != 32 or len(signature) != 64:
            return None
        return hashlib.sha256(public_key + signature + message).digest()

    def verify(self, public_key: bytes, signature: bytes, message: bytes) -> None:
        digest = self._digest(public_key, signature, message)
        if digest is not None and digest in self._seen:
            return
        verify(public_key, signature, message)
        if digest is not None:
            self._remember(digest)

    def note(self, public_key: bytes, signature: bytes, message: bytes) -> None:
        digest = self._digest(public_key, signature, message)
        if digest is not None:
            self._remember(digest)

    def __contains__(self, triple: tuple[bytes, bytes, bytes]) -> bool:
        digest = self._digest(*triple)
        return digest is not None and digest in self._seen

    def _remember(self, digest: bytes) -> None:
        self._seen[digest] = None
        if len(self._seen) > self._size:
            self._seen.popitem(last=False)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 private key derived from a 32-byte seed."""

    seed: bytes = field(repr=False)
    _key: Ed25519PrivateKey = field(init=False, repr=False, compare=False)
    public_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.seed) != 32:
            raise CryptoError("Ed25519 seed must be 32 bytes")
        key = Ed25519PrivateKey.from_private_bytes(self.seed)
        object.__setattr__(self, "_key", key)
        object.__setattr__(
            self, "public_key", key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw))

    @property
    def did(self) -> str:
        return did_from_public_key(self.public_key)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message)


@dataclass(frozen=True, slots=True)
class EncryptionKey:
    """An X25519 private key (the identity's published key for wrapped data keys)."""

    secret: bytes = field(repr=False)
    public_key: bytes = field(init=False)

    def __post_init__(self) -> None:
        if len(self.secret) != 32:
            raise CryptoError("X25519 secret must be 32 bytes")
        pub = X25519PrivateKey.from_private_bytes(self.secret).public_key()
        object.__setattr__(self, "public_key", pub.public_bytes(Encoding.Raw, PublicFormat.Raw))

    def private(self) -> X25519PrivateKey:
        return X25519PrivateKey.from_private_bytes(self.secret)


def did_from_public_key(public_key: bytes) -> str:
    """``did:key`` of an Ed25519 public key (multicodec 0xed, multibase base58btc)."""
    check_ed25519_public_key(public_key)
    return DID_KEY_PREFIX + b58encode(ED25519_PUB_MULTICODEC + public_key)


def public_key_from_did(did: str) -> bytes:
    """The Ed25519 public key inside a ``did:key``; raises on any other DID."""
    if not isinstance(did, str):
        raise CryptoError("a DID must be a string")
    return _public_key_from_did(did)


@lru_cache(maxsize=65536)
def _public_key_from_did(did: str) -> bytes:
    if not did.startswith(DID_KEY_PREFIX) or len(did) > 64:
        raise CryptoError("not an Ed25519 did:key")
    raw = b58decode(did[len(DID_KEY_PREFIX):])
    if len(raw) != 34 or raw[:2] != ED25519_PUB_MULTICODEC:
        raise CryptoError("did:key does not hold an Ed25519 public key")
    # base58 is a bijection between strings without leading "1" and byte strings without
    # leading zero bytes; the multicodec prefix starts with 0xed, so only a leading "1"
    # could give a second spelling of the same key.
    if did[len(DID_KEY_PREFIX)] == "1":
        raise CryptoError("did:key is not canonically encoded")
    key = raw[2:]
    check_ed25519_public_key(key)
    return key


def x25519_multibase(public_key: bytes) -> str:
    """X25519 public key as multibase (``z6LS...``), as did:key documents publish it."""
    check_x25519_public_key(public_key)
    return "z" + b58encode(X25519_PUB_MULTICODEC + public_key)
