"""Stable error codes of the exchange module (codespace ``exchange``). Never renumber."""

from phrchain.core.errors import register

UNAUTHORIZED = register("exchange", 1, "unauthorized", "signer may not do this")
INVALID_FIELD = register("exchange", 2, "invalid_field", "message field is invalid")
ALREADY_EXISTS = register("exchange", 3, "already_exists", "a request with this id exists")
NOT_FOUND = register("exchange", 4, "not_found", "no such request or record")
NOT_PENDING = register("exchange", 5, "not_pending", "the request was already answered")
NOT_PERMITTED = register("exchange", 6, "not_permitted",
                         "the patient's consents do not permit this exchange")
NOT_APPROVED = register("exchange", 7, "not_approved", "the request is not approved")
OUT_OF_SCOPE = register("exchange", 8, "out_of_scope",
                        "the record is not within the approved request")
