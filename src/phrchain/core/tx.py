"""The transaction envelope (DESIGN §4).

Wire form — canonical JSON (``encoding.py``) of::

    {"chain_id": str, "msgs": [{"type": "<module>/<name>", ...}, ...],
     "nonce": int, "sig": hex(64 bytes), "signer": did:key, "v": 1}

The signature covers ``domain_prefix("phrchain/tx/sign/v1") || canonical(envelope
without "sig")``, so a signature for a tx can never be replayed as one for a header,
a vault request or a key rotation. The tx hash is plain SHA-256 of the wire bytes, the
same hash CometBFT shows for the tx.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core import encoding, keys
from phrchain.core.errors import (
    MALFORMED_TX,
    TOO_MANY_MESSAGES,
    TX_TOO_LARGE,
    UNSUPPORTED_VERSION,
    EncodingError,
)
from phrchain.core.hashing import domain_prefix, sha256

TX_VERSION: Final = 1
MAX_TX_BYTES: Final = 64 * 1024
MAX_MSGS: Final = 32
MAX_NONCE: Final = encoding.MAX_SAFE_INTEGER
CHAIN_ID_RE: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,47}")
MSG_TYPE_RE: Final = re.compile(r"[a-z][a-z0-9_]{0,31}/[a-z][a-z0-9_]{0,63}")
_SIGN_PREFIX: Final = domain_prefix("phrchain/tx/sign/v1")
_ENVELOPE_KEYS: Final = frozenset({"chain_id", "msgs", "nonce", "sig", "signer", "v"})

Msg = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Tx:
    """A decoded, structurally valid transaction (its signature is not yet verified)."""

    chain_id: str
    signer: str
    nonce: int
    msgs: tuple[Msg, ...]
    sig: bytes
    raw: bytes
    hash: bytes

    def sign_bytes(self) -> bytes:
        return sign_bytes(self.chain_id, self.signer, self.nonce, self.msgs)


def _unsigned(chain_id: str, signer: str, nonce: int, msgs: Sequence[Msg]) -> dict[str, Any]:
    return {"chain_id": chain_id, "msgs": list(msgs), "nonce": nonce, "signer": signer,
            "v": TX_VERSION}


def sign_bytes(chain_id: str, signer: str, nonce: int, msgs: Sequence[Msg]) -> bytes:
    """The exact bytes an Ed25519 tx signature covers."""
    return _SIGN_PREFIX + encoding.encode_trusted(_unsigned(chain_id, signer, nonce, msgs))


def build_tx(key: keys.SigningKey, chain_id: str, nonce: int, msgs: Sequence[Msg],
             signer: str | None = None) -> bytes:
    """Sign and encode a tx. ``signer`` defaults to the key's own did:key (it differs
    only after a key rotation, when the identity keeps its original DID)."""
    signer = signer or key.did
    body = _unsigned(chain_id, signer, nonce, msgs)
    unsigned = encoding.encode(body)
    body["sig"] = key.sign(_SIGN_PREFIX + unsigned).hex()
    raw = encoding.encode_trusted(body)
    decode_tx(raw)  # never hand out bytes that the chain would refuse as malformed
    return raw


def tx_hash(raw: bytes) -> bytes:
    return sha256(raw)


def decode_tx(raw: bytes) -> Tx:
    """Decode wire bytes into a :class:`Tx`, checking every stateless rule but the
    signature. Raises :class:`~phrchain.core.errors.TxError` with a stable code."""
    if len(raw) > MAX_TX_BYTES:
        raise TX_TOO_LARGE(f"{len(raw)} bytes > {MAX_TX_BYTES}")
    try:
        env = encoding.decode(raw)
    except EncodingError as exc:
        raise MALFORMED_TX(str(exc)) from None
    if not isinstance(env, dict) or env.keys() != _ENVELOPE_KEYS:
        if isinstance(env, dict) and "v" in env and env["v"] != TX_VERSION:
            raise UNSUPPORTED_VERSION(f"v={env['v']!r}")
        raise MALFORMED_TX(f"envelope must have exactly the fields {sorted(_ENVELOPE_KEYS)}")
    if env["v"] != TX_VERSION or type(env["v"]) is not int:
        raise UNSUPPORTED_VERSION(f"v={env['v']!r}")
    chain_id, signer, nonce, msgs = env["chain_id"], env["signer"], env["nonce"], env["msgs"]
    if not isinstance(chain_id, str) or CHAIN_ID_RE.fullmatch(chain_id) is None:
        raise MALFORMED_TX("chain_id is not a valid chain id")
    if not isinstance(signer, str) or not signer.startswith(keys.DID_KEY_PREFIX):
        raise MALFORMED_TX("signer must be a did:key")
    if type(nonce) is not int or not 1 <= nonce <= MAX_NONCE:
        raise MALFORMED_TX("nonce must be a positive integer")
    if not isinstance(msgs, list) or not msgs:
        raise MALFORMED_TX("msgs must be a non-empty list")
    if len(msgs) > MAX_MSGS:
        raise TOO_MANY_MESSAGES(f"{len(msgs)} > {MAX_MSGS}")
    for msg in msgs:
        if not isinstance(msg, dict) or not isinstance(msg.get("type"), str) \
                or MSG_TYPE_RE.fullmatch(msg["type"]) is None:
            raise MALFORMED_TX("every message needs a 'type' of the form module/name")
    try:
        sig = encoding.hex_bytes(env["sig"], 64, "sig")
    except EncodingError as exc:
        raise MALFORMED_TX(str(exc)) from None
    return Tx(chain_id, signer, nonce, tuple(msgs), sig, raw, sha256(raw))
