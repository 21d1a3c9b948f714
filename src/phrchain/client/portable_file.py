"""The portable record's file: one passphrase-encrypted file a patient carries
(``docs/portable.md`` is the spec; :mod:`phrchain.client.portable` makes and uses it).

File layout (version 1)::

    header line   canonical JSON {"format": "phrchain-portable", "version": 1,
                                  "kdf": {argon2id, salt, costs}, "cipher":
                                  {"chacha20-poly1305", nonce}} + "\\n"
    ciphertext    ChaCha20-Poly1305(Argon2id(passphrase), payload),
                  AAD = b"phrchain/portable/v1\\x00" + the header's canonical JSON

    payload       8-byte big-endian manifest length || manifest (canonical JSON)
                  || every carried record's ciphertext, back to back, in manifest order

The KDF, the AEAD and the header's bounded cost checks are the wallet file's
(:func:`~phrchain.client.wallet.passphrase_seal`). The header says nothing about the
patient: everything else is inside the ciphertext.

Parsing here is structural only (shapes, lengths, offsets); whether the content is
*true* is :mod:`phrchain.client.portable_check`'s job.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from phrchain.client.wallet import (
    DEFAULT_KDF,
    KdfParams,
    RandomBytes,
    Wallet,
    WalletError,
    passphrase_open,
    passphrase_seal,
    write_new_private,
)
from phrchain.core import encoding, keys
from phrchain.core.errors import EncodingError, PhrError
from phrchain.vault import crypto

FORMAT: Final = "phrchain-portable"
VERSION: Final = 1
_AAD_PREFIX: Final = b"phrchain/portable/v1\x00"
_LENGTH_BYTES: Final = 8
MAX_HEADER_BYTES: Final = 4096
# The payload is one AEAD message held in memory: ChaCha20-Poly1305 in `cryptography`
# takes at most 2**31 - 1 bytes, so records may total at most HARD_MAX_BYTES and the
# manifest (proofs, keys) MAX_MANIFEST_BYTES.
HARD_MAX_BYTES: Final = 1 << 30
DEFAULT_MAX_BYTES: Final = 512 << 20
MAX_MANIFEST_BYTES: Final = 256 << 20
MAX_FILE_BYTES: Final = MAX_HEADER_BYTES + HARD_MAX_BYTES + MAX_MANIFEST_BYTES + 64


class PortableError(PhrError):
    """A portable file cannot be read (wrong passphrase, corrupted, malformed), is
    refused by verification (the message names the first failing item), or cannot be
    exported or imported."""


@dataclass(frozen=True, slots=True)
class CarriedRecord:
    """One record in the file: its state proof at the file's height, the leaf hash of
    every ciphertext chunk, the patient's wrapped data key, the ciphertext (all chunks,
    back to back; its length is the exact size, the leaves count the chunks: the chain
    has only the size bucket, v2) and the record's sealed descriptor."""

    record: str
    proof: dict[str, Any]
    leaves: tuple[bytes, ...]
    wrapped_key: bytes
    ciphertext: bytes = field(repr=False)
    descriptor: bytes | None = None


