"""Stable error codes of the governance module (codespace ``governance``). Never renumber.

A proposal refused when it is made fails its tx with one of these codes; a passed
proposal whose execution is refused at the closing block is stored as ``failed`` with
the code (README "Outcomes")."""

from phrchain.core.errors import register

UNAUTHORIZED = register("governance", 1, "unauthorized",
                        "only an active authority proposes and votes")
INVALID_FIELD = register("governance", 2, "invalid_field", "message field is invalid")
NOT_FOUND = register("governance", 3, "not_found", "no proposal with this id")
VOTING_CLOSED = register("governance", 4, "voting_closed",
                         "the proposal's vote has closed")
ALREADY_VOTED = register("governance", 5, "already_voted",
                         "this authority has voted on the proposal already")
INTERESTED_PARTY = register("governance", 6, "interested_party",
                            "an authority may not propose or vote on its own removal")
UNKNOWN_ORGANIZATION = register("governance", 7, "unknown_organization",
                                "not an active, unfrozen organization")
VALIDATOR_EXISTS = register("governance", 8, "validator_exists",
                            "this consensus key is a validator already")
UNKNOWN_VALIDATOR = register("governance", 9, "unknown_validator",
                             "this consensus key is not a validator")
TOO_FEW_VALIDATORS = register("governance", 10, "too_few_validators",
                              "the change would leave fewer validators than the minimum")
POWER_CONCENTRATION = register("governance", 11, "power_concentration",
                               "the change would give one organization a third or more of "
                               "the voting power")
AUTHORITY_EXISTS = register("governance", 12, "authority_exists",
                            "the DID or its key is already registered")
UNKNOWN_AUTHORITY = register("governance", 13, "unknown_authority",
                             "not an active authority")
TOO_FEW_AUTHORITIES = register("governance", 14, "too_few_authorities",
                               "the council would be left with fewer than two authorities")
BAD_ADMISSION_PROOF = register("governance", 15, "bad_admission_proof",
                               "the admitted key did not sign its admission by the council")
BAD_UPGRADE = register("governance", 16, "bad_upgrade",
                       "the upgrade's version or height does not follow the schedule")
ALREADY_FROZEN = register("governance", 17, "already_frozen", "the organization is frozen")
NOT_FROZEN = register("governance", 18, "not_frozen", "the organization is not frozen")
TOO_MANY_PROPOSALS = register("governance", 19, "too_many_proposals",
                              "the proposer has the maximum number of open proposals")
