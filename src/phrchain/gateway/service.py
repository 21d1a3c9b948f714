"""The vault gateway: the policy enforcement point in front of one institution's blobs.

Framework-free (the HTTP layer in :mod:`phrchain.gateway.http` is a thin shell). Every
access goes: verify the signed request → ask the node for the decision at the latest
height → seal the audit entry (``vault/audit_seal.py``: readable by the patient, this
institution and the regulators only) → journal the nonce and the sealed entry durably →
only then release the ciphertext and the caller's wrapped data key. The vault never
unwraps a data key, with one documented exception: break-glass (and nothing else)
re-wraps the institution's own copy of the key for the emergency practitioner, because the
patient cannot be asked.
"""

from __future__ import annotations

import hashlib
import logging
import re
import secrets
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, Protocol

from phrchain.client.http import ApiError
from phrchain.core import keys
from phrchain.core.errors import REGISTRY, CodedError
from phrchain.gateway import custody
from phrchain.gateway.attempts import RATE_LIMITED as RATE_LIMITED_ATTEMPT
from phrchain.gateway.attempts import Attempts
from phrchain.gateway.audit_readers import AuditReaders
from phrchain.gateway.chain import ChainPort
from phrchain.gateway.decisions import DecisionIndex
from phrchain.gateway.erasures import ErasureFollower, scan
from phrchain.gateway.journal import Journal
from phrchain.gateway.ratelimit import TokenBucket
from phrchain.gateway.sender import AUDIT, RECEIPT, REGISTER, Sender
from phrchain.gateway.trial_documents import TrialDocumentStore
from phrchain.modules.records.messages import size_bucket
from phrchain.vault import audit_seal, crypto
from phrchain.vault import errors as store_errors
from phrchain.vault.blobs import BlobStore
from phrchain.vault.crypto import ChunkPart, RecordMeta
from phrchain.vault.descriptor import SEALED_SIZE
from phrchain.vault.errors import VaultError
from phrchain.vault.gateway_errors import (
    ACCESS_DENIED,
    BAD_TICKET,
    CHAIN_UNAVAILABLE,
    ERASED,
    JUSTIFICATION_REQUIRED,
    MALFORMED_REQUEST,
    NO_KEY_FOR_CALLER,
    NOT_REGISTERED,
    RATE_LIMITED,
    REPLAYED_REQUEST,
    UPLOAD_REFUSED,
)
from phrchain.vault.requests import MAX_SKEW_MS, Verified, check_body, verify_headers
from phrchain.vault.wire import Upload

log = logging.getLogger(__name__)

ACTIONS: Final = frozenset({"read", "view", "pull", "break_glass"})
INLINE_LIMIT: Final = 8 << 20  # records up to this size travel in one response
MAX_TRACKED_CALLERS: Final = 100_000
_PROVIDERS: Final = frozenset({"practitioner", "organization"})
_HEX64: Final = re.compile(r"[0-9a-f]{64}")
_HEX32: Final = re.compile(r"[0-9a-f]{32}")


def wall_clock_ms() -> int:
    return time.time_ns() // 1_000_000


class StoreBeside(Protocol):
    """Another store of records in this vault (genomic objects, ``gateway/genome.py``):
    erased with the rest, and decided and audited like the rest when asked for through
    the record routes, so that an answer never tells what kind of record an id is."""

    def record_ids(self) -> list[bytes]: ...

    def shred(self, record_id: bytes) -> bool: ...

    def holder(self, record_id: bytes) -> tuple[str, str | None] | None:
        """``(patient, local author)`` of a record held there, else None."""

    def elsewhere(self, record_hex: str) -> CodedError:
        """The refusal for a permitted caller: where that record is read instead."""


