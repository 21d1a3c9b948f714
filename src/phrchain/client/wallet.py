"""An identity's private keys, kept on disk in one passphrase-encrypted JSON file.

A wallet holds the Ed25519 signing seed and the X25519 encryption secret of one
identity. Its DID is the did:key of the *inception* key and never changes: after a key
rotation the chain maps the same DID to the new signing key, so the wallet keeps
signing as that DID with a different key.

File format (version 1)::

    {"format": "phrchain-wallet", "version": 1,
     "did": did:key, "signing_key": hex, "enc_key": hex, "label": str,
     "kdf": {"name": "argon2id", "salt": hex(16), "memory_kib": int,
             "iterations": int, "lanes": int},
     "cipher": {"name": "chacha20-poly1305", "nonce": hex(12)},
     "ciphertext": hex}

Everything but ``ciphertext`` is the *header*. It is in the clear, so another user can
read the DID and public keys of a wallet file without its passphrase (``read_public``),
and it is the AEAD's associated data (canonical JSON, domain separated), so a changed
DID, label, public key or KDF parameter makes decryption fail. Unauthenticated reads
of the header (``read_public``) trust the file, which is fine for public keys a user
hands to an admin, not for anything secret.

The key is Argon2id(passphrase, salt) with the parameters stored in the header (default
64 MiB, 3 passes, 1 lane: OWASP's first recommended profile). The plaintext is the
canonical JSON of ``{"enc_secret", "pseudonyms", "retired_enc_secrets", "root",
"signing_seed"}``; retired encryption secrets are kept because data keys already
wrapped to an old X25519 key stay readable only with it.

A patient's wallet also holds the 32-byte ``root`` its per-relationship pseudonyms are
derived from and the map of those pseudonyms (:mod:`phrchain.client.pseudonyms`,
``docs/privacy.md``). Files written before roots existed have neither: they load with
the legacy root derived from the signing seed, and an empty map.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305
from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from phrchain.client.pseudonyms import (
    Pseudonym,
    PseudonymError,
    derive_pseudonym,
    legacy_root,
)
from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError, EncodingError, PhrError
from phrchain.modules.identity import rotation_bytes
from phrchain.modules.identity.messages import RotateKey

FORMAT: Final = "phrchain-wallet"
VERSION: Final = 1
KDF_NAME: Final = "argon2id"
CIPHER_NAME: Final = "chacha20-poly1305"
SALT_BYTES: Final = 16
NONCE_BYTES: Final = 12
# Room for some thousands of pseudonyms; still nothing a reader need fear to hold.
MAX_FILE_BYTES: Final = 1024 * 1024
# Bounds on parameters read from a file: a hostile file must not make us allocate
# gigabytes or spin for minutes before the AEAD tag can refuse it.
# The limits allow 4x the default memory (256 MiB) and ~5x its passes: headroom for
# stronger settings, yet a hostile file costs at most seconds before we refuse it.
MAX_MEMORY_KIB: Final = 256 * 1024
MAX_ITERATIONS: Final = 16
MAX_LANES: Final = 8
# Same shape as core.hashing's domain prefixes; local because it is not a consensus tag.
_AAD_PREFIX: Final = b"phrchain/wallet/v1\x00"
_BAD: Final = "wrong passphrase or corrupted wallet"

RandomBytes = Callable[[int], bytes]

__all__ = ["DEFAULT_KDF", "KdfParams", "Wallet", "WalletError", "WalletInfo",
           "crypto_params", "passphrase_open", "passphrase_seal", "read_public",
           "wallet_for_rotation", "write_new_private"]


class WalletError(PhrError):
    """A wallet file is missing, malformed, tampered with or the passphrase is wrong."""


@dataclass(frozen=True, slots=True)
class KdfParams:
    """Argon2id cost. Tests pass a cheap one; files always record what was used."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 1

    def check(self) -> None:
        for name, value, low, high in (
                ("memory_kib", self.memory_kib, 8 * max(self.lanes, 1), MAX_MEMORY_KIB),
                ("iterations", self.iterations, 1, MAX_ITERATIONS),
                ("lanes", self.lanes, 1, MAX_LANES)):
            if type(value) is not int or not low <= value <= high:
                raise WalletError(f"KDF parameter {name}={value!r} is outside [{low}, {high}]")


