"""Stable error codes of trial proof files and trial documents (codespace ``trialfile``,
off chain). Never renumber.

::

    PhrError
    ├── ProofError
    └── CodedError
        └── TrialFileError     (also a ProofError) every refusal of an audit proof file
                               (``audit.py``) or of a trial document fetched from the
                               sponsor's vault (``documents.py``)

Off chain: a reader's refusal, never a consensus code (TxError). Messages name keys,
heights and commitments, never a document's bytes.
"""

from __future__ import annotations

from phrchain.core.errors import CodedError, ProofError, bind_codespace, register


class TrialFileError(CodedError, ProofError):
    """A trial proof file or trial document that does not verify."""


bind_codespace("trialfile", TrialFileError)

MALFORMED = register("trialfile", 1, "malformed",
                     "the file is not a trial audit proof file in canonical form")
BAD_SEAL = register("trialfile", 2, "bad_seal",
                    "the exporter's signature over the whole file does not verify")
UNTRUSTED_HEADER = register("trialfile", 3, "untrusted_header",
                            "the file's header is not signed by the trusted validators")
BAD_PROOF = register("trialfile", 4, "bad_proof",
                     "a state entry's proof does not lead to the verified header's app hash")
FOREIGN_ENTRY = register("trialfile", 5, "foreign_entry",
                         "an entry is not one of this trial's state keys, or the trial's "
                         "head is missing")
WRONG_TRUST = register("trialfile", 6, "wrong_trust",
                       "the trust root given does not fit the file's engine (a solo "
                       "validator DID, or a CometBFT validator set)")
NOT_COMMITTED = register("trialfile", 7, "not_committed",
                         "the document's commitment is not on chain for this trial")
DOCUMENT_MISMATCH = register("trialfile", 8, "document_mismatch",
                             "the document does not open or does not match its on-chain "
                             "commitment")
INCOMPLETE = register("trialfile", 9, "incomplete",
                      "the file lacks a state entry that the trial's own proven state "
                      "implies (a version, participant, consent, entry index, "
                      "commitment, site, result or label)")

__all__ = [
    "BAD_PROOF",
    "BAD_SEAL",
    "DOCUMENT_MISMATCH",
    "FOREIGN_ENTRY",
    "INCOMPLETE",
    "MALFORMED",
    "NOT_COMMITTED",
    "UNTRUSTED_HEADER",
    "WRONG_TRUST",
    "TrialFileError",
]