@dataclass
class VaultConfig:
    directory: Path
    rate_per_s: float = 500.0  # per caller, token bucket
    burst: int = 1000
    ticket_ttl_s: float = 300.0
    flush_interval_s: float = 0.2
    sync_interval_s: float = 2.0
    # unregistered callers ("strangers", gateway/attempts.py): one shared rate, and at
    # most stranger_audits audit entries per record per stranger_window_s
    stranger_rate_per_s: float = 20.0
    stranger_burst: int = 100
    stranger_audits: int = 10
    stranger_window_s: float = 3600.0
    rescan_interval_s: float = 600.0  # erasure scans where the API serves no block results
    # how far behind the node the decision index may answer (gateway/decisions.py);
    # 0: it checks the node's height on every access
    decision_lag_s: float = 0.0
    # a prepared research release not approved within this long is deleted with its
    # sealed package (gateway/research_store.py)
    research_release_ttl_s: float = 86_400.0


@dataclass
class Release:
    """What a permitted access returns: the decision, the record's metadata (exact size
    and chunk count, known off chain only), the caller's wrapped data key, the sealed
    descriptor, and the ciphertext inline (small) or a chunk ticket."""

    decision: dict[str, Any]
    meta: RecordMeta
    wrapped_key: bytes
    chunks: list[ChunkPart] = field(default_factory=list)
    ticket: str | None = None
    descriptor: bytes | None = None


