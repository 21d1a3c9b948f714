"""Stable error codes of the identity module (codespace ``identity``). Never renumber."""

from phrchain.core.errors import register

UNAUTHORIZED = register("identity", 1, "unauthorized",
                        "signer's role does not allow this action")
ALREADY_REGISTERED = register("identity", 2, "already_registered",
                              "an identity with this DID already exists")
NOT_FOUND = register("identity", 3, "not_found", "no identity with this DID")
INVALID_KEY = register("identity", 4, "invalid_key", "public key is malformed or unsafe")
KEY_IN_USE = register("identity", 5, "key_in_use",
                      "key is already bound to an identity or was revoked")
INVALID_FIELD = register("identity", 6, "invalid_field", "message field is invalid")
ALREADY_REVOKED = register("identity", 7, "already_revoked", "identity is already revoked")
BAD_ROTATION_PROOF = register("identity", 8, "bad_rotation_proof",
                              "new key did not sign the rotation")
BAD_ADMISSION_PROOF = register("identity", 9, "bad_admission_proof",
                               "the admitted key did not sign its admission")
LAST_AUTHORITY = register("identity", 10, "last_authority",
                          "the last active authority cannot revoke itself")
ROLE_NOT_ALLOWED = register("identity", 11, "role_not_allowed",
                            "role is not allowed for the organization's type")
FROZEN = register("identity", 12, "frozen",
                  "the organization is frozen by a consortium governance decision")
