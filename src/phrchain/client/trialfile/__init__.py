"""Off-chain checks of clinical-trial evidence (issue 16): the regulator's offline proof
file (``audit.py``) and the trial documents kept encrypted in the sponsor's vault
(``documents.py``); their refusals are the ``trialfile`` codes (``errors.py``)."""

from phrchain.client.trialfile.audit import (
           AUDIT_FORMAT,
           export_audit,
           trust_from_json,
           verify_audit,
)
from phrchain.client.trialfile.errors import TrialFileError

__all__ = ["AUDIT_FORMAT", "TrialFileError", "export_audit", "trust_from_json",
           "verify_audit"]
