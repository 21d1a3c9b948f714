"""The one exception tree: on-chain refusals are TxError, off-chain ones are not."""

from __future__ import annotations

import subprocess
import sys

import pytest

from phrchain.client.errors import LightClientError
from phrchain.client.trialfile import errors as trialfile_errors
from phrchain.client.trialfile.errors import TrialFileError
from phrchain.core import errors
from phrchain.core.errors import REGISTRY, CodedError, PhrError, ProofError, TxError
from phrchain.deid.errors import DeidError
from phrchain.epcis import errors as pharmacy_errors
from phrchain.epcis.errors import PharmacyError
from phrchain.fhir import errors as fhir_errors
from phrchain.fhir.errors import FhirError
from phrchain.genome import errors as genome_errors
from phrchain.genome.errors import GenomeError
from phrchain.vault import errors as vault_errors
from phrchain.vault import gateway_errors
from phrchain.vault.errors import VaultError

# Codespaces whose codes are decided by the state machine and land in block results.
ON_CHAIN = {"tx", "query", "governance", "identity", "records", "consent", "audit",
            "exchange", "settlement", "claims", "supply", "trials", "research"}


def test_calling_a_code_raises_the_error_of_its_codespace() -> None:
    import phrchain.app  # noqa: F401  - registers every module's codes

    for (codespace, _), code in REGISTRY.items():
        exc = code("detail")
        assert isinstance(exc, CodedError) and isinstance(exc, PhrError)
        assert exc.error is code and exc.detail == "detail"
        if codespace == "vault":
            assert type(exc) is VaultError
        elif codespace == "fhir":
            assert type(exc) is FhirError
        elif codespace == "c4gh":
            assert type(exc) is GenomeError
        elif codespace == "trialfile":
            assert type(exc) is TrialFileError and isinstance(exc, ProofError)
        elif codespace in ("fhirapi", "smart"):  # the FHIR REST facade (off chain)
            from phrchain.fhirapi.errors import FhirApiError, SmartError
            assert type(exc) is (FhirApiError if codespace == "fhirapi" else SmartError)
        elif codespace == "lightclient":
            assert type(exc) is LightClientError and isinstance(exc, ProofError)
        elif codespace == "pharmacy":
            assert type(exc) is PharmacyError
        elif codespace == "deid":
            assert type(exc) is DeidError
        else:
            assert codespace in ON_CHAIN, codespace
            assert type(exc) is TxError


def test_off_chain_errors_are_not_consensus_errors() -> None:
    for exc in (vault_errors.HASH_MISMATCH(), gateway_errors.ACCESS_DENIED(),
                fhir_errors.INVALID_RESOURCE(), trialfile_errors.DOCUMENT_MISMATCH(),
                pharmacy_errors.BAD_SCAN(), genome_errors.BAD_PROOF()):
        assert not isinstance(exc, TxError)
        with pytest.raises(CodedError):
            raise exc


def test_gateway_codes_are_vault_errors_in_a_fresh_process() -> None:
    """Importing only the gateway's codes must bind the codespace (no import-order luck)."""
    probe = ("from phrchain.vault.gateway_errors import ACCESS_DENIED; "
             "print(type(ACCESS_DENIED()).__name__)")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "VaultError"


def test_a_codespace_binds_once() -> None:
    with pytest.raises(ValueError, match="already bound"):
        errors.bind_codespace("vault", FhirError)
