"""Stable error codes of de-identification at the vault (codespace ``deid``, 1-30).
Never renumber.

::

    PhrError
    └── CodedError
        └── DeidError          every refusal of :mod:`phrchain.deid`

Off chain: a de-identification refusal is never a consensus code (TxError). Messages
name paths, rules and counts, never values: a value may be health data.
"""

from __future__ import annotations

from phrchain.core.errors import CodedError, bind_codespace, register

INVALID_CONFIG = register("deid", 1, "invalid_config",
                          "the de-identification configuration is not valid")
INVALID_INPUT = register("deid", 2, "invalid_input",
                         "an input is not a FHIR R4 Bundle or resource list this can read")
BAD_KEY = register("deid", 3, "bad_key",
                   "the pseudonymisation key is missing or not 32 bytes")
BELOW_K = register("deid", 4, "below_k",
                   "k-anonymity over the quasi-identifiers is below the threshold")
BELOW_L = register("deid", 5, "below_l",
                   "l-diversity of the sensitive attribute is below the threshold")
RESIDUAL_IDENTIFIER = register("deid", 6, "residual_identifier",
                               "the output still contains an identifier of the source "
                               "records or an identifier pattern")
NO_PATIENT = register("deid", 7, "no_patient",
                      "an input group has no Patient resource, or more than one")


class DeidError(CodedError):
    """A de-identification run the vault refuses (nothing is written but the report)."""


bind_codespace("deid", DeidError)
