"""Stable error codes of the records module (codespace ``records``). Never renumber."""

from phrchain.core.errors import register

UNAUTHORIZED = register("records", 1, "unauthorized", "signer may not do this to the record")
INVALID_FIELD = register("records", 2, "invalid_field", "message field is invalid")
ALREADY_EXISTS = register("records", 3, "already_exists", "a record with this id exists")
NOT_FOUND = register("records", 4, "not_found", "no record with this id")
UNKNOWN_PATIENT = register("records", 5, "unknown_patient",
                           "the patient is not an active registered patient")
BAD_CUSTODIAN = register("records", 6, "bad_custodian",
                         "the custodian is not an active organization the signer may use")
NOT_ACTIVE = register("records", 7, "not_active", "the record is erased or superseded")
BAD_SIZE = register("records", 8, "bad_size",
                    "size is not a size bucket (a power of two from 4096 to 2^40)")
ALREADY_HOLDER = register("records", 9, "already_holder",
                        "the organization's vault already holds the record")
