"""Stable error codes of the trials module (codespace ``trials``). Never renumber.

These reject a transaction (nothing changes). A results classification — an outcome not
reported, added silently, switched — is not an error: it is stored as labels
(``outcomes.py``)."""

from phrchain.core.errors import register

UNAUTHORIZED = register("trials", 1, "unauthorized", "signer may not do this")
INVALID_FIELD = register("trials", 2, "invalid_field", "message field is invalid")
ALREADY_EXISTS = register("trials", 3, "already_exists",
                          "a trial, entry or participant with this id exists")
NOT_REGISTERED = register("trials", 4, "not_registered", "no trial with this id is registered")
BACKDATED = register("trials", 5, "backdated",
                     "the trial's start date is before the block time of its registration")
NOT_STARTED = register("trials", 6, "not_started",
                       "the trial's registered start date has not come yet")
STALE_VERSION = register("trials", 7, "stale_version",
                         "the version named is not the trial's current protocol version")
PROTOCOL_MISMATCH = register("trials", 8, "protocol_mismatch",
                             "the protocol commitment named is not the version's")
MISSING_COMMITMENT = register("trials", 9, "missing_commitment",
                              "the statistical analysis plan or randomisation list is not "
                              "committed yet")
LOCKED = register("trials", 10, "locked", "the trial's database is locked")
NOT_PARTICIPANT = register("trials", 11, "not_participant",
                           "the pseudonym is not a participant of this trial")
WITHDRAWN = register("trials", 12, "withdrawn", "the participant has withdrawn")
RECONSENT_REQUIRED = register("trials", 13, "reconsent_required",
                              "an amendment needs this participant's re-consent first")
NOT_INVESTIGATOR = register("trials", 14, "not_investigator",
                            "the signer is not an investigator of a site of this trial")
WRONG_SITE = register("trials", 15, "wrong_site",
                      "the participant is enrolled at another site")
NOT_LOCKED = register("trials", 16, "not_locked", "the trial's database is not locked yet")
NO_BASELINE = register("trials", 17, "no_baseline",
                       "no participant was enrolled, so no version is the pre-specified "
                       "baseline")
ALREADY_REPORTED = register("trials", 18, "already_reported",
                            "the trial's results are already reported")
UNKNOWN_ENTRY = register("trials", 19, "unknown_entry",
                         "no such case-report entry of this trial and participant")
TOO_LATE = register("trials", 20, "too_late",
                    "this commitment can no longer change (enrolment or unblinding began)")
NOT_ENABLED = register("trials", 21, "not_enabled",
                       "the chain's genesis set no trials parameters")
OVER_LIMIT = register("trials", 22, "over_limit",
                      "more sites, arms, outcomes or versions than the chain's parameters "
                      "allow")
BAD_DATE = register("trials", 23, "bad_date",
                    "the start date is further ahead than the chain's parameters allow")
PSEUDONYM_REUSED = register("trials", 24, "pseudonym_reused",
                            "this pseudonym is already a participant of another trial")
UNKNOWN_SITE = register("trials", 25, "unknown_site",
                        "a site is not an active hospital, clinic or research institute")
STALE_BASE = register("trials", 26, "stale_base",
                      "the amendment is not based on the trial's current version")