DEFAULT_KDF: Final = KdfParams()


@dataclass(frozen=True, slots=True)
class WalletInfo:
    """The clear header of a wallet file: public, readable without the passphrase."""

    did: str
    signing_key: bytes
    enc_key: bytes
    label: str


@dataclass(frozen=True, slots=True)
class Wallet:
    """One identity's keys. ``did`` stays the inception key's did:key after rotations.

    ``root`` is the pseudonym root secret (the legacy root of the signing seed when none
    is given); ``pseudonym_map`` the pseudonyms derived from it that the wallet knows,
    by DID (mutable: :meth:`remember` adds to it; save the wallet to keep it)."""

    did: str
    signing_key: keys.SigningKey
    encryption_key: keys.EncryptionKey
    label: str = ""
    retired_encryption_keys: tuple[keys.EncryptionKey, ...] = field(default=(), repr=False)
    root: bytes = field(default=b"", repr=False)
    pseudonym_map: dict[str, Pseudonym] = field(default_factory=dict, repr=False,
                                                compare=False)

    def __post_init__(self) -> None:
        if not self.root:
            object.__setattr__(self, "root", legacy_root(self.signing_key.seed))
        if len(self.root) != 32:
            raise WalletError("the pseudonym root must be 32 bytes")

    @classmethod
    def create(cls, label: str = "", random_bytes: RandomBytes = secrets.token_bytes) -> Wallet:
        """A fresh identity; ``random_bytes`` is a parameter so tests can fix keys."""
        signing = keys.SigningKey(random_bytes(32))
        encryption = keys.EncryptionKey(random_bytes(32))
        return cls(signing.did, signing, encryption, label, root=random_bytes(32))

    @classmethod
    def from_secrets(cls, signing_seed: bytes, enc_secret: bytes, label: str = "",
                     did: str | None = None, root: bytes = b"") -> Wallet:
        """Rebuild a wallet from known secrets (fixtures, recovery from a backup)."""
        signing = keys.SigningKey(signing_seed)
        return cls(did or signing.did, signing, keys.EncryptionKey(enc_secret), label,
                   root=root)

    # -- pseudonyms (docs/privacy.md; phrchain.client.pseudonyms) ----------------------
    def pseudonym(self, counterpart: str, kind: str, generation: int = 0) -> Wallet:
        """The wallet of this patient's pseudonym for ``counterpart`` (its own did:key,
        keys at the rotation the map records, earlier encryption keys as retired)."""
        did = self.pseudonym_did(counterpart, kind, generation)
        known = self.pseudonym_map.get(did)
        rotation = 0 if known is None else known.rotation
        return self._pseudonym_at(did, counterpart, kind, generation, rotation)

    def pseudonym_did(self, counterpart: str, kind: str, generation: int = 0) -> str:
        """The DID of a pseudonym (its rotation-0 key's did:key), registered or not."""
        seed, _ = self._derive(counterpart, kind, generation, 0)
        return keys.SigningKey(seed).did

    def pseudonyms(self) -> list[Pseudonym]:
        """Every pseudonym this wallet knows, by counterpart, kind and generation."""
        return sorted(self.pseudonym_map.values(),
                      key=lambda p: (p.counterpart, p.kind, p.generation))

    def pseudonym_of(self, did: str) -> Wallet:
        """The wallet of a pseudonym in the map, by its DID."""
        p = self.pseudonym_map.get(did)
        if p is None:
            raise WalletError(f"{did} is not one of this wallet's pseudonyms")
        return self._pseudonym_at(did, p.counterpart, p.kind, p.generation, p.rotation)

    def remember(self, counterpart: str, kind: str, generation: int = 0, rotation: int = 0,
                 registered_height: int | None = None) -> Pseudonym:
        """Add (or update) a pseudonym in the map; save the wallet to keep it."""
        did = self.pseudonym_did(counterpart, kind, generation)
        entry = Pseudonym(did, counterpart, kind, generation, rotation, registered_height)
        self.pseudonym_map[did] = entry
        return entry

    def rotate_pseudonym(self, chain_id: str, did: str) -> tuple[dict[str, Any], Wallet]:
        """``identity/rotate_key`` moving pseudonym ``did`` to the keys derived with
        its rotation + 1 (signing and encryption; the DID stays), to be signed by the
        pseudonym's *current* key, and the pseudonym's wallet once committed. After the
        commit, :meth:`remember` the new rotation (``PatientWallet.rotate`` does both)."""
        p = self.pseudonym_map.get(did)
        if p is None:
            raise WalletError(f"{did} is not one of this wallet's pseudonyms")
        new = self._pseudonym_at(did, p.counterpart, p.kind, p.generation, p.rotation + 1)
        proof = new.signing_key.sign(rotation_bytes(chain_id, did, new.signing_key.public_key))
        msg = RotateKey(new_key=new.signing_key.public_key, enc_key=new.enc_key,
                        proof=proof).to_msg()
        return msg, new

    def emergency_card(self) -> list[dict[str, str]]:
        """The break-glass locator the patient carries (``docs/privacy.md``, option a):
        for each custodian institution, the pseudonym its records are kept under. An
        emergency clinician elsewhere reads it from the card to find those records."""
        return [{"custodian": p.counterpart, "pseudonym": p.did}
                for p in self.pseudonyms() if p.kind == "custodian"]

    def _derive(self, counterpart: str, kind: str, generation: int, rotation: int
                ) -> tuple[bytes, bytes]:
        try:
            return derive_pseudonym(self.root, counterpart, kind, generation, rotation)
        except PseudonymError as exc:
            raise WalletError(str(exc)) from None

    def _pseudonym_at(self, did: str, counterpart: str, kind: str, generation: int,
                      rotation: int) -> Wallet:
        pairs = [self._derive(counterpart, kind, generation, r) for r in range(rotation + 1)]
        # Its own root is the legacy root of its inception seed, never the patient's:
        # a pseudonym's wallet handed to a device names nothing else.
        return Wallet(did, keys.SigningKey(pairs[-1][0]), keys.EncryptionKey(pairs[-1][1]),
                      f"{self.label} @ {kind}" if self.label else "",
                      tuple(keys.EncryptionKey(e) for _, e in pairs[:-1]),
                      root=legacy_root(pairs[0][0]))

    @property
    def info(self) -> WalletInfo:
        return WalletInfo(self.did, self.signing_key.public_key,
                          self.encryption_key.public_key, self.label)

    @property
    def enc_key(self) -> bytes:
        """The X25519 public key this identity publishes on chain."""
        return self.encryption_key.public_key

    # -- key rotation -------------------------------------------------------------------
    def rotate(self, chain_id: str, rotate_encryption: bool = False,
               random_bytes: RandomBytes = secrets.token_bytes) -> tuple[dict[str, Any], Wallet]:
        """A fresh signing key (and, if asked, encryption key) for the same DID.

        Returns the ``identity/rotate_key`` message, which the *current* key must sign,
        and the wallet to use once the chain has committed it. The new key signs
        ``rotation_bytes`` to prove its holder consents to becoming this DID's key.
        The encryption key is kept by default: records already wrapped to it would
        otherwise need re-wrapping first; a rotated one is kept as retired anyway.
        """
        new_signing = keys.SigningKey(random_bytes(32))
        proof = new_signing.sign(rotation_bytes(chain_id, self.did, new_signing.public_key))
        encryption, retired = self.encryption_key, self.retired_encryption_keys
        if rotate_encryption:
            encryption = keys.EncryptionKey(random_bytes(32))
            retired = (*retired, self.encryption_key)
        msg = RotateKey(new_key=new_signing.public_key,
                        enc_key=encryption.public_key if rotate_encryption else None,
                        proof=proof).to_msg()
        return msg, Wallet(self.did, new_signing, encryption, self.label, retired,
                           self.root, dict(self.pseudonym_map))

    # -- on disk ------------------------------------------------------------------------
    def save(self, path: Path | str, passphrase: str | bytes, kdf: KdfParams = DEFAULT_KDF,
             random_bytes: RandomBytes = secrets.token_bytes) -> None:
        """Encrypt to ``path`` (mode 0600), atomically; refuse to overwrite anything."""
        write_new_private(Path(path), self._file_bytes(passphrase, kdf, random_bytes))

    def save_over(self, path: Path | str, passphrase: str | bytes,
                  kdf: KdfParams = DEFAULT_KDF,
                  random_bytes: RandomBytes = secrets.token_bytes) -> None:
        """Replace this wallet's own file (its pseudonym map changed): refused unless
        ``path`` holds a wallet of the same DID; the new file is written aside and
        renamed over the old one, so a crash leaves one or the other, never half."""
        if read_public(path).did != self.did:
            raise WalletError(f"{path} holds another identity's wallet")
        replace_private(Path(path), self._file_bytes(passphrase, kdf, random_bytes))

    def _file_bytes(self, passphrase: str | bytes, kdf: KdfParams,
                    random_bytes: RandomBytes) -> bytes:
        header = {
            "format": FORMAT, "version": VERSION, "did": self.did,
            "signing_key": self.signing_key.public_key.hex(),
            "enc_key": self.encryption_key.public_key.hex(), "label": self.label,
        }
        header, ciphertext = passphrase_seal(passphrase, header,
                                             encoding.encode(self.secrets_json()),
                                             _AAD_PREFIX, kdf, random_bytes)
        body = {**header, "ciphertext": ciphertext.hex()}
        return (json.dumps(body, indent=2) + "\n").encode()

    def secrets_json(self) -> dict[str, Any]:
        """The private half of the wallet, as the wallet file (and the portable record)
        encrypt it: ``{"enc_secret", "pseudonyms", "retired_enc_secrets", "root",
        "signing_seed"}``, secrets in hex, ``pseudonyms`` the map by DID."""
        return {
            "enc_secret": self.encryption_key.secret.hex(),
            "pseudonyms": {did: p.to_json() for did, p in sorted(self.pseudonym_map.items())},
            "retired_enc_secrets": [k.secret.hex() for k in self.retired_encryption_keys],
            "root": self.root.hex(),
            "signing_seed": self.signing_key.seed.hex(),
        }

    @classmethod
    def from_secrets_json(cls, did: str, label: str, secrets_: Any) -> Wallet:
        """The inverse of :meth:`secrets_json`; :class:`WalletError` if malformed.
        Without ``root`` (a file older than pseudonyms) the legacy root applies."""
        try:
            wallet = cls(did,
                         keys.SigningKey(encoding.hex_bytes(secrets_["signing_seed"], 32)),
                         keys.EncryptionKey(encoding.hex_bytes(secrets_["enc_secret"], 32)),
                         label,
                         tuple(keys.EncryptionKey(encoding.hex_bytes(s, 32))
                               for s in secrets_["retired_enc_secrets"]),
                         encoding.hex_bytes(secrets_["root"], 32) if "root" in secrets_
                         else b"")
            entries = secrets_.get("pseudonyms", {})
            if not isinstance(entries, dict):
                raise TypeError("pseudonyms must be a map")
            for pdid, entry in entries.items():
                p = Pseudonym.from_json(pdid, entry)
                if wallet.pseudonym_did(p.counterpart, p.kind, p.generation) != pdid:
                    raise PseudonymError(f"pseudonym {pdid} is not derived from this root")
                wallet.pseudonym_map[pdid] = p
            return wallet
        except (EncodingError, CryptoError, KeyError, TypeError, PseudonymError) as exc:
            raise WalletError(f"{_BAD}: {exc}") from None

    @classmethod
    def load(cls, path: Path | str, passphrase: str | bytes) -> Wallet:
        header, ciphertext = _read(Path(path))
        plaintext = passphrase_open(passphrase, header, ciphertext, _AAD_PREFIX)
        try:
            secrets_ = encoding.decode(plaintext)
        except EncodingError as exc:
            raise WalletError(f"{_BAD}: {exc}") from None
        wallet = cls.from_secrets_json(header["did"], header["label"], secrets_)
        # The header was authenticated; a mismatch here means a buggy writer, not an attack.
        if wallet.info != _info(header):
            raise WalletError(f"{_BAD}: header keys do not match the encrypted keys")
        return wallet


