"""The in-process chain harness of the unit tests: the one shipped as
:mod:`phrchain.testing`, re-exported under the names the tests have always used."""

from phrchain.testing import (
    AUTHORITY,
    CHAIN_ID,
    VALIDATOR,
    Chain,
    admit_org_msg,
    admit_practitioner_msg,
    enc_key,
    genesis,
    pop,
    signing_key,
    tx_state,
)

__all__ = ["AUTHORITY", "CHAIN_ID", "VALIDATOR", "Chain", "admit_org_msg",
           "admit_practitioner_msg", "enc_key", "genesis", "pop", "signing_key", "tx_state"]
