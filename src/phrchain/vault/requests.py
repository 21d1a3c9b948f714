"""Signed vault requests: no passwords, no bearer secrets.

A caller signs, with its current Ed25519 identity key, a canonical JSON envelope naming
the vault, itself, the method, path and query, the SHA-256 of the body, a random nonce
and its clock (``docs/records.md`` "Vault requests"). The vault checks every field,
resolves the caller's current key on chain, and refuses a nonce it has seen.

The envelope names the body only by its digest, so a vault checks the headers
(:func:`verify_headers`) before it reads a byte of the body, then hashes the body as it
streams in and compares (:func:`check_body`): an unsigned or forged request costs it no
memory (``docs/records.md`` "Hostile callers").
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core import encoding, keys
from phrchain.core.errors import CryptoError, EncodingError
from phrchain.core.hashing import domain_prefix
from phrchain.vault.gateway_errors import (
    BAD_REQUEST_SIGNATURE,
    BODY_MISMATCH,
    MALFORMED_REQUEST,
    STALE_REQUEST,
    WRONG_VAULT,
)

REQUEST_HEADER: Final = "Phr-Request"
SIGNATURE_HEADER: Final = "Phr-Signature"
MAX_SKEW_MS: Final = 300_000
TAG: Final = "phrchain/vault/request/v1"
_FIELDS: Final = frozenset({"v", "vault", "caller", "method", "path", "query", "body",
                            "nonce", "ts_ms"})


def canonical_query(params: Mapping[str, str]) -> str:
    """The query string as signed: ``k=v`` pairs sorted by key, joined by ``&``."""
    return "&".join(f"{k}={params[k]}" for k in sorted(params))


def sign_request(signer: keys.SigningKey, caller: str, vault: str, method: str, path: str,
                 params: Mapping[str, str], body: bytes, now_ms: int,
                 body_sha256: str | None = None) -> dict[str, str]:
    """The two headers that authenticate one request; ``body_sha256``: the hash of a
    body streamed from elsewhere (``body`` is then ignored)."""
    envelope = {"v": 1, "vault": vault, "caller": caller, "method": method.upper(),
                "path": path, "query": canonical_query(params),
                "body": body_sha256 or hashlib.sha256(body).hexdigest(),
                "nonce": secrets.token_hex(16),
                "ts_ms": now_ms}
    raw = encoding.encode(envelope)
    return {REQUEST_HEADER: base64.urlsafe_b64encode(raw).decode().rstrip("="),
            SIGNATURE_HEADER: signer.sign(domain_prefix(TAG) + raw).hex()}


def request_hash(headers: Mapping[str, str]) -> str:
    """sha256 hex of a request's signed envelope (what its audit entry names)."""
    header = headers[REQUEST_HEADER]
    return hashlib.sha256(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
                          ).hexdigest()


@dataclass(frozen=True, slots=True)
class Verified:
    caller: str
    nonce: str
    ts_ms: int
    request_hash: str  # sha256 of the signed envelope: what the audit entry names
    body_hash: str = ""  # sha256 hex of the body as signed (checked by check_body)
    registered: bool = True  # False: a did:key unknown on chain signed for itself


def _decode_envelope(header: str) -> tuple[bytes, dict[str, Any]]:
    try:
        raw = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        envelope = encoding.decode(raw)
    except (ValueError, EncodingError) as exc:
        raise MALFORMED_REQUEST(f"{REQUEST_HEADER} is not base64url canonical JSON") from exc
    if not isinstance(envelope, dict) or set(envelope) != _FIELDS or envelope["v"] != 1:
        raise MALFORMED_REQUEST(f"{REQUEST_HEADER} must hold exactly {sorted(_FIELDS)}, v=1")
    for name in ("vault", "caller", "method", "path", "query", "body", "nonce"):
        if not isinstance(envelope[name], str):
            raise MALFORMED_REQUEST(f"{name} must be a string")
    if type(envelope["ts_ms"]) is not int:
        raise MALFORMED_REQUEST("ts_ms must be an integer")
    return raw, envelope


def verify_request(headers: Mapping[str, str], *, vault: str, method: str, path: str,
                   params: Mapping[str, str], body_hash: str, now_ms: int,
                   current_key: Callable[[str], bytes | None]) -> Verified:
    """Check one request whose whole body is at hand: :func:`verify_headers`, then
    :func:`check_body` against ``body_hash`` (sha256 hex of the body)."""
    verified = verify_headers(headers, vault=vault, method=method, path=path, params=params,
                              now_ms=now_ms, current_key=current_key)
    check_body(verified, body_hash)
    return verified


def verify_headers(headers: Mapping[str, str], *, vault: str, method: str, path: str,
                   params: Mapping[str, str], now_ms: int,
                   current_key: Callable[[str], bytes | None]) -> Verified:
    """Check a request's signed headers, before any of its body is read; ``current_key(did)``
    is the DID's signing key on chain now (None if it is not registered: then the did:key's
    own key must have signed, and ``registered`` is False). The body must then match
    ``body_hash`` (:func:`check_body`)."""
    header, signature = headers.get(REQUEST_HEADER), headers.get(SIGNATURE_HEADER)
    if not header or not signature:
        raise BAD_REQUEST_SIGNATURE(f"missing {REQUEST_HEADER} or {SIGNATURE_HEADER}")
    raw, env = _decode_envelope(header)
    if env["vault"] != vault:
        raise WRONG_VAULT(f"signed for {env['vault']}")
    if (env["method"], env["path"], env["query"]) != (method.upper(), path,
                                                      canonical_query(params)):
        raise BAD_REQUEST_SIGNATURE("the signed method, path or query differ from the request")
    if abs(env["ts_ms"] - now_ms) > MAX_SKEW_MS:
        raise STALE_REQUEST(f"{abs(env['ts_ms'] - now_ms)} ms from the vault's clock")
    try:
        key = current_key(env["caller"])
        registered = key is not None
        if key is None:  # an unregistered did:key may ask (and will be denied)
            key = keys.public_key_from_did(env["caller"])
        keys.verify(key, bytes.fromhex(signature), domain_prefix(TAG) + raw)
    except (CryptoError, ValueError) as exc:
        raise BAD_REQUEST_SIGNATURE(str(exc)) from None
    return Verified(env["caller"], env["nonce"], env["ts_ms"],
                    hashlib.sha256(raw).hexdigest(), env["body"], registered)


def check_body(verified: Verified, body_hash: str) -> None:
    """The body read (``body_hash``, sha256 hex) is the one the caller signed."""
    if verified.body_hash != body_hash:
        raise BODY_MISMATCH("sha256 of the body differs from the signed one")
