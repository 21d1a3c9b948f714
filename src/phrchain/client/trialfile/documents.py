"""Trial documents kept encrypted in the sponsor's vault (issue 16, "commitments before
use"): the protocol of each version, the statistical analysis plan (``sap``) and the
randomisation list, whose salted hashes the chain holds (``trials/register``,
``trials/amend``, ``trials/commit``).

- The sponsor (or its researchers) **stores** a document after committing it: the
  plaintext sealed is ``salt (16 bytes) || document`` (the salt that opens the on-chain
  commitment travels inside the ciphertext), encrypted as a vault record
  (``vault/crypto.py``: AES-256-GCM chunks, RFC 9162 root) whose "patient" field, the
  owner bound into every chunk's AAD, is the sponsor; its data key is wrapped for the
  sponsor and the readers named. The record id is :func:`document_id` (trial, kind,
  commitment), so a document cannot be served under another's id.
- A reader **fetches** it: a regulator (a regulator organization or its auditor), the
  sponsor and its researchers, or a reader the sponsor shared it with (:meth:`share`).
  The SDK checks, before returning a byte, that the commitment is on chain for this trial
  and kind, that the ciphertext opens (root, AEAD, vault commitment) and that
  ``SHA-256(tag || salt || document)`` is that on-chain commitment: otherwise
  ``trialfile/7 not_committed`` or ``trialfile/8 document_mismatch``.

Routes: ``gateway/trial_documents.py``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any, Final

from phrchain.client.trialfile import errors as e
from phrchain.core import encoding
from phrchain.core.hashing import domain_prefix
from phrchain.vault import crypto
from phrchain.vault.errors import VaultError

KINDS: Final = ("protocol", "sap", "randomisation")
_DOCUMENT_ID: Final = domain_prefix("phrchain/trials/document/v1")
SALT_SIZE: Final = 16

__all__ = ["KINDS", "TrialDocuments", "document_id", "on_chain"]


def document_id(trial: str, kind: str, commitment: str) -> bytes:
    """The vault record id of a trial document: the first 16 bytes of
    ``SHA-256(tag || canonical({commitment, kind, trial}))``."""
    return hashlib.sha256(_DOCUMENT_ID + encoding.encode(
        {"commitment": commitment, "kind": kind, "trial": trial})).digest()[:16]


def on_chain(query: Any, trial: str, kind: str) -> list[str]:
    """The commitments of ``kind`` the chain holds for ``trial`` (for ``protocol``: each
    version's; else each ``trials/commit``), oldest first; ``query(path, data)`` answers
    a chain query's value."""
    head = query("trials/trial", {"trial": trial})
    if head is None:
        return []
    if kind == "protocol":
        return [str(query("trials/version", {"trial": trial, "version": str(v)})["protocol"])
                for v in range(1, int(head["version"]) + 1)]
    found = query("trials/commitments", {"trial": trial, "kind": kind})
    return [str(c["commitment"]) for c in found["commitments"]]


class TrialDocuments:
    """Store, share and fetch trial documents through the sponsor's vault."""

    def __init__(self, session: Any) -> None:
        self.session = session

    def _query(self, path: str, data: dict[str, str]) -> Any:
        return self.session.q(path, **data)

    def _sponsor(self, trial: str) -> str:
        head = self._query("trials/trial", {"trial": trial})
        if head is None:
            raise e.NOT_COMMITTED(f"no trial {trial} is registered")
        return str(head["sponsor"])

    def _check_on_chain(self, trial: str, kind: str, commitment: str) -> None:
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}")
        if commitment not in on_chain(self._query, trial, kind):
            raise e.NOT_COMMITTED(f"{kind} {commitment} of trial {trial}")

    def store(self, trial: str, kind: str, document: bytes, salt: bytes,
              readers: Iterable[str] = ()) -> str:
        """Encrypt ``document`` (committed on chain with ``salt``) into the sponsor's
        vault, readable by the sponsor and ``readers``; returns its commitment."""
        from phrchain.client.trials import commitment as commit_to

        committed = commit_to(document, salt)
        self._check_on_chain(trial, kind, committed)
        sponsor = self._sponsor(trial)
        record = document_id(trial, kind, committed)
        sealed = crypto.seal(record, sponsor, salt + document)
        wrapped = self.session.wrap_for(sealed.data_key, record, {sponsor, *readers})
        self.session.vault(sponsor).trial_document_upload(
            trial, kind, committed, sealed.meta, wrapped, sealed.chunks)
        return committed

    def share(self, trial: str, kind: str, commitment: str, reader: str) -> None:
        """Let ``reader`` read a document (its data key wrapped for the reader's
        registered encryption key): by the sponsor or its researchers."""
        data_key, _ = self._open_key(trial, kind, commitment)
        record = document_id(trial, kind, commitment)
        wrapped = self.session.wrap_for(data_key, record, [reader])[reader]
        self.session.vault(self._sponsor(trial)).trial_document_share(
            trial, kind, commitment, reader, wrapped)

    def _open_key(self, trial: str, kind: str, commitment: str
                  ) -> tuple[bytes, dict[str, Any]]:
        self._check_on_chain(trial, kind, commitment)
        answer = self.session.vault(self._sponsor(trial)).trial_document(
            trial, kind, commitment)
        record = document_id(trial, kind, commitment)
        if answer["meta"]["record"] != record.hex():
            raise e.DOCUMENT_MISMATCH("the vault answered with another record")
        try:
            return self.session.unwrap(record.hex(), answer["wrapped_key"]), answer
        except VaultError as exc:
            raise e.DOCUMENT_MISMATCH(f"the data key does not open ({exc.error.name})") \
                from None

    def fetch(self, trial: str, kind: str, commitment: str) -> bytes:
        """The document whose salted hash is ``commitment`` on chain, checked (module
        docstring); raises ``trialfile`` codes, or the vault's refusal (``ApiError``)."""
        from phrchain.client.trials import commitment as commit_to

        data_key, answer = self._open_key(trial, kind, commitment)
        record, meta = document_id(trial, kind, commitment), answer["meta"]
        try:
            plain = crypto.open_sealed(
                record, self._sponsor(trial), data_key, [p.data for p in answer["parts"]],
                expected_hash=bytes.fromhex(meta["hash"]),
                expected_commitment=bytes.fromhex(meta["commitment"]))
        except (VaultError, ValueError, TypeError) as exc:
            raise e.DOCUMENT_MISMATCH(f"the ciphertext does not open ({exc})") from None
        salt, document = plain[:SALT_SIZE], plain[SALT_SIZE:]
        if len(salt) != SALT_SIZE or commit_to(document, salt) != commitment:
            raise e.DOCUMENT_MISMATCH(f"{kind} of trial {trial} is not the committed "
                                      f"{commitment}")
        return document