def read_public(path: Path | str) -> WalletInfo:
    """DID, public keys and label of a wallet file, without its passphrase.

    Unauthenticated (the tag can only be checked with the passphrase): use it for
    public information someone hands you, exactly as you would a pasted DID."""
    header, _ = _read(Path(path))
    return _info(header)


# -- passphrase encryption (the wallet file; the portable record reuses it) ------------
def passphrase_seal(passphrase: str | bytes, header: Mapping[str, Any], plaintext: bytes,
                    aad_prefix: bytes, kdf: KdfParams = DEFAULT_KDF,
                    random_bytes: RandomBytes = secrets.token_bytes
                    ) -> tuple[dict[str, Any], bytes]:
    """Encrypt ``plaintext`` with ChaCha20-Poly1305 under Argon2id(``passphrase``).

    Returns ``header`` completed with ``"kdf"`` and ``"cipher"`` (salt, nonce, costs) and
    the ciphertext. The AAD is ``aad_prefix`` + the canonical JSON of that whole header,
    so changing any of it makes :func:`passphrase_open` fail."""
    secret = _passphrase_bytes(passphrase)
    if not secret:
        raise WalletError("the passphrase must not be empty")
    kdf.check()
    salt, nonce = random_bytes(SALT_BYTES), random_bytes(NONCE_BYTES)
    full = {**header,
            "kdf": {"name": KDF_NAME, "salt": salt.hex(), "memory_kib": kdf.memory_kib,
                    "iterations": kdf.iterations, "lanes": kdf.lanes},
            "cipher": {"name": CIPHER_NAME, "nonce": nonce.hex()}}
    aead = ChaCha20Poly1305(_derive(secret, salt, kdf))
    return full, aead.encrypt(nonce, plaintext, aad_prefix + encoding.encode(full))


