"""Trial documents in the sponsor's vault (issue 16): the protocol of each version, the
statistical analysis plan and the randomisation list, encrypted by the sponsor's SDK
(``client/trialfile/documents.py``), whose salted hashes are on chain.

They are not patient records: they live in their own blob store
(``<vault directory>/trial-documents``), are never registered with ``records/``, and
are decided here, on the trial's on-chain state:

Routes (signed), under ``/v1/vault/trials/{trial}/documents/{kind}/{commitment}``:

"The sponsor's staff" below is the sponsor organization itself or one of its
researchers (the chain's rule for who registers and amends its trials).

- ``POST`` (an upload body, ``wire.py``), by the sponsor's staff: this vault is
  the sponsor's; the commitment is on chain for the trial and kind; the record id is
  ``document_id(trial, kind, commitment)``; its owner is the sponsor; the data key is
  wrapped for the sponsor; at most 8 MiB.
- ``GET``, by a reader holding a key the sponsor wrapped for it, else by the sponsor's
  staff or a regulator officer (a regulator organization or its auditor), for whom the
  vault re-wraps the sponsor's own copy of the key (the sponsor's standing permission:
  this is the sponsor's own vault); the caller is an acting identity.
- ``PUT …/keys/{reader}`` (an 80-byte wrapped key), by the sponsor's staff: the reader
  is an acting identity.

Refusals: ``vault/25 malformed_request``, ``vault/26 access_denied``, ``vault/29
not_registered`` (the commitment is not on chain), ``vault/30 upload_refused``,
``vault/33 too_large``, ``vault/11 record_not_found``. The reader's SDK checks the
document against the chain itself (the vault is not trusted for that).
"""

from __future__ import annotations

import re
import threading
from typing import TYPE_CHECKING, Any, Final

from phrchain.client.trialfile.documents import KINDS, document_id, on_chain
from phrchain.core.errors import CodedError
from phrchain.gateway import custody
from phrchain.vault import crypto
from phrchain.vault import errors as store_errors
from phrchain.vault.blobs import BlobStore
from phrchain.vault.crypto import ChunkPart, RecordMeta
from phrchain.vault.gateway_errors import (
    ACCESS_DENIED,
    MALFORMED_REQUEST,
    NOT_REGISTERED,
    TOO_LARGE,
    UPLOAD_REFUSED,
)
from phrchain.vault.requests import Verified
from phrchain.vault.wire import Upload

if TYPE_CHECKING:
    from phrchain.gateway.service import Vault

MAX_DOCUMENT: Final = 8 << 20
_HEX32: Final = re.compile(r"[0-9a-f]{32}")
_HEX64: Final = re.compile(r"[0-9a-f]{64}")


def _acts_for(sponsor: str, caller: str, identity: dict[str, Any] | None) -> bool:
    """The sponsor itself, or one of its researchers (who may register and amend its
    trials on chain: ``trials/register``'s signer rule)."""
    return custody.is_staff(sponsor, caller, identity) and identity is not None and (
        caller == sponsor or "researcher" in identity.get("roles", ()))


