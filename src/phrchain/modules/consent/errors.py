"""Stable error codes of the consent module (codespace ``consent``). Never renumber."""

from phrchain.core.errors import register

UNAUTHORIZED = register("consent", 1, "unauthorized", "only the patient may do this")
INVALID_FIELD = register("consent", 2, "invalid_field", "message field is invalid")
ALREADY_EXISTS = register("consent", 3, "already_exists", "a consent with this id exists")
NOT_FOUND = register("consent", 4, "not_found", "no consent with this id")
ALREADY_REVOKED = register("consent", 5, "already_revoked", "the consent is already revoked")
UNKNOWN_GRANTEE = register("consent", 6, "unknown_grantee",
                           "the grantee is not a registered practitioner or organization")
BAD_PERIOD = register("consent", 7, "bad_period",
                      "the period is empty or already over at this block's time")