def passphrase_open(passphrase: str | bytes, header: Mapping[str, Any], ciphertext: bytes,
                    aad_prefix: bytes, what: str = "wallet") -> bytes:
    """Decrypt what :func:`passphrase_seal` made; the header's ``kdf`` and ``cipher`` are
    checked (bounded costs) before any work. :class:`WalletError` on any failure."""
    kdf, salt, nonce = crypto_params(header)
    key = _derive(_passphrase_bytes(passphrase), salt, kdf)
    try:
        return ChaCha20Poly1305(key).decrypt(nonce, ciphertext,
                                             aad_prefix + encoding.encode(dict(header)))
    except InvalidTag:
        raise WalletError(f"wrong passphrase or corrupted {what}") from None
    except (OverflowError, EncodingError) as exc:
        raise WalletError(f"corrupted {what}: {exc}") from None


def crypto_params(header: Mapping[str, Any]) -> tuple[KdfParams, bytes, bytes]:
    """The KDF cost, salt and nonce a header names, checked (``WalletError``)."""
    try:
        k, c = header["kdf"], header["cipher"]
        if set(k) != {"name", "salt", "memory_kib", "iterations", "lanes"} \
                or k["name"] != KDF_NAME or set(c) != {"name", "nonce"} \
                or c["name"] != CIPHER_NAME:
            raise ValueError("unknown KDF or cipher")
        salt = encoding.hex_bytes(k["salt"], SALT_BYTES)
        nonce = encoding.hex_bytes(c["nonce"], NONCE_BYTES)
        kdf = KdfParams(k["memory_kib"], k["iterations"], k["lanes"])
    except (ValueError, KeyError, TypeError, AttributeError, PhrError) as exc:
        raise WalletError(f"{_BAD}: {exc}") from None
    kdf.check()
    return kdf, salt, nonce


