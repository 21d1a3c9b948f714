"""Stable error codes of the vault gateway (codespace ``vault``, codes 20-39).

They live in the vault library, not in :mod:`phrchain.gateway`, because the request
protocol the SDK shares (:mod:`phrchain.vault.requests`, :mod:`phrchain.vault.wire`)
raises them too.

Codes 1-19 belong to ``phrchain.vault.errors`` (encryption and storage). Calling one of
these codes raises a :class:`~phrchain.vault.errors.VaultError` (off chain), which is why
that module is imported here: it binds the codespace."""

from phrchain.core.errors import register
from phrchain.vault.errors import VaultError

__all__ = ["VaultError"]  # re-exported: what these codes raise

BAD_REQUEST_SIGNATURE = register("vault", 20, "bad_request_signature",
                                 "the vault request is not signed by the caller's current key")
STALE_REQUEST = register("vault", 21, "stale_request",
                         "the vault request's timestamp is outside the accepted window")
REPLAYED_REQUEST = register("vault", 22, "replayed_request",
                            "the vault request's nonce was already used")
WRONG_VAULT = register("vault", 23, "wrong_vault", "the vault request names another vault")
BODY_MISMATCH = register("vault", 24, "body_mismatch",
                         "the request body does not match its signed hash")
MALFORMED_REQUEST = register("vault", 25, "malformed_request",
                             "the vault request headers or parameters are malformed")
ACCESS_DENIED = register("vault", 26, "access_denied",
                         "the patient's consents do not permit this access")
ERASED = register("vault", 27, "erased", "the record was erased")
UNKNOWN_RECORD = register("vault", 28, "unknown_record",
                          "this vault holds no such record")
NOT_REGISTERED = register("vault", 29, "not_registered",
                          "the record is not registered on chain as uploaded")
UPLOAD_REFUSED = register("vault", 30, "upload_refused",
                          "the caller may not place this record in this vault")
NO_KEY_FOR_CALLER = register("vault", 31, "no_key_for_caller",
                             "access is permitted but no data key is wrapped for the caller "
                             "yet: the patient must share it")
BAD_TICKET = register("vault", 32, "bad_ticket",
                      "the chunk ticket is unknown, expired or for another caller")
TOO_LARGE = register("vault", 33, "too_large", "the request body exceeds the vault's limit")
RATE_LIMITED = register("vault", 34, "rate_limited",
                        "too many requests from this caller: slow down")
CHAIN_UNAVAILABLE = register("vault", 35, "chain_unavailable",
                             "the vault cannot reach its node to decide: try again")
JUSTIFICATION_REQUIRED = register(
    "vault", 36, "justification_required",
    "a break-glass request must carry the commitment to its reason (64 hex), and only a "
    "break-glass request carries one")
UPLOADS_BUSY = register("vault", 37, "uploads_busy",
                        "the vault is receiving as many large uploads as it takes at once: "
                        "try again shortly")

INTERNAL_ERROR = register("vault", 38, "internal_error",
                           "the vault failed unexpectedly; see its log")
