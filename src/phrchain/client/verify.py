"""Client-side checks of what a node says: a light client for patients and auditors.

A node's answer to a query with ``prove`` carries the state key, the raw stored bytes,
a sparse-Merkle proof and the app hash it claims. These functions re-derive everything
from the proof and refuse on any mismatch, so a caller only has to trust:

- an app hash it got from elsewhere (``expected_app_hash``), or
- a block header signed by the validator whose DID the caller already knows (genesis).

Everything raises :class:`~phrchain.core.errors.ProofError` or
:class:`~phrchain.core.errors.CryptoError`; nothing returns ``False``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core import encoding, keys, smt
from phrchain.core.block import Header, SignedHeader
from phrchain.core.errors import EncodingError, ProofError

__all__ = ["verify_header", "verify_query", "verify_query_against_header"]

STORE_PATH = "store"  # the raw-key query path of Application.query


def _hex(value: object, what: str, length: int | None = None) -> bytes:
    try:
        return encoding.hex_bytes(value, length, what)
    except EncodingError as exc:
        raise ProofError(f"answer {what}: {exc}") from None


def verify_query(answer: Mapping[str, Any], expected_app_hash: bytes | None = None,
                 expected_key: bytes | None = None) -> Any:
    """Check a proved query answer and return its (now proven) ``value``.

    - ``raw_value`` not None: a membership proof of ``key -> raw_value`` under
      ``app_hash``, and ``value`` must be what ``raw_value`` decodes to (for path
      ``store``, its hex);
    - ``raw_value`` None: a non-membership proof of ``key``, and ``value`` must be None
      (an answer may not claim a value the proof says does not exist).

    ``expected_key`` guards against a node answering with a valid proof for *another*
    key (e.g. another DID); pass it when you know which key you asked about.
    """
    if not isinstance(answer, Mapping) or answer.get("proof") is None:
        raise ProofError("the answer carries no proof (query with prove=true)")
    for name in ("path", "height", "app_hash", "value", "key", "raw_value"):
        if name not in answer:
            raise ProofError(f"the answer lacks {name!r}")
    root = _hex(answer["app_hash"], "app_hash", 32)
    key = _hex(answer["key"], "key")
    if expected_key is not None and key != expected_key:
        raise ProofError("the answer proves another key than the one asked for")
    proof = smt.SmtProof.from_json(answer["proof"])
    raw_hex, value = answer["raw_value"], answer["value"]
    if raw_hex is None:
        smt.verify_non_membership(root, key, proof)
        if value is not None:
            raise ProofError("the answer claims a value for a key the proof shows absent")
    else:
        raw = _hex(raw_hex, "raw_value")
        smt.verify_membership(root, key, raw, proof)
        if answer["path"] == STORE_PATH:
            if value != raw.hex():
                raise ProofError("the answer's value is not its proven raw value")
        else:
            try:
                decoded = encoding.decode(raw)
            except EncodingError as exc:
                raise ProofError(f"proven raw value is not canonical: {exc}") from None
            if decoded != value:
                raise ProofError("the answer's value differs from its proven raw value")
    if expected_app_hash is not None and root != expected_app_hash:
        raise ProofError("the answer's app hash is not the expected one")
    return value


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
                                validator_did: str, expected_key: bytes | None = None) -> Any:
    """Check a proved answer against the validator-signed header of the same height.

    Solo headers carry the app hash *after* their block, which is the state a query at
    that height reads, so the two must be equal. Returns the proven value."""
    header = verify_header(signed_header_json, validator_did)
    if not isinstance(answer, Mapping) or header.height != answer.get("height"):
        raise ProofError(f"header is for height {header.height}, the answer for "
                         f"{answer.get('height') if isinstance(answer, Mapping) else None}")
    return verify_query(answer, header.app_hash, expected_key)
