"""Stable error codes of the research module (codespace ``research``, codes 1-40).
Never renumber.

These reject a transaction (nothing changes). A donor whose terms do not permit a
request is not an error: it is an ``excluded`` outcome stored with its reason
(``duo.py``)."""

from phrchain.core.errors import register

UNAUTHORIZED = register("research", 1, "unauthorized", "signer may not do this")
INVALID_FIELD = register("research", 2, "invalid_field", "message field is invalid")
NOT_ENABLED = register("research", 3, "not_enabled",
                       "the chain's genesis set no research parameters")
ALREADY_EXISTS = register("research", 4, "already_exists",
                          "a study, request or dataset with this id exists")
UNKNOWN_TERM = register("research", 5, "unknown_term",
                        "a DUO code or disease is not in the chain's pinned terms table")
NO_DONATION = register("research", 6, "no_donation", "the signer has no active donation")
NOT_OWNER = register("research", 7, "not_owner",
                     "a record in the scope is not an active record of the donor")
UNKNOWN_STUDY = register("research", 8, "unknown_study", "no study with this id")
BAD_APPROVAL = register("research", 9, "bad_approval",
                        "an approver is not eligible or its signature does not verify")
UNKNOWN_REQUEST = register("research", 10, "unknown_request", "no data request with this id")
MATCH_DONE = register("research", 11, "match_done",
                      "every donor has been matched against this request already")
MATCH_PENDING = register("research", 12, "match_pending",
                         "the request has not been matched against every donor yet")
BAD_LEAF = register("research", 13, "bad_leaf",
                    "a dataset leaf names a record that may not be released")
ROOT_MISMATCH = register("research", 14, "root_mismatch",
                         "leaves_root is not the RFC 9162 root of the leaves")
BELOW_THRESHOLD = register("research", 15, "below_threshold",
                           "k or l is below what the study and the chain require")
OVER_LIMIT = register("research", 16, "over_limit",
                      "more leaves, modifiers or items than the chain's parameters allow")
UNKNOWN_DATASET = register("research", 17, "unknown_dataset", "no dataset with this id")
KEY_DESTROYED = register("research", 18, "key_destroyed",
                         "the dataset's pseudonymisation key is already recorded destroyed")
BAD_PERIOD = register("research", 19, "bad_period",
                      "the donation period is empty or already over")