# -- helpers ----------------------------------------------------------------------------
def _passphrase_bytes(passphrase: str | bytes) -> bytes:
    return passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)


def _derive(passphrase: bytes, salt: bytes, kdf: KdfParams) -> bytes:
    return Argon2id(salt=salt, length=32, iterations=kdf.iterations, lanes=kdf.lanes,
                    memory_cost=kdf.memory_kib).derive(passphrase)


def _info(header: dict[str, Any]) -> WalletInfo:
    return WalletInfo(header["did"], bytes.fromhex(header["signing_key"]),
                      bytes.fromhex(header["enc_key"]), header["label"])


_HEADER_KEYS: Final = frozenset({"format", "version", "did", "signing_key", "enc_key",
                                 "label", "kdf", "cipher"})


def _read(path: Path) -> tuple[dict[str, Any], bytes]:
    """Parse and structurally check a wallet file; the AEAD checks the rest."""
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise WalletError(f"no wallet file at {path}") from None
    except OSError as exc:
        raise WalletError(f"cannot read wallet {path}: {exc.strerror}") from None
    if len(data) > MAX_FILE_BYTES:
        raise WalletError(f"{path} is too large to be a wallet")
    try:
        body = json.loads(data)
        if not isinstance(body, dict) or body.get("format") != FORMAT:
            raise WalletError(f"{path} is not a phrchain wallet file")
        if body.get("version") != VERSION:
            raise WalletError(f"unsupported wallet version {body.get('version')!r}")
        if set(body) != _HEADER_KEYS | {"ciphertext"}:
            raise ValueError("unexpected fields")
        header = {k: body[k] for k in _HEADER_KEYS}
        keys.public_key_from_did(header["did"])
        encoding.hex_bytes(header["signing_key"], 32)
        encoding.hex_bytes(header["enc_key"], 32)
        if not isinstance(header["label"], str):
            raise ValueError("label must be a string")
        ciphertext = encoding.hex_bytes(body["ciphertext"])
    except WalletError:
        raise
    except RecursionError:  # 64 KiB of brackets nest deeper than the parser goes
        raise WalletError(f"{_BAD}: nested too deep") from None
    except (ValueError, KeyError, TypeError, AttributeError, PhrError) as exc:
        raise WalletError(f"{_BAD}: {exc}") from None
    crypto_params(header)
    return header, ciphertext


