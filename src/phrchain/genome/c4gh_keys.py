"""crypt4gh key files (the crypt4gh key format, ``c4gh-v1``).

::

    -----BEGIN CRYPT4GH PUBLIC KEY-----      base64 of the 32-byte X25519 public key
    -----BEGIN CRYPT4GH PRIVATE KEY-----     base64 of:
        "c4gh-v1" ‖ string kdfname ‖ [string (rounds u32 BE ‖ salt) unless kdfname "none"]
        ‖ string ciphername ‖ string private blob ‖ [string comment]
    string = length u16 BE ‖ bytes

The blob is the 32-byte secret in clear (kdf and cipher ``none``), or ``nonce (12) ‖
ChaCha20-Poly1305(kdf(passphrase, salt), nonce, secret) ‖ MAC``. KDFs implemented here:
``scrypt`` (N = 2^14, r = 8, p = 1; ``rounds`` unused) and ``pbkdf2_hmac_sha256``
(``rounds`` iterations), both from the standard library. ``bcrypt`` (OpenSSH's
bcrypt-pbkdf) would need a new runtime dependency, so such a key is refused with
``c4gh/9 unsupported_kdf``: re-lock it with scrypt (``crypt4gh-keygen --relock``).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import struct
from typing import Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from phrchain.genome import errors
from phrchain.genome.crypt4gh import KEY_SIZE, NONCE_SIZE, public_key_of

MAGIC: Final = b"c4gh-v1"
KDFS: Final = ("scrypt", "pbkdf2_hmac_sha256")
REFUSED_KDFS: Final = ("bcrypt",)
CIPHER: Final = "chacha20_poly1305"
SCRYPT_N: Final = 1 << 14
PBKDF2_ROUNDS: Final = 100_000
SALT_SIZE: Final = 16
_PUBLIC: Final = "CRYPT4GH PUBLIC KEY"
_PRIVATE: Final = "CRYPT4GH PRIVATE KEY"
_PRIVATE_ALIASES: Final = (_PRIVATE, "CRYPT4GH ENCRYPTED PRIVATE KEY")


def _armor(kind: str, data: bytes) -> str:
    return f"-----BEGIN {kind}-----\n{base64.b64encode(data).decode()}\n-----END {kind}-----\n"


def _unarmor(text: str | bytes, kinds: tuple[str, ...]) -> bytes:
    if isinstance(text, bytes):
        text = text.decode("ascii", "replace")
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if len(lines) < 3:
        raise errors.BAD_KEY_FILE("not an armored key")
    for kind in kinds:
        if lines[0] == f"-----BEGIN {kind}-----" and lines[-1] == f"-----END {kind}-----":
            try:
                return base64.b64decode("".join(lines[1:-1]), validate=True)
            except (binascii.Error, ValueError):
                raise errors.BAD_KEY_FILE("the key's base64 is malformed") from None
    raise errors.BAD_KEY_FILE(f"expected a {kinds[0].lower()}")


def public_key_file(public: bytes) -> str:
    if len(public) != KEY_SIZE:
        raise errors.BAD_PUBLIC_KEY(f"a public key is {KEY_SIZE} bytes")
    return _armor(_PUBLIC, public)


def read_public_key(text: str | bytes) -> bytes:
    key = _unarmor(text, (_PUBLIC,))
    if len(key) != KEY_SIZE:
        raise errors.BAD_KEY_FILE(f"a public key is {KEY_SIZE} bytes, got {len(key)}")
    return key


def _string(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def _derive(kdf: str, passphrase: bytes, rounds: int, salt: bytes) -> bytes:
    if kdf == "scrypt":
        return hashlib.scrypt(passphrase, salt=salt, n=SCRYPT_N, r=8, p=1,
                              maxmem=64 << 20, dklen=KEY_SIZE)
    if kdf == "pbkdf2_hmac_sha256":
        if not 0 < rounds <= 10_000_000:
            raise errors.BAD_KEY_FILE(f"pbkdf2 rounds {rounds}")
        return hashlib.pbkdf2_hmac("sha256", passphrase, salt, rounds, KEY_SIZE)
    if kdf in REFUSED_KDFS:
        raise errors.UNSUPPORTED_KDF(f"{kdf}: re-lock the key with scrypt")
    raise errors.UNSUPPORTED_KDF(kdf[:40])


def private_key_file(secret: bytes, passphrase: bytes | None, *, kdf: str = "scrypt",
                     comment: bytes | None = None, salt: bytes | None = None,
                     nonce: bytes | None = None) -> str:
    """The private key file of ``secret``: protected with ``passphrase`` (not empty), or
    in clear when it is None."""
    if len(secret) != KEY_SIZE:
        raise errors.BAD_KEY_FILE(f"a secret key is {KEY_SIZE} bytes")
    if passphrase is None:
        body = MAGIC + _string(b"none") + _string(b"none") + _string(secret)
    else:
        if not passphrase:
            raise errors.PASSPHRASE_REQUIRED("an empty passphrase protects nothing")
        if kdf not in KDFS:
            raise errors.UNSUPPORTED_KDF(kdf[:40])
        rounds = 0 if kdf == "scrypt" else PBKDF2_ROUNDS
        salt = os.urandom(SALT_SIZE) if salt is None else salt
        nonce = os.urandom(NONCE_SIZE) if nonce is None else nonce
        key = _derive(kdf, passphrase, rounds, salt)
        blob = nonce + ChaCha20Poly1305(key).encrypt(nonce, secret, None)
        body = MAGIC + _string(kdf.encode()) + _string(struct.pack(">I", rounds) + salt) \
            + _string(CIPHER.encode()) + _string(blob)
    if comment is not None:
        body += _string(comment)
    return _armor(_PRIVATE, body)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data, self.at = data, 0

    def string(self, what: str) -> bytes:
        if self.at + 2 > len(self.data):
            raise errors.BAD_KEY_FILE(f"the key ends before its {what}")
        (length,) = struct.unpack_from(">H", self.data, self.at)
        out = self.data[self.at + 2:self.at + 2 + length]
        if len(out) != length:
            raise errors.BAD_KEY_FILE(f"the key ends inside its {what}")
        self.at += 2 + length
        return out


def read_private_key(text: str | bytes, passphrase: bytes | None) -> bytes:
    """The 32-byte X25519 secret of a ``c4gh-v1`` private key file."""
    data = _unarmor(text, _PRIVATE_ALIASES)
    if not data.startswith(MAGIC):
        raise errors.BAD_KEY_FILE("not a c4gh-v1 private key")
    reader = _Reader(data[len(MAGIC):])
    kdf = reader.string("kdf name").decode("ascii", "replace")
    rounds, salt = 0, b""
    if kdf != "none":
        options = reader.string("kdf options")
        if len(options) < 4:
            raise errors.BAD_KEY_FILE("kdf options too short")
        (rounds,) = struct.unpack_from(">I", options)
        salt = options[4:]
    cipher = reader.string("cipher name").decode("ascii", "replace")
    blob = reader.string("private key")
    if kdf == "none" or cipher == "none":
        if (kdf, cipher) != ("none", "none") or len(blob) != KEY_SIZE:
            raise errors.BAD_KEY_FILE("an unprotected key has kdf and cipher none and "
                                      f"{KEY_SIZE} bytes")
        return blob
    if cipher != CIPHER:
        raise errors.BAD_KEY_FILE(f"cipher {cipher[:40]}")
    if kdf in REFUSED_KDFS or kdf not in KDFS:
        _derive(kdf, b"", rounds, salt)  # raises unsupported_kdf, before asking
    if not passphrase:
        raise errors.PASSPHRASE_REQUIRED("set C4GH_PASSPHRASE")
    key = _derive(kdf, passphrase, rounds, salt)
    if len(blob) != NONCE_SIZE + KEY_SIZE + 16:
        raise errors.BAD_KEY_FILE(f"an encrypted key blob of {len(blob)} bytes")
    try:
        secret = ChaCha20Poly1305(key).decrypt(blob[:NONCE_SIZE], blob[NONCE_SIZE:], None)
    except InvalidTag:
        raise errors.WRONG_PASSPHRASE("") from None
    public_key_of(secret)  # a usable X25519 secret
    return secret
