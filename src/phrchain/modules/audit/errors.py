"""Stable error codes of the audit module (codespace ``audit``). Never renumber.

Codes 3, 4 and 5 checked fields that v2 chains seal (the record, the consistency of the
decision, the decision height): they are never raised on a v2 chain, the reader checks
them when it opens an entry (``vault/audit_seal.py``). They stay registered so their
numbers are never reused.
"""

from phrchain.core.errors import register

UNAUTHORIZED = register("audit", 1, "unauthorized",
                        "only an active organization holding a record of the patient "
                        "appends to the patient's log")
INVALID_FIELD = register("audit", 2, "invalid_field", "audit entry field is invalid")
UNKNOWN_RECORD = register("audit", 3, "unknown_record", "no record with this id")
INCONSISTENT = register("audit", 4, "inconsistent_entry",
                        "decision, reason, consent and break-glass flag disagree")
FUTURE_HEIGHT = register("audit", 5, "future_height",
                         "an entry claims a decision at a height not yet committed")
MISSING_READER = register("audit", 6, "missing_reader",
                          "a sealed entry must be readable by its patient and by the "
                          "organization appending it")
