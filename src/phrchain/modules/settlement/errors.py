"""Stable error codes of the settlement module (codespace ``settlement``). Never renumber."""

from phrchain.core.errors import register

UNAUTHORIZED = register("settlement", 1, "unauthorized", "signer may not do this")
INVALID_FIELD = register("settlement", 2, "invalid_field", "message field is invalid")
INSUFFICIENT_FUNDS = register("settlement", 3, "insufficient_funds",
                              "the balance is too small for this amount")
UNKNOWN_ACCOUNT = register("settlement", 4, "unknown_account",
                           "the account holder is not an active identity")
ALREADY_EXISTS = register("settlement", 5, "already_exists", "a bill with this id exists")
NOT_FOUND = register("settlement", 6, "not_found", "no bill with this id")
NOT_OPEN = register("settlement", 7, "not_open", "the bill is already paid")
SUPPLY_LIMIT = register("settlement", 8, "supply_limit",
                        "minting this would exceed the currency's supply limit")
