"""Stable error codes of the pharmacy's side of dispensing (codespace ``pharmacy``),
raised by the SDK, the web UI and the statutory reports before anything reaches the
chain. Off chain: never a consensus code (TxError). Never renumber."""

from __future__ import annotations

from phrchain.core.errors import CodedError, bind_codespace, register

BAD_SCAN = register("pharmacy", 1, "bad_scan",
                    "the scanned code is not a GS1 element string with (01) GTIN, (17) "
                    "expiry, (10) lot and (21) serial")
UNKNOWN_PRESCRIPTION = register("pharmacy", 2, "unknown_prescription",
                                "this pharmacy holds no prescription with this record id")
PRESCRIPTION_NOT_ACTIVE = register("pharmacy", 3, "prescription_not_active",
                                   "the prescription record is not an active record on "
                                   "chain")
NO_MONITORING_KEY = register("pharmacy", 4, "no_monitoring_key",
                             "this wallet has no monitoring key or tag configured")
BAD_ADMINISTRATION = register("pharmacy", 5, "bad_administration",
                              "an administration entry names no pack this pharmacy "
                              "dispensed, or gives more than the pack holds")


class PharmacyError(CodedError):
    """A pharmacy-side refusal; ``.error`` is one of the codes above."""


bind_codespace("pharmacy", PharmacyError)
