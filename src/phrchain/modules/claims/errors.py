"""Stable error codes of the claims module (codespace ``claims``). Never renumber.

These reject a transaction (nothing changes). An adjudication outcome — a denial for
fraud, coverage or limits — is not an error: it is stored with the claim as reason codes
(``reasons.py``)."""

from phrchain.core.errors import register

UNAUTHORIZED = register("claims", 1, "unauthorized", "signer may not do this")
INVALID_FIELD = register("claims", 2, "invalid_field", "message field is invalid")
ALREADY_EXISTS = register("claims", 3, "already_exists",
                          "a claim (or consent) with this id exists")
NOT_FOUND = register("claims", 4, "not_found", "no claim with this id")
UNKNOWN_PRODUCT = register("claims", 5, "unknown_product",
                           "no such product of an active insurer")
STALE_PRODUCT = register("claims", 6, "stale_product",
                         "the product has a newer version than the one named")
ALREADY_ENROLLED = register("claims", 7, "already_enrolled",
                            "the patient already has an active enrolment in this product")
NOT_ENROLLED = register("claims", 8, "not_enrolled",
                        "the patient has no active enrolment in this product")
BAD_PERIOD = register("claims", 9, "bad_period",
                      "the enrolment period is empty, backdated or longer than the product "
                      "allows")
BILL_NOT_YOURS = register("claims", 10, "bill_not_yours",
                          "the bill does not exist or is not the signer's")
BILL_UNPAID = register("claims", 11, "bill_unpaid", "the bill must be paid before it is claimed")
CURRENCY_MISMATCH = register("claims", 12, "currency_mismatch",
                             "the bill's currency is not the product's")
NOT_YOUR_RECORD = register("claims", 13, "not_your_record",
                           "a named record belongs to another patient")
AMOUNT_MISMATCH = register("claims", 14, "amount_mismatch",
                           "the claimed amount is not the sum of the line amounts")
NOT_REFERRED = register("claims", 15, "not_referred", "the claim is not awaiting review")
DEADLINE_PASSED = register("claims", 16, "deadline_passed", "the review deadline has passed")
DEADLINE_NOT_PASSED = register("claims", 17, "deadline_not_passed",
                               "the review deadline has not passed yet")
AMOUNT_OVER_RULES = register("claims", 18, "amount_over_rules",
                             "the amount exceeds what the product's rules pay for this claim")
ALREADY_APPEALED = register("claims", 19, "already_appealed", "a claim is appealed only once")
NOT_APPEALABLE = register("claims", 20, "not_appealable",
                          "only a denied or partially approved claim can be appealed")
APPEAL_WINDOW_CLOSED = register("claims", 21, "appeal_window_closed",
                                "the product's appeal window has closed")
NOTHING_TO_SETTLE = register("claims", 22, "nothing_to_settle",
                             "the claim has no unfunded payment")
STILL_UNFUNDED = register("claims", 23, "still_unfunded",
                          "the insurer's balance still cannot pay the claim")
# Claims over another pseudonym's records (issue 14: README "Pseudonyms and links").
BAD_LINK = register("claims", 24, "bad_link",
                    "the claim's link signature does not verify with the linked pseudonym's "
                    "current signing key")
UNKNOWN_PSEUDONYM = register("claims", 25, "unknown_pseudonym",
                             "the linked pseudonym is not an active patient")
BILL_NOT_LINKED = register("claims", 26, "bill_not_linked",
                           "the bill does not exist or is not the linked pseudonym's")
RECORD_NOT_LINKED = register("claims", 27, "record_not_linked",
                             "a named record is not the linked pseudonym's")
