"""The UI backend's errors, in the node API's shape
``{"error": {"codespace", "code", "name", "message"}}``.

Exception tree::

    UiError                 codespace "ui" (below), with its HTTP status
    (from the SDK)
    ApiError                the node's or a vault's refusal, passed through as is
    ProofError/CryptoError  an answer did not verify        -> ui/9
    PhrError                anything else the SDK refused   -> ui/1

Codes of codespace ``ui`` are this UI's own, stable, and not consensus codes.
"""

from __future__ import annotations

from typing import Final

from phrchain.core.errors import ErrorCode

BAD_REQUEST: Final = ErrorCode("ui", 1, "bad_request", "request is malformed")
NOT_LOGGED_IN: Final = ErrorCode("ui", 2, "not_logged_in",
                                 "no session, or it expired: log in again")
WRONG_PASSPHRASE: Final = ErrorCode("ui", 3, "wrong_passphrase",
                                    "wrong passphrase or corrupted wallet")
CSRF: Final = ErrorCode("ui", 4, "csrf", "missing or wrong CSRF token, or a foreign origin")
BAD_HOST: Final = ErrorCode("ui", 5, "bad_host",
                            "the UI answers only loopback requests to its own address")
NOT_FOUND: Final = ErrorCode("ui", 6, "not_found", "no such resource")
NOT_PERMITTED: Final = ErrorCode("ui", 7, "not_permitted",
                                 "this identity has no such capability")
UNAVAILABLE: Final = ErrorCode("ui", 8, "unavailable", "not available in this build")
NOT_VERIFIED: Final = ErrorCode("ui", 9, "not_verified",
                                "the node's answer did not verify against the trust anchor")
INTERNAL: Final = ErrorCode("ui", 10, "internal_error", "the UI backend failed; see its log")
UNREACHABLE: Final = ErrorCode("ui", 11, "unreachable", "the node or a vault cannot be reached")


class UiError(Exception):
    def __init__(self, status: int, error: ErrorCode, detail: str = "") -> None:
        super().__init__(detail or error.message)
        self.status, self.error, self.detail = status, error, detail

    @property
    def message(self) -> str:
        return self.error.message + (f": {self.detail}" if self.detail else "")