def write_new_private(path: Path, content: bytes, what: str = "wallet") -> None:
    """Write ``content`` to a new file atomically: a 0600 temp file in the same
    directory, fsynced, then hard-linked to ``path`` (which fails if ``path`` exists, so
    there is no check-then-write race) — readers never see a half-written file."""
    if path.exists():
        raise WalletError(f"{path} already exists; refusing to overwrite a {what}")
    if not path.parent.is_dir():
        raise WalletError(f"directory {path.parent} does not exist")

    def link(tmp: Path) -> None:
        try:
            os.link(tmp, path)
        except FileExistsError:
            raise WalletError(f"{path} already exists; refusing to overwrite a {what}") from None

    _via_temp(path, content, link)


def replace_private(path: Path, content: bytes) -> None:
    """Replace ``path`` atomically with ``content``: the same 0600 fsynced temp file,
    renamed over it (a crash leaves the old file or the new one)."""
    _via_temp(path, content, lambda tmp: os.replace(tmp, path))


def _via_temp(path: Path, content: bytes, publish: Callable[[Path], None]) -> None:
    directory = path.parent
    tmp = directory / f".{path.name}.{secrets.token_hex(8)}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        publish(tmp)
    finally:
        tmp.unlink(missing_ok=True)
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def wallet_for_rotation(path: Path | str) -> Path:
    """Where ``phrchain identity rotate-key`` puts the rotated wallet: next to the old
    one, ``<stem>.rotated-<n><suffix>`` with the first unused ``n``."""
    old = Path(path)
    for n in range(1, 10_000):
        candidate = old.with_name(f"{old.stem}.rotated-{n}{old.suffix}")
        if not candidate.exists():
            return candidate
    raise WalletError(f"too many rotated wallets next to {old}")