class Vault:
    def __init__(self, config: VaultConfig, chain: ChainPort, org_key: keys.SigningKey,
                 org_enc: keys.EncryptionKey, org_did: str | None = None) -> None:
        self.config = config
        self.chain = chain
        self.org = org_did or org_key.did
        self.org_key, self.org_enc = org_key, org_enc
        self.store = BlobStore(config.directory / "blobs")
        self.journal = Journal(config.directory)
        self.sender = Sender(self.journal, chain, self.org, org_key,
                             interval_s=config.flush_interval_s)
        self.attempts = Attempts(self.journal, rate_per_s=config.stranger_rate_per_s,
                                 burst=config.stranger_burst,
                                 audits_per_window=config.stranger_audits,
                                 window_s=config.stranger_window_s)
        self.audit_readers = AuditReaders(self._chain, self.org, org_enc.public_key)
        self.decisions = DecisionIndex(self._chain, chain, lag_s=config.decision_lag_s)
        self.erasures = ErasureFollower(chain, self.journal, self._shred_held,
                                        self._scan_erasures, config.rescan_interval_s,
                                        identity_changed=self.audit_readers.identity_changed)
        self.trial_documents = TrialDocumentStore(self)
        self._buckets: dict[str, TokenBucket] = {}
        self._tickets: OrderedDict[str, tuple[str, bytes, float]] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._syncer: threading.Thread | None = None
        # other stores of this vault, erased with it (gateway/genome.py adds its own)
        self.stores_beside: list[StoreBeside] = []

    # -- lifecycle ---------------------------------------------------------------------
    def start(self) -> None:
        self.sender.start()
        self._syncer = threading.Thread(target=self._sync_loop, name="vault-sync",
                                        daemon=True)
        self._syncer.start()

    def close(self) -> None:
        self._stop.set()
        self.sender.stop()
        if self._syncer is not None:
            self._syncer.join(timeout=10)
        self.attempts.flush()
        self.journal.close()
        self.store.close()
        self.trial_documents.close()
        close_chain = getattr(self.chain, "close", None)  # RemoteChain's height probe
        if close_chain is not None:
            close_chain()

    # -- authentication ----------------------------------------------------------------
    def _current_key(self, did: str) -> bytes | None:
        identity = self.decisions.identity(did)
        return None if identity is None else bytes.fromhex(identity["signing_key"])

    def authenticate(self, headers: Mapping[str, str], method: str, path: str,
                     params: Mapping[str, str], body: bytes) -> Verified:
        """A request whose whole body is at hand (:meth:`authenticate_headers`, then the
        body against its signed digest)."""
        verified = self.authenticate_headers(headers, method, path, params)
        check_body(verified, hashlib.sha256(body).hexdigest())
        return verified

    def authenticate_headers(self, headers: Mapping[str, str], method: str, path: str,
                             params: Mapping[str, str]) -> Verified:
        """Everything that can be checked before the body is read: the signature by the
        caller's current key, freshness, the caller's rate, and a nonce already used (the
        journal's insert stays the check that counts). The HTTP layer then streams the
        body against ``body_hash`` (``gateway/intake.py``)."""
        verified = verify_headers(headers, vault=self.org, method=method, path=path,
                                  params=params, now_ms=wall_clock_ms(),
                                  current_key=self._current_key)
        self._rate(verified.caller)
        if self.journal.seen(verified.nonce):
            raise REPLAYED_REQUEST(f"nonce {verified.nonce}")
        return verified

    def note_refused(self, record_hex: str, kind: str) -> None:
        """Count a request on a record held here refused before its caller was known
        or over its rate (``gateway/attempts.py``); other records are no patient's."""
        try:
            self.store.get_meta(_record_id(record_hex))
        except CodedError:
            return
        self.attempts.count(record_hex, kind)

    def attempts_of(self, req: Verified, record_hex: str) -> dict[str, Any]:
        """The attempts on a record that were refused without an audit entry, counted;
        for the record's patient and the institution only."""
        patient = self.store.get_meta(_record_id(record_hex)).patient
        if req.caller not in (patient, self.org) or not req.registered:
            raise ACCESS_DENIED("only the record's patient or the institution reads "
                                "its unaudited attempts")
        self.journal.accept(req.nonce, req.caller, req.ts_ms)
        return {"record": record_hex, "attempts": self.attempts.of(record_hex)}

    def _rate(self, caller: str) -> None:
        now = time.monotonic()
        with self._lock:
            if len(self._buckets) > MAX_TRACKED_CALLERS:  # many throwaway did:keys
                self._buckets = {c: b for c, b in self._buckets.items()
                                 if now - b.stamp < self.config.burst / self.config.rate_per_s}
            bucket = self._buckets.get(caller)
            if bucket is None:
                bucket = self._buckets[caller] = TokenBucket.full(
                    self.config.rate_per_s, self.config.burst, now)
            if not bucket.take(now):
                raise RATE_LIMITED(f"{self.config.rate_per_s:g} requests/s per caller")

    def _chain(self, path: str, data: Mapping[str, Any]) -> Any:
        """A chain query; the node's refusal of the question (a bad purpose, a malformed
        id: its 4xx) is the caller's error and keeps its code. Only a node that cannot
        answer (transport failure, 5xx) makes the vault say "chain unavailable"."""
        try:
            return self.chain.query(path, data)
        except CodedError:
            raise
        except ApiError as exc:
            known = REGISTRY.get((exc.codespace, exc.code))
            if 400 <= exc.status < 500 and known is not None:
                raise known(exc.message) from None
            raise CHAIN_UNAVAILABLE(f"node answered {exc.status or 'nothing'}") from None
        except Exception as exc:
            raise CHAIN_UNAVAILABLE(type(exc).__name__) from None

    # -- access (read, view, pull, break-glass) ----------------------------------------
    def access(self, req: Verified, record_hex: str, action: str, purpose: str,
               justification: str | None = None, *, note: Mapping[str, Any] | None = None,
               narrow: str | None = None, since: float | None = None) -> Release:
        """Decide, audit, release; ``note``: optional entry fields (:func:`_noted`);
        ``narrow``: a deny reason the caller's credential adds (:func:`_narrowed`);
        ``since``: when the request arrived (``time.monotonic()``; default now): the
        chain's answers for it are at a height committed after then, one probe of the
        node's height for the whole request (``DecisionIndex.follow``)."""
        arrived = time.monotonic() if since is None else since
        if action not in ACTIONS:
            raise MALFORMED_REQUEST(f"action must be one of {sorted(ACTIONS)}")
        # Break-glass commits to its reason in the signed request (whose hash the audit
        # entry names); the reason itself never reaches the vault (client/breakglass.py).
        if (action == "break_glass") != (justification is not None) or (
                justification is not None and _HEX64.fullmatch(justification) is None):
            raise JUSTIFICATION_REQUIRED(f"action {action}: justification "
                                         f"{'missing' if justification is None else 'refused'}")
        record_id = _record_id(record_hex)
        try:
            meta, held = self.store.get_held(record_id)
        except VaultError as exc:
            if exc.error is not store_errors.RECORD_NOT_FOUND:
                raise
            meta, held = None, None
        if not req.registered and not self.attempts.admit_stranger():  # before the node
            if meta is not None:
                self.attempts.count(record_hex, RATE_LIMITED_ATTEMPT)
            raise RATE_LIMITED(f"{self.config.stranger_rate_per_s:g} requests/s from "
                               "unregistered callers together")
        beside = None if meta is not None else self._beside(record_id)
        patient = meta.patient if meta is not None else \
            beside[1][0] if beside is not None else self._shredded_here(record_hex)
        if patient is None:
            raise VaultError(store_errors.RECORD_NOT_FOUND, record_hex)  # nothing to audit
        decision = self.decide_and_audit(
            req, record_hex, action, purpose, patient, held[1] if held is not None
            else beside[1][1] if beside is not None else None, note=note, narrow=narrow,
            since=arrived)
        if not decision["permit"]:
            if decision["reason"] == "erased":
                self._shred_quietly(record_id)
                raise ERASED(record_hex)
            raise ACCESS_DENIED(decision["reason"])
        if meta is None and beside is not None:  # decided and audited: now say where
            raise beside[0].elsewhere(record_hex)
        if meta is None:  # the chain says active but the bytes are gone: not ours to serve
            raise VaultError(store_errors.RECORD_NOT_FOUND, record_hex)
        return self._release(req.caller, meta, decision,
                             None if held is None else held[0], since=arrived)

    def _release(self, caller: str, meta: RecordMeta, decision: dict[str, Any],
                 descriptor: bytes | None, since: float | None = None) -> Release:
        """A permitted access's release: the record checked against the chain, the
        caller's wrapped key, the chunks inline or a ticket for them."""
        record_id = meta.record_id
        self._check_registered(meta, since)
        inline = meta.size <= INLINE_LIMIT
        wrapped, chunks = self.store.get_key_and_chunks(
            record_id, caller, range(meta.chunks) if inline else range(0))
        if wrapped is None:
            wrapped = self._wrapped_for(caller, record_id, decision)
            chunks = self.store.get_chunks(record_id, range(meta.chunks)) if inline else []
        release = Release(decision, meta, wrapped, chunks, descriptor=descriptor)
        if not inline:
            release.ticket = self._ticket(caller, record_id)
        return release

    def decide_and_audit(self, req: Verified, record_hex: str, action: str, purpose: str,
                         patient: str, author: str | None, *,
                         note: Mapping[str, Any] | None = None, narrow: str | None = None,
                         since: float | None = None) -> dict[str, Any]:
        """Decide ``req.caller``'s ``action`` on a record of ``patient`` (consent on chain,
        then the vault's author permit for ``author``, then ``narrow``:
        :func:`_narrowed`), seal the audit entry (with ``note``: :func:`_noted`) for the
        patient's audit readers and journal it with the request's nonce, *before*
        anything is released. Returns the decision; the caller refuses a denial (stores
        beside the blob store use this too: ``gateway/genome.py``)."""
        decision = self.decisions.decide(req.caller, action, record_hex, purpose, since)
        decision = custody.with_author_permit(decision, req.caller, action, author)
        decision = _narrowed(decision, narrow)
        entry = {"record": record_hex, "accessor": req.caller, "action": action,
                 "purpose": purpose, "decision": "permit" if decision["permit"] else "deny",
                 "reason": decision["reason"], "consent": decision["consent"],
                 "break_glass": decision["break_glass"], "request": req.request_hash,
                 "at": decision["height"], **_noted(note, decision["permit"])}
        audited = decision["permit"] or req.registered \
            or self.attempts.audit_stranger(req.caller, record_hex)
        sealed = audit_seal.seal(entry, patient, self.audit_readers.readers(patient)) \
            if audited else None
        self.journal.accept(req.nonce, req.caller, req.ts_ms,
                            None if sealed is None else (AUDIT, sealed))
        self.sender.poke()
        return decision

    def acting(self, did: str) -> dict[str, Any] | None:
        """``did``'s identity if it is active (a practitioner's organization too)."""
        return self._acting(did)

    def query(self, path: str, data: Mapping[str, Any]) -> Any:
        """The node's answer to the chain query ``path`` (e.g. ``"identity/did"``) with
        ``data``, through this vault's chain client. A question the node refuses (its 4xx
        with a known error code) raises that code's error; a node that cannot answer
        raises ``CHAIN_UNAVAILABLE``."""
        return self._chain(path, data)

    def rate(self, caller: str) -> None:
        """Take one token from ``caller``'s bucket; ``RATE_LIMITED`` when it is empty."""
        self._rate(caller)

    def preview(self, caller: str, record_hex: str, action: str, purpose: str,
                since: float | None = None) -> str:
        """The decision :meth:`access` would make now (``permit`` or the deny reason),
        neither audited nor released: for deciding whether there is anything more to
        offer (a search's ``next`` link), never for releasing. The released access is
        decided again, and audited, by :meth:`access`."""
        try:
            _, held = self.store.get_held(_record_id(record_hex))
        except VaultError as exc:
            if exc.error is not store_errors.RECORD_NOT_FOUND:
                raise
            return "unknown_record"
        decision = self.decisions.decide(caller, action, record_hex, purpose, since)
        decision = custody.with_author_permit(decision, caller, action,
                                              None if held is None else held[1])
        return "permit" if decision["permit"] else str(decision["reason"])

    def _beside(self, record_id: bytes
                ) -> tuple[StoreBeside, tuple[str, str | None]] | None:
        for store in self.stores_beside:
            found = store.holder(record_id)
            if found is not None:
                return store, found
        return None

    def _shredded_here(self, record_hex: str) -> str | None:
        """The patient of a record this vault held and the chain has since erased (an
        access to it is still decided, ``erased``, and audited in that patient's log, so
        the patient sees the attempt); None for any other record."""
        on_chain = self._chain("records/get", {"record": record_hex})
        if on_chain is None or on_chain["status"] != "erased":
            return None
        holders = self._chain("records/holders", {"record": record_hex})["holders"]
        return str(on_chain["patient"]) if self.org in holders else None

    def _check_registered(self, meta: RecordMeta, since: float | None = None) -> None:
        """The chain must describe exactly these bytes: a vault never serves a record
        the chain does not vouch for."""
        on_chain = self.decisions.record(meta.record_id.hex(), since)
        if on_chain is None or on_chain.get("hash") != meta.hash.hex() \
                or on_chain["patient"] != meta.patient \
                or on_chain.get("commitment") != meta.commitment.hex() \
                or on_chain.get("size") != size_bucket(meta.size):
            raise NOT_REGISTERED(meta.record_id.hex())

    def _wrapped_for(self, caller: str, record_id: bytes, decision: Mapping[str, Any]) -> bytes:
        """The key for a permitted caller the record holds no key for."""
        if not decision["break_glass"]:
            raise NO_KEY_FOR_CALLER(caller)
        # Break-glass: the patient cannot be asked, so the custodian institution re-wraps
        # its own copy for the emergency practitioner (flagged and audited above).
        identity = self._chain("identity/did", {"did": caller})
        data_key = crypto.unwrap_key(self.store.get_wrapped_key(record_id, self.org),
                                     self.org_enc, record_id, self.org)
        wrapped = crypto.wrap_key(data_key, bytes.fromhex(identity["enc_key"]), record_id,
                                  caller)
        del data_key
        return wrapped

    def _ticket(self, caller: str, record_id: bytes) -> str:
        ticket = secrets.token_hex(16)
        with self._lock:
            self._tickets[ticket] = (caller, record_id, time.monotonic()
                                     + self.config.ticket_ttl_s)
            while len(self._tickets) > 100_000:
                self._tickets.popitem(last=False)
        return ticket

    def chunk(self, req: Verified, record_hex: str, index: int, ticket: str) -> ChunkPart:
        """One chunk of a large record, for a caller holding a ticket from ``access``."""
        record_id = _record_id(record_hex)
        with self._lock:
            found = self._tickets.get(ticket)
        if found is None or found[0] != req.caller or found[1] != record_id \
                or found[2] < time.monotonic():
            raise BAD_TICKET(ticket[:8])
        self.journal.accept(req.nonce, req.caller, req.ts_ms)
        return self.store.get_chunk(record_id, index)

    # -- writes ------------------------------------------------------------------------
    def _acting(self, did: str) -> dict[str, Any] | None:
        identity = self._chain("identity/did", {"did": did})
        if identity is None or identity["status"] != "active":
            return None
        if identity["kind"] == "practitioner":
            org = self._chain("identity/did", {"did": identity["organization"]})
            if org is None or org["status"] != "active":
                return None
        return dict(identity)

    def upload(self, req: Verified, upload: Upload) -> list[str]:
        """Custody upload of one record (:meth:`upload_many`)."""
        return self.upload_many(req, [upload])

    def upload_many(self, req: Verified, items: Sequence[Upload]) -> list[str]:
        """Custody uploads under one signed request, by this institution's staff (each
        with the ``records/register`` message this vault then sends, signed by the
        institution) or by the record's patient (self-reported: the patient registers
        it). Stores ciphertext, keys, sealed descriptor and local author, then journals
        the register jobs atomically with the nonce (``gateway/custody.py``). Returns
        the ids the vault registers."""
        caller = self._acting(req.caller)
        msgs = [custody.register_of(self.org, req.caller, caller, item) for item in items]
        ids = [item.meta.record_id.hex() for item in items]
        if erased := self.journal.erased_among(ids):  # seen erased by the follower
            raise ERASED(erased[0])
        if self.journal.seen(req.nonce):
            raise REPLAYED_REQUEST(f"nonce {req.nonce}")
        self.store.put_many([(item.meta, list(item.chunks),
                              self._new_readers_only(item.meta.record_id, item.wrapped))
                             for item in items])
        self.store.put_descriptors([(item.meta.record_id, item.descriptor, req.caller)
                                    for item in items if item.descriptor is not None])
        jobs = [m for m in msgs if m is not None]
        # after the bytes are stored: a job never names a record this vault lacks, and a
        # crash before this line leaves stored bytes the client's retry registers
        self.journal.accept_registrations(req.nonce, req.caller, req.ts_ms, REGISTER, jobs)
        if jobs:
            self.sender.poke()
        for late in self.journal.erased_among(ids):  # erased while it was stored
            self._shred_held(late)
        return [m["record"] for m in jobs]

    def registrations(self, req: Verified, records: Sequence[str]) -> dict[str, Any]:
        """Where the register jobs of ``records`` are: ``pending``, ``committed``,
        ``refused`` (with the chain's ``code``), or ``unknown`` (not uploaded here by
        staff). Only the uploader or the institution asks about a known record."""
        found = self.journal.registrations(list(records))
        out: dict[str, Any] = {}
        for record in records:
            status, code, uploader = found.get(record, ("unknown", "", ""))
            if status != "unknown" and req.caller not in (uploader, self.org):
                raise ACCESS_DENIED(f"record {record}: only its uploader or the "
                                    "institution follows its registration")
            out[record] = {"status": status, **({"code": code} if code else {})}
        self.journal.accept(req.nonce, req.caller, req.ts_ms)
        return out

    def sealed_descriptors(self, records: Sequence[str]) -> dict[str, str]:
        """The sealed descriptors (hex) of held records, for answers already permitted
        (the owner's ``keys/own``)."""
        out = {}
        for record_hex in records:
            held = self.store.get_descriptor(_record_id(record_hex))
            if held is not None:
                out[record_hex] = held[0].hex()
        return out

    def receive_copy(self, req: Verified, meta: RecordMeta, chunks: Iterable[bytes],
                     wrapped_keys: Mapping[str, bytes], request: str | None,
                     descriptor: bytes | None = None) -> None:
        """A copy arriving by Push (this institution is already a holder on chain), by
        Pull (``request`` approved for the caller, a member of this institution), or
        from the record's own patient once they made this institution a holder
        (``records/add_holder``: the portable record, ``docs/portable.md``)."""
        if descriptor is not None and len(descriptor) != SEALED_SIZE:
            raise UPLOAD_REFUSED(f"a sealed descriptor is {SEALED_SIZE} bytes")
        on_chain = self._chain("records/get", {"record": meta.record_id.hex()})
        if on_chain is None or on_chain["status"] == "erased" \
                or on_chain.get("hash") != meta.hash.hex() \
                or on_chain.get("commitment") != meta.commitment.hex() \
                or on_chain["patient"] != meta.patient:
            raise NOT_REGISTERED(meta.record_id.hex())
        holders = self._chain("records/holders", {"record": meta.record_id.hex()})["holders"]
        receipt = None
        caller_identity = self._acting(req.caller)
        owner = caller_identity is not None and caller_identity["kind"] == "patient" \
            and req.caller == on_chain["patient"]
        if caller_identity is None or (caller_identity["kind"] not in _PROVIDERS
                                       and not owner):
            raise UPLOAD_REFUSED("copies come from active practitioners or institutions, "
                                 "or from the record's patient")
        if owner and self.org not in holders:
            raise UPLOAD_REFUSED("the patient makes this institution a holder "
                                 "(records/add_holder) before uploading a copy")
        if self.org not in holders:
            pull = None if request is None else self._chain("exchange/get",
                                                            {"request": request})
            caller = self._acting(req.caller)
            if pull is None or pull["status"] != "approved" or pull["requester"] != req.caller \
                    or caller is None or caller.get("organization", req.caller) != self.org:
                raise UPLOAD_REFUSED("no push to this institution and no approved pull by "
                                     "the caller")
            receipt = {"request": request, "record": meta.record_id.hex()}
        self.journal.accept(req.nonce, req.caller, req.ts_ms,
                            None if receipt is None else (RECEIPT, receipt))
        self.store.put(meta, chunks, self._new_readers_only(meta.record_id, wrapped_keys))
        if descriptor is not None:  # a copy's descriptor: kept, never its author
            self.store.put_descriptors([(meta.record_id, descriptor, None)])
        self.sender.poke()
        # erased while it arrived? the follower may have passed that block already
        after = self._chain("records/get", {"record": meta.record_id.hex()})
        if after is None or after["status"] == "erased":
            self._shred_quietly(meta.record_id)

    def _new_readers_only(self, record_id: bytes, wrapped_keys: Mapping[str, bytes]
                          ) -> dict[str, bytes]:
        """Uploads and copies only *add* readers: a key already held is never replaced
        (else anyone allowed to upload a copy could swap the patient's key for garbage).
        Replacing a key is the patient's ``share_key``."""
        try:
            held = set(self.store.readers(record_id))
        except VaultError as exc:
            if exc.error is not store_errors.RECORD_NOT_FOUND:
                raise
            held = set()
        return {r: w for r, w in wrapped_keys.items() if r not in held}

    # -- the patient's keys (sharing after a grant) -----------------------------------
    def own_keys(self, req: Verified, records: Sequence[str]) -> dict[str, bytes]:
        """The patient's own wrapped keys of their records held here, and nothing else:
        no ciphertext, so this is not a read of the record and is not audited as one
        (the patient re-wraps the data key for readers they consented to, on their own
        machine). All or nothing: a record not held here, not the caller's, erased on
        chain or without the caller's key refuses the request."""
        if self._acting(req.caller) is None:
            raise UPLOAD_REFUSED(f"{req.caller} is not an active identity")
        out: dict[str, bytes] = {}
        for record_hex in records:
            record_id = _record_id(record_hex)
            beside = self._beside(record_id)
            if beside is not None and beside[1][0] == req.caller:
                continue  # no record key there (a genomic object's readers are packets)
            if self.store.get_meta(record_id).patient != req.caller:
                raise ACCESS_DENIED(f"record {record_hex}: only its patient gets their "
                                    "own key without a read")
            on_chain = self._chain("records/get", {"record": record_hex})
            if on_chain is None or on_chain["status"] == "erased":
                raise NOT_REGISTERED(f"record {record_hex} is not an active record on chain")
            out[record_hex] = self.store.get_wrapped_key(record_id, req.caller)
        self.journal.accept(req.nonce, req.caller, req.ts_ms)
        return out

    def share_key(self, req: Verified, record_hex: str, reader: str, wrapped: bytes) -> None:
        """The patient's wallet adds a re-wrapped key for a reader it consented to."""
        self.share_keys(req, [(record_hex, reader, wrapped)])

    def share_keys(self, req: Verified, items: Sequence[tuple[str, str, bytes]]) -> None:
        """Several (record, reader, wrapped key) at once, each checked as
        :meth:`share_key` always has (the caller is the record's patient, the reader an
        active identity), before any is stored; then all are stored in one transaction.
        One bad item refuses the whole batch, naming it."""
        active: dict[str, bool] = {}
        checked = []
        for record_hex, reader, wrapped in items:
            record_id = _record_id(record_hex)
            if req.caller != self.store.get_meta(record_id).patient:
                raise UPLOAD_REFUSED(f"record {record_hex}: only the patient shares a "
                                     "record's key")
            if reader not in active:
                active[reader] = self._acting(reader) is not None
            if not active[reader]:
                raise UPLOAD_REFUSED(f"record {record_hex}: {reader} is not an active "
                                     "identity")
            checked.append((record_id, reader, wrapped))
        self.journal.accept(req.nonce, req.caller, req.ts_ms)
        self.store.put_wrapped_keys(checked)

    # -- erasure -----------------------------------------------------------------------
    def _shred_quietly(self, record_id: bytes) -> bool:
        """Destroy a record if it is held here (in the blob store or a store of
        :attr:`stores_beside`); whether it was."""
        held = any([store.shred(record_id) for store in self.stores_beside])
        try:
            self.store.shred(record_id)
        except VaultError as exc:
            if exc.error is not store_errors.RECORD_NOT_FOUND:
                raise
            return held
        return True

    def _shred_held(self, record_hex: str) -> bool:
        return _HEX32.fullmatch(record_hex) is not None \
            and self._shred_quietly(bytes.fromhex(record_hex))

    def sync_erasures(self) -> list[str]:
        """Shred every held record erased on chain since the last sync (followed by
        height, ``gateway/erasures.py``); returns their ids. Also writes the counts of
        unaudited attempts and forgets nonces past the freshness window."""
        shredded = self.erasures.sync()
        if shredded:
            log.info("vault shredded %d erased record(s)", len(shredded))
        self.attempts.flush()
        self.journal.forget_nonces_before(wall_clock_ms() - 2 * MAX_SKEW_MS)
        return shredded

    def _scan_erasures(self) -> list[str]:
        """Every held record against the chain, one query each (``erasures.py``)."""
        beside = [r for store in self.stores_beside for r in store.record_ids()]
        return scan(self.store.record_ids() + beside,
                    lambda rid: self._chain("records/get", {"record": rid.hex()}),
                    self._shred_quietly)

    def _sync_loop(self) -> None:
        while not self._stop.wait(self.config.sync_interval_s):
            try:
                self.sync_erasures()
            except Exception as exc:
                log.warning("vault erasure sync failed: %s", type(exc).__name__)


def _narrowed(decision: dict[str, Any], narrow: str | None) -> dict[str, Any]:
    """A permit turned into the denial ``narrow`` that the caller's own credential
    imposes on top of the vault's decision (a patient app's consent that does not cover
    the record: the vault alone would permit the patient); audited as that denial."""
    if narrow is None or not decision["permit"]:
        return decision
    return {**decision, "permit": False, "reason": narrow, "consent": None,
            "break_glass": False}


def _noted(note: Mapping[str, Any] | None, permit: bool) -> dict[str, Any]:
    """The optional audit entry fields (``audit_seal.OPTIONAL_FIELDS``: the client, its
    grant, the batch, what was released) of one decision; a deny releases nothing."""
    return {k: v for k, v in (note or {}).items() if k != "released" or permit}


def _record_id(record_hex: str) -> bytes:
    try:
        raw = bytes.fromhex(record_hex)
    except ValueError:
        raw = b""
    if len(raw) != crypto.RECORD_ID_SIZE or raw.hex() != record_hex:
        raise MALFORMED_REQUEST("record id must be 32 lowercase hex characters")
    return raw
