"""Light client for the CometBFT engine: trust a validator set, not a node.

A patient or auditor who holds the chain's genesis (its validator set: Ed25519 keys and
voting powers) checks a query answer without trusting the node that gave it:

1. :func:`verify_commit` — the header's ``validators_hash`` is the hash of the trusted
   set; its commit names this header (``block_id.hash`` = the header's hash) and carries
   valid Ed25519 signatures, over CometBFT's canonical precommit sign bytes, from
   validators holding **more than 2/3** of the set's voting power.
2. :func:`verify_query_cometbft` — CometBFT headers carry the app hash of the state
   *before* their block: the state a query at height H reads is committed by the header
   of height **H + 1**. The answer's sparse-Merkle proof is checked against that
   header's ``app_hash`` (``client.verify.verify_query``), so the query height must be
   at most the latest height - 1 (the last block's state is proven by the next header).

Byte layouts follow CometBFT v0.38 (``types/block.go`` ``Header.Hash``,
``types/vote.go`` ``VoteSignBytes``, ``types/validator.go`` ``Validator.Bytes``): header
hash = RFC 6962 Merkle root (the RFC 9162 tree of ``core/rfc9162.py``) over 14
protobuf-encoded fields; sign bytes = varint-length-prefixed ``CanonicalVote``.
This module checks one header against one known set (a header signed by another set
fails step 1); ``lightclient_skipping.py`` follows validator-set changes (governance
adds, re-weights and removes validators) from a trusted root, as CometBFT's light
client does, with :func:`verify_commit_trusting`.

Everything raises :class:`~phrchain.core.errors.ProofError` or
:class:`~phrchain.core.errors.CryptoError`; nothing returns ``False``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from phrchain.client.verify import verify_query
from phrchain.core import keys, rfc9162
from phrchain.core.errors import CryptoError, ProofError

__all__ = [
    "LightHeader",
    "NotEnoughTrust",
    "Validator",
    "header_hash",
    "validator_set_from_genesis",
    "validators_hash",
    "verify_commit",
    "verify_commit_trusting",
    "verify_query_cometbft",
    "vote_sign_bytes",
]

PRECOMMIT_TYPE: Final = 2  # tendermint.types.SignedMsgType SIGNED_MSG_TYPE_PRECOMMIT
BLOCK_ID_FLAG_COMMIT: Final = 2  # tendermint.types.BlockIDFlag BLOCK_ID_FLAG_COMMIT
_TIME_RE: Final = re.compile(r"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?Z")


# -- minimal protobuf encoding (proto3: default values are omitted) -------------------------
def _uvarint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 as its two's complement, 10 bytes
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _varint_field(number: int, value: int) -> bytes:
    return _uvarint(number << 3) + _uvarint(value) if value else b""


def _bytes_field(number: int, value: bytes, always: bool = False) -> bytes:
    if not value and not always:
        return b""
    return _uvarint(number << 3 | 2) + _uvarint(len(value)) + value


def _sfixed64_field(number: int, value: int) -> bytes:
    return _uvarint(number << 3 | 1) + value.to_bytes(8, "little", signed=True) if value else b""


def _timestamp(seconds: int, nanos: int) -> bytes:
    return _varint_field(1, seconds) + _varint_field(2, nanos)


# -- JSON fields of the RPC ------------------------------------------------------------------
def _hex(value: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(value) if isinstance(value, str) else _fail(what)
    except ValueError:
        return _fail(what)


def _fail(what: str) -> bytes:
    raise ProofError(f"{what} is malformed")


def _int(value: Any, what: str) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ProofError(f"{what} is not an integer") from None


def parse_time(text: Any) -> tuple[int, int]:
    """RFC 3339 UTC time (CometBFT's JSON) as protobuf ``Timestamp`` (seconds, nanos)."""
    match = _TIME_RE.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ProofError(f"time {text!r} is not RFC 3339 UTC")
    base = dt.datetime.strptime(match.group(1), "%Y-%m-%dT%H:%M:%S").replace(tzinfo=dt.UTC)
    epoch = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
    seconds = (base - epoch) // dt.timedelta(seconds=1)
    return seconds, int((match.group(2) or "0").ljust(9, "0"))


def _block_id(data: Any, what: str) -> tuple[bytes, int, bytes]:
    if not isinstance(data, Mapping) or not isinstance(data.get("parts"), Mapping):
        raise ProofError(f"{what} is malformed")
    return (_hex(data.get("hash"), f"{what} hash"),
            _int(data["parts"].get("total"), f"{what} parts"),
            _hex(data["parts"].get("hash"), f"{what} parts hash"))


def _part_set_header(total: int, parts_hash: bytes) -> bytes:
    return _varint_field(1, total) + _bytes_field(2, parts_hash)


# -- validators -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Validator:
    address: bytes  # first 20 bytes of SHA-256(public key)
    public_key: bytes
    power: int

    def encoded(self) -> bytes:
        """``SimpleValidator{pub_key: PublicKey{ed25519}, voting_power}`` bytes."""
        pub_key = _bytes_field(1, self.public_key)
        return _bytes_field(1, pub_key) + _varint_field(2, self.power)


def validator_set_from_genesis(genesis: Mapping[str, Any]) -> tuple[Validator, ...]:
    """The trusted set from a CometBFT ``genesis.json`` you hold, in CometBFT's order
    (voting power descending, then address)."""
    validators = []
    for entry in genesis.get("validators") or ():
        if entry.get("pub_key", {}).get("type") != "tendermint/PubKeyEd25519":
            raise ProofError("only Ed25519 validators are supported")
        try:
            public_key = base64.b64decode(entry["pub_key"]["value"], validate=True)
        except (binascii.Error, KeyError):
            raise ProofError("a genesis validator key is malformed") from None
        keys.check_ed25519_public_key(public_key)
        power = _int(entry.get("power"), "validator power")
        if power <= 0:
            raise ProofError("a genesis validator has no voting power")
        validators.append(Validator(hashlib.sha256(public_key).digest()[:20], public_key,
                                    power))
    if not validators:
        raise ProofError("the genesis names no validators")
    return tuple(sorted(validators, key=lambda v: (-v.power, v.address)))


def validators_hash(validators: Sequence[Validator]) -> bytes:
    return rfc9162.root_from_leaf_hashes([rfc9162.leaf_hash(v.encoded()) for v in validators])


# -- headers and votes ----------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class LightHeader:
    """The fields of a verified header a caller needs."""

    chain_id: str
    height: int
    time: str
    app_hash: bytes
    hash: bytes


_HASH_FIELDS: Final = ("last_commit_hash", "data_hash", "validators_hash",
                       "next_validators_hash", "consensus_hash", "app_hash",
                       "last_results_hash", "evidence_hash", "proposer_address")


def header_hash(header: Mapping[str, Any]) -> bytes:
    """CometBFT ``Header.Hash()`` of a header as the RPC renders it."""
    try:
        version = header["version"]
        chain_id = header["chain_id"]
        if not isinstance(chain_id, str):
            raise ProofError("header chain_id is malformed")
        last_hash, total, parts_hash = _block_id(header["last_block_id"], "last_block_id")
        fields = [
            _varint_field(1, _int(version.get("block"), "version")) +
            _varint_field(2, _int(version.get("app", 0), "version")),
            _bytes_field(1, chain_id.encode()),
            _varint_field(1, _int(header["height"], "height")),
            _timestamp(*parse_time(header["time"])),
            _bytes_field(1, last_hash) + _bytes_field(2, _part_set_header(total, parts_hash),
                                                      always=True),
        ]
        fields += [_bytes_field(1, _hex(header[name], name)) for name in _HASH_FIELDS]
    except (KeyError, AttributeError, TypeError):
        raise ProofError("the header lacks a field or has a malformed one") from None
    return rfc9162.root_from_leaf_hashes([rfc9162.leaf_hash(f) for f in fields])


def vote_sign_bytes(chain_id: str, height: int, round_: int, block_id: tuple[bytes, int, bytes],
                    seconds: int, nanos: int) -> bytes:
    """What a validator signs for a precommit: varint-length-prefixed ``CanonicalVote``."""
    block_hash, total, parts_hash = block_id
    canonical_block_id = (_bytes_field(1, block_hash)
                          + _bytes_field(2, _part_set_header(total, parts_hash), always=True))
    vote = (_varint_field(1, PRECOMMIT_TYPE) + _sfixed64_field(2, height)
            + _sfixed64_field(3, round_) + _bytes_field(4, canonical_block_id)
            + _bytes_field(5, _timestamp(seconds, nanos), always=True)
            + _bytes_field(6, chain_id.encode()))
    return _uvarint(len(vote)) + vote


def _commit_of(signed_header: Mapping[str, Any], chain_id: str
               ) -> tuple[Mapping[str, Any], Mapping[str, Any], int, tuple[bytes, int, bytes],
                          bytes]:
    """``(header, commit, height, commit block id, header hash)`` of a signed header whose
    commit names this header at this height on ``chain_id``."""
    if not isinstance(signed_header, Mapping):
        raise ProofError("not a signed header")
    header, commit = signed_header.get("header"), signed_header.get("commit")
    if not isinstance(header, Mapping) or not isinstance(commit, Mapping):
        raise ProofError("a signed header has a header and a commit")
    if header.get("chain_id") != chain_id:
        raise ProofError(f"header is for chain {header.get('chain_id')!r}, not {chain_id!r}")
    height = _int(header.get("height"), "height")
    block_id = _block_id(commit.get("block_id"), "commit block_id")
    this_hash = header_hash(header)
    if block_id[0] != this_hash:
        raise ProofError("the commit is for another block than this header")
    if _int(commit.get("height"), "commit height") != height:
        raise ProofError("the commit is for another height than this header")
    return header, commit, height, block_id, this_hash


def _signed_power(commit: Mapping[str, Any], validators: Sequence[Validator], chain_id: str,
                  height: int, block_id: tuple[bytes, int, bytes], others_ok: bool) -> int:
    """The voting power of ``validators`` whose valid precommit signatures the commit
    carries. ``others_ok``: signatures by validators outside the set are skipped (the
    trusted set of a skipping check), else refused."""
    round_ = _int(commit.get("round"), "commit round")
    by_address = {v.address: v for v in validators}
    signed_power, seen = 0, set()
    for sig in commit.get("signatures") or ():
        if not isinstance(sig, Mapping) or _int(sig.get("block_id_flag"), "flag") != \
                BLOCK_ID_FLAG_COMMIT:
            continue  # absent, or a vote for nil: counts for nothing
        address = _hex(sig.get("validator_address"), "validator_address")
        validator = by_address.get(address)
        if address in seen or (validator is None and not others_ok):
            raise ProofError(f"commit signature by unknown or repeated validator "
                             f"{address.hex()}")
        seen.add(address)
        if validator is None:
            continue
        try:
            signature = base64.b64decode(sig.get("signature") or "", validate=True)
        except binascii.Error:
            raise ProofError("a commit signature is not base64") from None
        message = vote_sign_bytes(chain_id, height, round_, block_id,
                                  *parse_time(sig.get("timestamp")))
        try:
            keys.verify(validator.public_key, signature, message)
        except CryptoError as exc:
            raise CryptoError(f"commit signature of {address.hex()}: {exc}") from None
        signed_power += validator.power
    return signed_power


def _light_header(header: Mapping[str, Any], chain_id: str, height: int,
                  this_hash: bytes) -> LightHeader:
    return LightHeader(chain_id, height, str(header.get("time")),
                       _hex(header.get("app_hash"), "app_hash"), this_hash)


def verify_commit(signed_header: Mapping[str, Any], validators: Sequence[Validator],
                  chain_id: str) -> LightHeader:
    """Check a ``/commit`` answer's ``signed_header`` against the trusted ``validators``
    (see the module docstring); return the verified header's fields."""
    header, commit, height, block_id, this_hash = _commit_of(signed_header, chain_id)
    if _hex(header.get("validators_hash"), "validators_hash") != validators_hash(validators):
        raise ProofError("the header was made by another validator set than the trusted one")
    signed_power = _signed_power(commit, validators, chain_id, height, block_id, False)
    total = sum(v.power for v in validators)
    if 3 * signed_power <= 2 * total:
        raise ProofError(f"the commit is signed by {signed_power} of {total} voting power, "
                         "not more than 2/3")
    return _light_header(header, chain_id, height, this_hash)


class NotEnoughTrust(ProofError):
    """Too little of the trusted set signed a commit to skip to it (bisect instead)."""


def verify_commit_trusting(signed_header: Mapping[str, Any], trusted: Sequence[Validator],
                           chain_id: str, numerator: int = 1, denominator: int = 3) -> None:
    """Raise unless validators of the ``trusted`` set holding more than
    ``numerator/denominator`` of its power signed this commit (CometBFT's
    ``VerifyCommitLightTrusting``; the header's own set is checked by
    :func:`verify_commit`)."""
    _, commit, height, block_id, _ = _commit_of(signed_header, chain_id)
    signed_power = _signed_power(commit, trusted, chain_id, height, block_id, True)
    total = sum(v.power for v in trusted)
    if denominator * signed_power <= numerator * total:
        raise NotEnoughTrust(f"the trusted validators signed {signed_power} of {total} voting "
                         f"power, not more than {numerator}/{denominator}")


def verify_query_cometbft(answer: Mapping[str, Any], next_signed_header: Mapping[str, Any],
                          validators: Sequence[Validator], chain_id: str,
                          expected_key: bytes | None = None,
                          min_height: int | None = None) -> Any:
    """Check a proved query answer at height H against the commit-verified header of
    height H + 1 (whose ``app_hash`` is the state after block H); return the proven
    value. ``min_height`` refuses an answer older than that height."""
    header = verify_commit(next_signed_header, validators, chain_id)
    height = answer.get("height") if isinstance(answer, Mapping) else None
    if type(height) is not int or header.height != height + 1:
        raise ProofError(f"a query at height {height!r} is proven by header {height!r} + 1, "
                         f"not {header.height}")
    if min_height is not None and height < min_height:
        raise ProofError(f"the answer is for height {height}, older than {min_height}")
    return verify_query(answer, header.app_hash, expected_key)
