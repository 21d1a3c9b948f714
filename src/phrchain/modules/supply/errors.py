"""Stable reason codes of the supply module (codespace ``supply``). Never renumber.

Where it fits, a code borrows the meaning of the European medicines verification
system's alert catalogue (unknown serial, lot or expiry mismatch, already in that
state, status change not allowed, recalled, expired); the README lists each."""

from phrchain.core.errors import register

UNAUTHORIZED = register("supply", 1, "unauthorized", "signer may not do this")
INVALID_FIELD = register("supply", 2, "invalid_field", "message field is invalid")
NOT_ADMITTED = register("supply", 3, "not_admitted",
                        "the party is not an admitted organization of a type allowed here")
PRODUCT_EXISTS = register("supply", 4, "product_exists", "this GTIN is already registered")
UNKNOWN_PRODUCT = register("supply", 5, "unknown_product", "no product with this GTIN")
UNKNOWN_SERIAL = register("supply", 6, "unknown_serial",
                          "no unit with this serial was commissioned (counterfeit signal)")
LOT_MISMATCH = register("supply", 7, "lot_mismatch",
                        "the scanned lot is not the lot the unit was commissioned in")
EXPIRY_MISMATCH = register("supply", 8, "expiry_mismatch",
                           "the scanned expiry is not the unit's commissioned expiry")
ALREADY_DISPENSED = register("supply", 9, "already_dispensed",
                             "the unit was already dispensed")
ALREADY_IN_STATE = register("supply", 10, "already_in_state",
                            "the unit is already in the requested state")
STATUS_NOT_ALLOWED = register("supply", 11, "status_not_allowed",
                              "the unit's status does not allow this step")
NOT_CUSTODIAN = register("supply", 12, "not_custodian",
                         "the signer's organization is not the unit's current custodian")
RECALLED = register("supply", 13, "recalled", "the unit's lot is recalled")
EXPIRED = register("supply", 14, "expired", "the unit is past its expiry date")
RECEIVER_NOT_ALLOWED = register("supply", 15, "receiver_not_allowed",
                                "the receiver is not an admitted trading partner of a type "
                                "allowed to hold this product class")
QUANTITY_MISMATCH = register("supply", 16, "quantity_mismatch",
                             "the quantity does not match the shipment or prescription")
UNIT_EXISTS = register("supply", 17, "unit_exists", "a unit with this serial exists")
REVERSAL_WINDOW_PASSED = register("supply", 18, "reversal_window_passed",
                                  "the decommissioning is older than the reversal window")
NOT_REVERSIBLE = register("supply", 19, "not_reversible",
                          "this decommissioning may not be reversed")
UNKNOWN_CASE = register("supply", 20, "unknown_case", "no case with this SSCC")
IN_CASE = register("supply", 21, "in_case",
                   "the unit is packed in a case: unpack it or ship the case")
UNKNOWN_SHIPMENT = register("supply", 22, "unknown_shipment", "no shipment with this id")
SHIPMENT_EXISTS = register("supply", 23, "shipment_exists", "a shipment with this id exists")
RX_MISMATCH = register("supply", 24, "rx_mismatch",
                       "the prescription commitment or prescriber differs from its first fill")
RX_EXHAUSTED = register("supply", 25, "rx_exhausted",
                        "the prescription's quantity or refills are used up")
PRESCRIBER_NOT_ALLOWED = register("supply", 26, "prescriber_not_allowed",
                                  "the prescriber may not prescribe this product class")
STEWARDSHIP_REQUIRED = register("supply", 27, "stewardship_required",
                                "a Reserve antibiotic needs a stewardship justification code")
NO_PARAMS = register("supply", 28, "no_params",
                     "the chain has no supply parameters yet (genesis or governance)")
DUPLICATE_EVENT = register("supply", 29, "duplicate_event",
                           "an event with this event hash id is already recorded")
UNKNOWN_EVENT = register("supply", 30, "unknown_event", "no event with this event hash id")
UNKNOWN_ALERT = register("supply", 31, "unknown_alert", "no alert with this id")
ALERT_CLOSED = register("supply", 32, "alert_closed", "the alert is already closed")
DISPENSE_EXISTS = register("supply", 33, "dispense_exists", "a dispense with this id exists")
UNKNOWN_RX = register("supply", 34, "unknown_rx",
                      "no prescription is registered under this tag: the prescriber "
                      "registers it (supply/prescribe) before it is dispensed")
RX_EXISTS = register("supply", 35, "rx_exists",
                     "a prescription is already registered under this tag")
RX_NOT_ACTIVE = register("supply", 36, "rx_not_active",
                         "the prescription was cancelled by its prescriber")
RX_EXPIRED = register("supply", 37, "rx_expired",
                      "the prescription is past the days it is valid for")
TOO_DEEP = register("supply", 38, "too_deep",
                    "aggregation is at most a unit in a case in a pallet: a case that "
                    "holds cases is not packed into another")