class TrialDocumentStore:
    """The trial documents of one vault (its blob store opened on first use)."""

    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self._store: BlobStore | None = None
        self._lock = threading.Lock()

    @property
    def store(self) -> BlobStore:
        with self._lock:
            if self._store is None:
                self._store = BlobStore(self.vault.config.directory / "trial-documents")
            return self._store

    def close(self) -> None:
        with self._lock:
            if self._store is not None:
                self._store.close()
                self._store = None

    # -- checks ------------------------------------------------------------------------
    def _locate(self, trial: str, kind: str, commitment: str) -> tuple[bytes, str]:
        """The record id and the sponsor of a document the chain knows."""
        if not _HEX32.fullmatch(trial) or kind not in KINDS \
                or not _HEX64.fullmatch(commitment):
            raise MALFORMED_REQUEST(f"a trial document is named by a 32-hex trial, a kind "
                                    f"in {list(KINDS)} and a 64-hex commitment")
        head = self.vault.query("trials/trial", {"trial": trial})
        if head is None:
            raise NOT_REGISTERED(f"no trial {trial} is registered")
        if commitment not in on_chain(self.vault.query, trial, kind):
            raise NOT_REGISTERED(f"{kind} {commitment} is not on chain for trial {trial}")
        return document_id(trial, kind, commitment), str(head["sponsor"])

    def _staff(self, sponsor: str, caller: str) -> dict[str, Any] | None:
        identity = self.vault.acting(caller)
        return identity if _acts_for(sponsor, caller, identity) else None

    def _regulator(self, identity: dict[str, Any] | None) -> bool:
        if identity is None:
            return False
        if identity["kind"] == "organization":
            return identity.get("org_type") == "regulator"
        if identity["kind"] != "practitioner" or "auditor" not in identity.get("roles", ()):
            return False
        org = self.vault.query("identity/did", {"did": identity["organization"]})
        return org is not None and org.get("org_type") == "regulator"

    # -- routes --------------------------------------------------------------------------
    def upload(self, req: Verified, trial: str, kind: str, commitment: str,
               upload: Upload) -> None:
        record, sponsor = self._locate(trial, kind, commitment)
        if sponsor != self.vault.org:
            raise UPLOAD_REFUSED(f"trial documents are kept in the sponsor's vault "
                                 f"({sponsor})")
        if self._staff(sponsor, req.caller) is None:
            raise UPLOAD_REFUSED(f"{req.caller} does not act for the sponsor {sponsor}")
        meta = upload.meta
        if meta.record_id != record or meta.patient != sponsor:
            raise MALFORMED_REQUEST("the document's record id or owner is not the one "
                                    "its trial, kind and commitment name")
        if sponsor not in upload.wrapped:
            raise UPLOAD_REFUSED("the data key must be wrapped for the sponsor")
        if meta.size > MAX_DOCUMENT:
            raise TOO_LARGE(f"a trial document is at most {MAX_DOCUMENT} bytes here")
        if upload.descriptor is not None or upload.register is not None:
            raise MALFORMED_REQUEST("a trial document has no descriptor or register message")
        self.store.put(meta, upload.chunks, upload.wrapped)
        self.vault.journal.accept(req.nonce, req.caller, req.ts_ms)

    def read(self, req: Verified, trial: str, kind: str, commitment: str
             ) -> tuple[RecordMeta, bytes, list[ChunkPart]]:
        record, sponsor = self._locate(trial, kind, commitment)
        meta = self.store.get_meta(record)
        identity = self.vault.acting(req.caller)
        if identity is None:
            raise ACCESS_DENIED(f"{req.caller} is not an acting identity")
        try:
            wrapped = self.store.get_wrapped_key(record, req.caller)
        except CodedError as exc:
            if exc.error != store_errors.READER_NOT_FOUND:
                raise
            if not (_acts_for(sponsor, req.caller, identity) or self._regulator(identity)):
                raise ACCESS_DENIED("the sponsor has not shared this trial document with "
                                    f"{req.caller}") from None
            # the sponsor's own vault opens the sponsor's copy for its staff and for
            # regulators (the sponsor's standing permission, README)
            key = crypto.unwrap_key(self.store.get_wrapped_key(record, sponsor),
                                    self.vault.org_enc, record, sponsor)
            wrapped = crypto.wrap_key(key, bytes.fromhex(identity["enc_key"]), record,
                                      req.caller)
        self.vault.journal.accept(req.nonce, req.caller, req.ts_ms)
        return meta, wrapped, self.store.get_chunks(record, range(meta.chunks))

    def share(self, req: Verified, trial: str, kind: str, commitment: str, reader: str,
              wrapped: bytes) -> None:
        record, sponsor = self._locate(trial, kind, commitment)
        if self._staff(sponsor, req.caller) is None:
            raise ACCESS_DENIED(f"only the sponsor {sponsor} shares its trial documents")
        if self.vault.acting(reader) is None:
            raise ACCESS_DENIED(f"{reader} is not an acting identity")
        if len(wrapped) != crypto.WRAPPED_KEY_SIZE:
            raise MALFORMED_REQUEST("a wrapped key is 80 bytes")
        self.store.put_wrapped_key(record, reader, wrapped)
        self.vault.journal.accept(req.nonce, req.caller, req.ts_ms)