@dataclass(frozen=True, slots=True)
class Payload:
    """Everything a portable file carries (``docs/portable.md`` § Payload)."""

    wallet: Wallet = field(repr=False)
    anchor: dict[str, Any]  # how the exporter saw the chain: informational, never trusted
    height: int
    header: dict[str, Any]  # the validator-signed header of ``height``
    identity: dict[str, Any]  # proved identity/did answer for the patient
    records: tuple[CarriedRecord, ...]
    left_out: tuple[dict[str, Any], ...]  # {"record", "reason", "proof"}
    consents: tuple[dict[str, Any], ...]  # {"consent", "proof"}
    audit_head: dict[str, Any]  # proved audit/head answer
    created_ms: int

    def to_bytes(self) -> bytes:
        entries, offset = [], 0
        for r in self.records:
            entries.append({"record": r.record, "proof": r.proof,
                            "leaves": [h.hex() for h in r.leaves],
                            "wrapped_key": r.wrapped_key.hex(), "offset": offset,
                            "length": len(r.ciphertext),
                            **({} if r.descriptor is None
                               else {"descriptor": r.descriptor.hex()})})
            offset += len(r.ciphertext)
        manifest = encoding.encode({
            "v": VERSION,
            "patient": {"did": self.wallet.did, "label": self.wallet.label,
                        **self.wallet.secrets_json()},
            "anchor": self.anchor, "height": self.height, "header": self.header,
            "identity": self.identity, "records": entries,
            "left_out": list(self.left_out), "consents": list(self.consents),
            "audit_head": self.audit_head, "created_ms": self.created_ms})
        return b"".join([len(manifest).to_bytes(_LENGTH_BYTES, "big"), manifest,
                         *(r.ciphertext for r in self.records)])

    @classmethod
    def from_bytes(cls, data: bytes) -> Payload:
        """Structural parse; :class:`PortableError` ``malformed payload: …``."""
        try:
            return cls._parse(data)
        except PortableError:
            raise
        except (PhrError, KeyError, TypeError, ValueError, AttributeError) as exc:
            raise PortableError(f"malformed payload: {type(exc).__name__}: {exc}") from None

    @classmethod
    def _parse(cls, data: bytes) -> Payload:
        size = int.from_bytes(data[:_LENGTH_BYTES], "big")
        if len(data) < _LENGTH_BYTES or size > min(MAX_MANIFEST_BYTES,
                                                    len(data) - _LENGTH_BYTES):
            raise PortableError("malformed payload: bad manifest length")
        manifest = encoding.decode(data[_LENGTH_BYTES:_LENGTH_BYTES + size])
        blob = memoryview(data)[_LENGTH_BYTES + size:]
        _keys(manifest, {"v", "patient", "anchor", "height", "header", "identity", "records",
                         "left_out", "consents", "audit_head", "created_ms"}, "manifest")
        if manifest["v"] != VERSION:
            raise PortableError(f"unsupported payload version {manifest['v']!r}")
        patient = manifest["patient"]
        # "root" and "pseudonyms" (the pseudonym root and map) are absent from files
        # written before pseudonyms; the wallet then applies its legacy-root rule.
        names = {"did", "label", "signing_seed", "enc_secret", "retired_enc_secrets"}
        _keys(patient, names | ({"root", "pseudonyms"} & set(patient)), "patient")
        keys.public_key_from_did(patient["did"])
        try:
            wallet = Wallet.from_secrets_json(patient["did"], _text(patient["label"]), patient)
        except WalletError as exc:
            raise PortableError(f"malformed payload: patient keys: {exc}") from None
        records, offset = [], 0
        for entry in _list(manifest["records"]):
            _keys(entry, {"record", "proof", "leaves", "wrapped_key", "offset", "length"}
                  | ({"descriptor"} if "descriptor" in entry else set()), "record entry")
            length = _int(entry["length"])
            if _int(entry["offset"]) != offset or offset + length > len(blob):
                raise PortableError(f"malformed payload: record {entry['record']!r} lies "
                                    "outside the ciphertext section")
            records.append(CarriedRecord(
                _record_id(entry["record"]), _object(entry["proof"]),
                tuple(encoding.hex_bytes(h, 32) for h in _list(entry["leaves"])),
                encoding.hex_bytes(entry["wrapped_key"]),
                bytes(blob[offset:offset + length]),
                encoding.hex_bytes(entry["descriptor"]) if "descriptor" in entry else None))
            offset += length
        if offset != len(blob):
            raise PortableError("malformed payload: trailing bytes after the last record")
        for entry in _list(manifest["left_out"]):
            _keys(entry, {"record", "reason", "proof"}, "left-out entry")
            _record_id(entry["record"])
        for entry in _list(manifest["consents"]):
            _keys(entry, {"consent", "proof"}, "consent entry")
            _record_id(entry["consent"])
        return cls(wallet, _object(manifest["anchor"]), _int(manifest["height"]),
                   _object(manifest["header"]), _object(manifest["identity"]),
                   tuple(records), tuple(manifest["left_out"]), tuple(manifest["consents"]),
                   _object(manifest["audit_head"]), _int(manifest["created_ms"]))


