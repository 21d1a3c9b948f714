"""Stable error codes of the audit module (codespace ``audit``). Never renumber."""

from phrchain.core.errors import register

UNAUTHORIZED = register("audit", 1, "unauthorized",
                        "only an organization whose vault holds the record appends its audit")
INVALID_FIELD = register("audit", 2, "invalid_field", "audit entry field is invalid")
UNKNOWN_RECORD = register("audit", 3, "unknown_record", "no record with this id")
INCONSISTENT = register("audit", 4, "inconsistent_entry",
                        "decision, reason, consent and break-glass flag disagree")
FUTURE_HEIGHT = register("audit", 5, "future_height",
                         "an entry claims a decision at a height not yet committed")
