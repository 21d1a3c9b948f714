"""Client-side checks of what a node says: a light client for patients and auditors.

A node's answer to a query with ``prove`` carries the state key, the raw stored bytes,
a sparse-Merkle proof and the app hash it claims. These functions re-derive everything
from the proof and refuse on any mismatch, so a caller only has to trust:

- an app hash it got from elsewhere (``expected_app_hash``), e.g. the genesis app hash
  it recomputed itself from a genesis file it trusts (:func:`genesis_app_hash`), or
- a block header signed by the validator whose DID the caller already knows (genesis),
  for the chain it means (``chain_id``) and recent enough (``min_height``).

What they return is always decoded from the *proven* raw bytes, never the node's own
rendering of them. Everything raises :class:`~phrchain.core.errors.ProofError` or
:class:`~phrchain.core.errors.CryptoError`; nothing returns ``False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core import encoding, keys, smt
from phrchain.core.block import Header, SignedHeader
from phrchain.core.errors import EncodingError, ProofError
from phrchain.modules.identity.keys import id_key

__all__ = ["genesis_app_hash", "query_key", "verify_header", "verify_query",
           "verify_query_against_header"]

STORE_PATH: Final = "store"  # the raw-key query path of Application.query
IDENTITY_DID_PATH: Final = "identity/did"
# Paths whose state key follows from the query data: their answers are only checked
# against the key the caller derived itself (query_key), never the one the node names.
KEYED_PATHS: Final = frozenset({STORE_PATH, IDENTITY_DID_PATH})


def _hex(value: object, what: str, length: int | None = None) -> bytes:
    try:
        return encoding.hex_bytes(value, length, what)
    except EncodingError as exc:
        raise ProofError(f"answer {what}: {exc}") from None


def query_key(path: str, data: Mapping[str, Any]) -> bytes:
    """The state key a provable query is about, from what the caller asked."""
    if path == IDENTITY_DID_PATH:
        return id_key(str(data["did"]))
    if path == STORE_PATH:
        return encoding.hex_bytes(data["key"], what="key")
    raise ValueError(f"no state key can be derived for query path {path!r}")


def _proven_value(path: str, raw: bytes, claimed: object) -> Any:
    """The value ``raw`` stands for; the node's ``claimed`` value must be exactly it."""
    if path == STORE_PATH:
        if type(claimed) is not str or claimed != raw.hex():
            raise ProofError("the answer's value is not its proven raw value")
        return raw.hex()
    try:
        value = encoding.decode(raw)
    except EncodingError as exc:
        raise ProofError(f"proven raw value is not canonical: {exc}") from None
    try:
        same = encoding.encode(claimed) == raw  # byte for byte: True is not 1
    except EncodingError:
        same = False
    if not same:
        raise ProofError("the answer's value differs from its proven raw value")
    return value


def verify_query(answer: Mapping[str, Any], expected_app_hash: bytes | None = None,
                 expected_key: bytes | None = None) -> Any:
    """Check a proved query answer and return the value its proof proves.

    - ``raw_value`` not None: a membership proof of ``key -> raw_value`` under
      ``app_hash``; ``value`` must encode to exactly ``raw_value`` (for path ``store``,
      be its hex), and what is returned is decoded from ``raw_value``;
    - ``raw_value`` None: a non-membership proof of ``key``, and ``value`` must be None
      (an answer may not claim a value the proof says does not exist).

    ``expected_key`` guards against a node answering with a valid proof for *another*
    key (e.g. another DID). It is required for the paths in :data:`KEYED_PATHS`
    (derive it with :func:`query_key`).
    """
    if not isinstance(answer, Mapping) or answer.get("proof") is None:
        raise ProofError("the answer carries no proof (query with prove=true)")
    for name in ("path", "height", "app_hash", "value", "key", "raw_value"):
        if name not in answer:
            raise ProofError(f"the answer lacks {name!r}")
    path, height = answer["path"], answer["height"]
    if not isinstance(path, str) or type(height) is not int or height < 0:
        raise ProofError("the answer's path or height is malformed")
    if expected_key is None and path in KEYED_PATHS:
        raise ProofError(f"a {path} answer must be checked against the key asked about: "
                         "pass expected_key (see query_key)")
    root = _hex(answer["app_hash"], "app_hash", 32)
    key = _hex(answer["key"], "key")
    if expected_key is not None and key != expected_key:
        raise ProofError("the answer proves another key than the one asked for")
    if expected_app_hash is not None and root != expected_app_hash:
        raise ProofError("the answer's app hash is not the expected one")
    proof = smt.SmtProof.from_json(answer["proof"])  # strict: ProofError if malformed
    if answer["raw_value"] is None:
        smt.verify_non_membership(root, key, proof)
        if answer["value"] is not None:
            raise ProofError("the answer claims a value for a key the proof shows absent")
        return None
    raw = _hex(answer["raw_value"], "raw_value")
    smt.verify_membership(root, key, raw, proof)
    return _proven_value(path, raw, answer["value"])


def verify_header(signed_header_json: Any, validator_did: str,
                  chain_id: str | None = None) -> Header:
    """Check a signed header against the validator DID the caller trusts (from genesis);
    return the header. ``chain_id`` additionally pins the chain."""
    try:
        signed = SignedHeader.from_json(signed_header_json)
    except EncodingError as exc:
        raise ProofError(f"not a signed header: {exc}") from None
    signed.verify(keys.public_key_from_did(validator_did))  # CryptoError on failure
    if chain_id is not None and signed.header.chain_id != chain_id:
        raise ProofError(f"header is for chain {signed.header.chain_id!r}, not {chain_id!r}")
    return signed.header


def verify_query_against_header(answer: Mapping[str, Any], signed_header_json: Any,
                                validator_did: str, expected_key: bytes | None = None,
                                chain_id: str | None = None,
                                min_height: int | None = None) -> Any:
    """Check a proved answer against the validator-signed header of the same height.

    Solo headers carry the app hash *after* their block, which is the state a query at
    that height reads, so the two must be equal. ``chain_id`` pins the header's chain;
    ``min_height`` refuses an old header (a node replaying stale state, e.g. from before
    a revocation). Returns the proven value."""
    header = verify_header(signed_header_json, validator_did, chain_id)
    if min_height is not None and header.height < min_height:
        raise ProofError(f"header {header.height} is older than the required height "
                         f"{min_height}")
    height = answer.get("height") if isinstance(answer, Mapping) else None
    if type(height) is not int or header.height != height:
        raise ProofError(f"header is for height {header.height}, the answer for {height!r}")
    return verify_query(answer, header.app_hash, expected_key)


def genesis_app_hash(genesis: Mapping[str, Any]) -> bytes:
    """The app hash at height 0, recomputed by running genesis in a throwaway in-memory
    application: the only way to check a height-0 answer, which no header signs."""
    from phrchain.app import new_application
    from phrchain.core.store import MemoryStateStore

    try:
        return new_application(MemoryStateStore()).init_chain(genesis)
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"cannot run the genesis file: {exc}") from None