# -- the file ------------------------------------------------------------------------------
def seal(payload: Payload, passphrase: str | bytes, kdf: KdfParams = DEFAULT_KDF,
         random_bytes: RandomBytes = secrets.token_bytes) -> bytes:
    """The file's bytes: header line, then the encrypted payload."""
    try:
        header, ciphertext = passphrase_seal(passphrase, {"format": FORMAT,
                                                          "version": VERSION},
                                             payload.to_bytes(), _AAD_PREFIX, kdf,
                                             random_bytes)
    except WalletError as exc:
        raise PortableError(str(exc)) from None
    return encoding.encode(header) + b"\n" + ciphertext


def write(path: Path | str, data: bytes) -> None:
    """A new file, mode 0600, atomically; never overwrites."""
    try:
        write_new_private(Path(path), data, "file")
    except WalletError as exc:
        raise PortableError(str(exc)) from None


def read(path: Path | str, passphrase: str | bytes) -> Payload:
    """Decrypt a portable file and parse its payload (nothing is verified yet)."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            data = fh.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise PortableError(f"no portable file at {path}") from None
    except OSError as exc:
        raise PortableError(f"cannot read {path}: {exc.strerror}") from None
    return open_bytes(data, passphrase, str(path))


def open_bytes(data: bytes, passphrase: str | bytes, name: str = "the file") -> Payload:
    if len(data) > MAX_FILE_BYTES:
        raise PortableError(f"{name} is too large to be a portable record")
    newline = data.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if newline < 0:
        raise PortableError(f"{name} is not a phrchain portable record (no header line)")
    line, ciphertext = data[:newline], data[newline + 1:]
    try:
        header = encoding.decode(line)
        if not isinstance(header, dict) or header.get("format") != FORMAT:
            raise PortableError(f"{name} is not a phrchain portable record")
        if header.get("version") != VERSION:
            raise PortableError(f"unsupported portable record version "
                                f"{header.get('version')!r}")
        if set(header) != {"format", "version", "kdf", "cipher"}:
            raise PortableError(f"{name}: unexpected header fields {sorted(header)}")
        plaintext = passphrase_open(passphrase, header, ciphertext, _AAD_PREFIX,
                                    "portable record")
    except EncodingError as exc:
        raise PortableError(f"{name}: the header line is not canonical JSON: {exc}") from None
    except WalletError as exc:
        raise PortableError(f"{name}: {exc}") from None
    return Payload.from_bytes(plaintext)


def split_chunks(ciphertext: bytes, size: int, count: int) -> list[bytes]:
    """A record's ciphertext cut into its chunks, by the layout its descriptor gives."""
    layout = crypto.Layout.of_record(size, count)
    out, at = [], 0
    for i in range(count):
        n = layout.plain_len(i) + crypto.TAG_SIZE
        out.append(ciphertext[at:at + n])
        at += n
    return out


# -- structural helpers --------------------------------------------------------------------
def _keys(value: Any, names: set[str], what: str) -> None:
    if not isinstance(value, dict) or set(value) != names:
        got = sorted(value) if isinstance(value, dict) else type(value).__name__
        raise PortableError(f"malformed payload: {what} has fields {got}, "
                            f"expected {sorted(names)}")


def _list(value: Any) -> Sequence[Any]:
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return value


def _object(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise TypeError(f"expected an object, got {type(value).__name__}")
    return dict(value)


def _int(value: Any) -> int:
    if type(value) is not int or value < 0:
        raise TypeError(f"expected a non-negative integer, got {value!r}")
    return value


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise TypeError(f"expected a string, got {type(value).__name__}")
    return value


def _record_id(value: Any) -> str:
    if not isinstance(value, str) or len(value) != 32 or value.lower() != value:
        raise TypeError(f"not an object id: {value!r}")
    bytes.fromhex(value)
    return value


__all__ = ["DEFAULT_MAX_BYTES", "HARD_MAX_BYTES", "CarriedRecord", "Payload", "PortableError",
           "open_bytes", "read", "seal", "split_chunks", "write"]
