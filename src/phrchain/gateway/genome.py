"""Genomic objects on the vault gateway (``docs/genomics.md``): custody upload of a
crypt4gh-sealed object, grant/revoke of a reader's header packet, and the GA4GH read
surface — DRS objects, htsget variants tickets, and the proven range endpoint the
tickets point at. Every read is decided on chain (``consent/decide``, action ``read``,
with the vault's author permit), sealed into an audit entry and journaled *before*
anything is released, exactly as :meth:`phrchain.gateway.service.Vault.access` does for
records; the vault also keeps which range or region each request read, for the patient.

The object id of every route is the DRS id: the record's commitment (64 hex).
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any, Final

from phrchain.core.errors import CodedError
from phrchain.gateway import custody
from phrchain.gateway.sender import REGISTER
from phrchain.gateway.service import Vault, wall_clock_ms
from phrchain.genome import bai, bgzf, errors
from phrchain.genome import crypt4gh as c4
from phrchain.genome.objects import GenomeMeta, covering
from phrchain.genome.store import GenomeStore, Held
from phrchain.genome.wire import UploadReader
from phrchain.modules.records.messages import Register, size_bucket
from phrchain.vault.gateway_errors import (
    ACCESS_DENIED,
    ERASED,
    MALFORMED_REQUEST,
    NO_KEY_FOR_CALLER,
    NOT_REGISTERED,
    RATE_LIMITED,
    REPLAYED_REQUEST,
    UPLOAD_REFUSED,
)
from phrchain.vault.requests import Verified

MAX_RANGE: Final = 8 << 20  # plaintext bytes per range request (a ticket splits larger)
MAX_PACKET: Final = 4096


def _upload_fields(reader: UploadReader) -> dict[str, Any]:
    found = reader.fields()
    if found is None:
        raise MALFORMED_REQUEST("an upload is its fields' length, JSON fields, segments")
    return found


def _hex(value: object, size: int, what: str) -> bytes:
    try:
        raw = bytes.fromhex(str(value))
    except ValueError:
        raw = b""
    if len(raw) != size:
        raise MALFORMED_REQUEST(f"{what} must be {2 * size} hex characters")
    return raw


class GenomeGateway:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault
        self.store = GenomeStore(vault.config.directory / "genome")
        vault.stores_beside.append(self.store)  # erased on chain: shredded here too

    # -- custody -----------------------------------------------------------------------
    def upload(self, req: Verified, parts: Iterable[bytes]) -> dict[str, Any]:
        """Custody upload by the institution's staff (with the ``records/register`` the
        vault sends) or by the patient (self-reported: the patient registers it), the
        rules of ``gateway/custody.py``; the header packets must include the patient's
        and the custodian institution's. ``parts``: the body as it arrives (ending only
        once it matched its signed hash); the segments are written as they come and
        kept only if the whole body and the object check out."""
        reader = UploadReader(parts)
        fields = _upload_fields(reader)
        segments = reader.segments()
        try:
            meta = GenomeMeta(_hex(fields["record"], 16, "record"), str(fields["patient"]),
                              _hex(fields["root"], 32, "root"), int(fields["size"]),
                              int(fields["segments"]), int(fields["plain_size"]),
                              _hex(fields["commitment"], 32, "commitment"))
            packets = {str(r): bytes.fromhex(p) for r, p in fields["packets"].items()}
            descriptor = bytes.fromhex(fields["descriptor"])
            index = fields.get("index")
            checksums = {"sha256": _hex(fields["sha256"], 32, "sha256").hex()}
        except (KeyError, TypeError, ValueError, AttributeError):
            raise MALFORMED_REQUEST("upload fields are missing or malformed") from None
        meta.check()
        identity = self.vault.acting(req.caller)
        staff = custody.is_staff(self.vault.org, req.caller, identity)
        owner = identity is not None and identity["kind"] == "patient" \
            and req.caller == meta.patient
        if not (staff or owner):
            raise UPLOAD_REFUSED(f"{req.caller} does not author records in {self.vault.org}")
        if not {self.vault.org, meta.patient} <= set(packets):
            raise UPLOAD_REFUSED("header packets for the patient and the custodian "
                                 "institution are required")
        job = self._register_job(fields.get("register"), meta, staff)
        if index is not None:
            bai.index_from_json(index)  # well formed (a VCF's or a BAM's), or refused
        if self.vault.journal.seen(req.nonce):  # before any byte is stored
            raise REPLAYED_REQUEST(f"nonce {req.nonce}")
        if self.store.holder(meta.record_id) is None:
            with self.store.writer(meta.record_id, meta.patient) as w:
                for i, segment in enumerate(segments):
                    w.add(i, segment)
                w.finish(meta, packets, descriptor, req.caller, index, checksums)
        elif self.store.get(meta.record_id).meta != meta:  # a retry must be the same bytes
            raise UPLOAD_REFUSED(f"record {meta.record_id.hex()} is held with other bytes")
        else:
            for _ in segments:  # drained: the body must still match its signed hash
                pass
        jobs = [] if job is None else [job]
        self.vault.journal.accept_registrations(req.nonce, req.caller, req.ts_ms, REGISTER,
                                                jobs)
        if jobs:
            self.vault.sender.poke()
        return {"stored": meta.record_id.hex(), "id": meta.commitment.hex(),
                "registering": [j["record"] for j in jobs]}

    def _register_job(self, register: Any, meta: GenomeMeta, staff: bool
                      ) -> dict[str, Any] | None:
        if not staff:
            if register is not None:
                raise UPLOAD_REFUSED("a self-reported object is registered by its patient")
            return None
        try:
            m = Register.parse(register)
        except (CodedError, TypeError, AttributeError):
            raise UPLOAD_REFUSED("a staff upload comes with a well-formed records/register"
                                 ) from None
        if (m.record, m.patient, m.hash, m.size, m.commitment) != (
                meta.record_id.hex(), meta.patient, meta.root.hex(), size_bucket(meta.size),
                meta.commitment.hex()) or m.custodian not in (None, self.vault.org):
            raise UPLOAD_REFUSED("the register message does not describe the object")
        return Register(m.record, m.patient, m.hash, m.size, m.commitment, m.descriptor,
                        None, m.replaces).to_msg()

    def grant(self, req: Verified, object_id: str, reader: str, packet: bytes) -> None:
        """The patient adds a reader's header packet (the segments stay as they are)."""
        held = self._object(object_id)
        if req.caller != held.meta.patient:
            raise UPLOAD_REFUSED("only the patient grants a reader")
        if self.vault.acting(reader) is None:
            raise UPLOAD_REFUSED(f"{reader} is not an active identity")
        if not 0 < len(packet) <= MAX_PACKET:
            raise MALFORMED_REQUEST("a header packet is 1 to 4096 bytes")
        c4.build_header([packet])  # shape only; the reader alone can open it
        self.vault.journal.accept(req.nonce, req.caller, req.ts_ms)
        self.store.put_packet(held.meta.record_id, reader, packet)

    def revoke(self, req: Verified, object_id: str, reader: str) -> bool:
        """The patient drops a reader's packet (the consent on chain is what refuses
        reads; this removes the reader's key from every later answer)."""
        held = self._object(object_id)
        if req.caller != held.meta.patient or reader in (held.meta.patient, self.vault.org):
            raise UPLOAD_REFUSED("only the patient revokes, and never their own or the "
                                 "custodian's packet")
        self.vault.journal.accept(req.nonce, req.caller, req.ts_ms)
        return self.store.drop_packet(held.meta.record_id, reader)

    # -- reads -------------------------------------------------------------------------
    def _object(self, object_id: str) -> Held:
        try:
            return self.store.by_commitment(_hex(object_id, 32, "object id"))
        except errors.GenomeError:
            raise errors.NOT_GENOME_OBJECT(object_id[:16]) from None

    def _decide(self, req: Verified, held: Held, purpose: str, what: str
                ) -> tuple[bytes, dict[str, Any]]:
        """Decide, audit, journal, log the read; the caller's header (one packet) and
        the chain's record."""
        vault, meta = self.vault, held.meta
        record_hex = meta.record_id.hex()
        if not req.registered and not vault.attempts.admit_stranger():
            raise RATE_LIMITED("unregistered callers together")
        decision = vault.decide_and_audit(req, record_hex, "read", purpose, meta.patient,
                                          held.author)
        self.store.log_read(meta.record_id, req.caller, req.request_hash, what,
                            "{}:{}".format("permit" if decision["permit"] else "deny",
                                           decision["reason"]), wall_clock_ms())
        if not decision["permit"]:
            if decision["reason"] == "erased":
                self.store.shred(meta.record_id)
                raise ERASED(record_hex)
            raise ACCESS_DENIED(decision["reason"])
        on_chain = vault.decisions.record(record_hex)
        if on_chain is None or on_chain.get("hash") != meta.root.hex() \
                or on_chain["patient"] != meta.patient \
                or on_chain.get("commitment") != meta.commitment.hex() \
                or on_chain.get("size") != size_bucket(meta.size):
            raise NOT_REGISTERED(record_hex)
        try:
            return c4.build_header([self.store.packet(meta.record_id, req.caller)]), on_chain
        except errors.GenomeError:
            raise NO_KEY_FOR_CALLER(f"{req.caller}: the patient must grant a header "
                                    "packet") from None

    def drs(self, req: Verified, object_id: str, purpose: str, base: str) -> dict[str, Any]:
        held = self._object(object_id)
        header, on_chain = self._decide(req, held, purpose, "drs")
        host = base.split("://", 1)[-1].split("/", 1)[0]
        meta = held.meta
        created = datetime.fromtimestamp(int(on_chain.get("time_ms", 0)) / 1000, UTC)
        return {"id": object_id, "self_uri": f"drs://{host}/{object_id}",
                "size": meta.plain_size,
                "created_time": created.isoformat(timespec="milliseconds")
                .replace("+00:00", "Z"),
                "checksums": [{"type": "sha-256", "checksum": held.checksums["sha256"]}],
                "access_methods": [
                    {"type": "https", "access_id": "crypt4gh",
                     "access_url": {"url": f"{base}/v1/vault/genome/{object_id}/c4gh"
                                           f"?purpose={purpose}"}}],
                "phrchain": {"record": meta.record_id.hex(), "root": meta.root.hex(),
                             "segments": meta.segments, "cipher_size": meta.size,
                             "header": header.hex(), "descriptor": held.descriptor.hex(),
                             "indexed": held.index is not None}}

    def htsget(self, req: Verified, object_id: str, reference: str | None, start: int | None,
               end: int | None, purpose: str, base: str, fmt: str = "VCF"
               ) -> dict[str, Any]:
        """An htsget (1.3) ticket, ``variants`` (VCF) or ``reads`` (BAM): URLs of the
        proven range endpoint covering the header and the region's BGZF blocks (htsget's
        0-based, half-open start/end). A BAM ticket for a region also lists the BAI
        chunks (virtual offsets) under ``phrchain``: where the alignments start inside
        the first block of each range."""
        held = self._object(object_id)
        index = None if held.index is None else bai.index_from_json(held.index)
        if index is not None and isinstance(index, bai.BamIndex) != (fmt == "BAM"):
            raise errors.UNSUPPORTED_FORMAT(f"{fmt}: the object is not held as {fmt}")
        if reference is None and (start is not None or end is not None):
            raise MALFORMED_REQUEST("start and end need referenceName")
        region = None if reference is None else bgzf.Region(
            reference, (start or 0) + 1, end if end is not None else (1 << 31) - 1)
        if region is not None and region.start > region.end:
            raise errors.BAD_REGION("start must be below end")
        self._decide(req, held, purpose, "htsget " + (str(region) if region else "all"))
        size = held.meta.plain_size
        extra: dict[str, Any] = {}
        if region is None or index is None:
            ranges = [(0, size)]
        elif isinstance(index, bai.BamIndex):
            ranges, chunks, ref_id = index.ranges(region)
            extra = {"phrchain": {"chunks": [list(c) for c in chunks], "reference": ref_id}}
        else:
            ranges = index.ranges(region)
        urls = []
        for lo, hi in ranges:
            for a in range(lo, hi, MAX_RANGE):
                b = min(hi, a + MAX_RANGE)
                # no "class": a merged range may hold header and body blocks together
                urls.append({"url": f"{base}/v1/vault/genome/{object_id}/range?start={a}"
                                    f"&end={b}&purpose={purpose}"})
        return {"htsget": {"format": fmt, "urls": urls}, **extra}

    def range(self, req: Verified, object_id: str, start: int, end: int,
              purpose: str) -> dict[str, Any]:
        """Plaintext bytes ``[start, end)`` as the covering segments with their proofs,
        and the caller's header: the reader checks and decrypts (``client/genome.py``)."""
        held = self._object(object_id)
        if end - start > MAX_RANGE:
            raise MALFORMED_REQUEST(f"at most {MAX_RANGE} bytes per range")
        indices = covering(held.meta.plain_size, start, end)
        header, _ = self._decide(req, held, purpose, f"bytes {start}-{end}")
        parts = self.store.parts(held.meta.record_id, indices)
        return {"id": object_id, "record": held.meta.record_id.hex(),
                "root": held.meta.root.hex(), "segments": held.meta.segments,
                "plain_size": held.meta.plain_size, "start": start, "end": end,
                "header": header.hex(),
                "parts": [{"index": p.index, "data": base64.b64encode(p.data).decode(),
                           "proof": [h.hex() for h in p.proof]} for p in parts]}

    def crypt4gh(self, req: Verified, object_id: str, purpose: str
                 ) -> tuple[bytes, Iterator[bytes]]:
        """The whole object as a standard crypt4gh file for the caller: its header (one
        packet, decided and audited before this returns) and the segments."""
        held = self._object(object_id)
        header, _ = self._decide(req, held, purpose, "crypt4gh")
        return header, self.store.iter_segments(held.meta.record_id)

    def mine(self, req: Verified) -> list[dict[str, Any]]:
        """The caller's own objects held here (as their patient), each with its read
        log: what the patient's page shows."""
        self.vault.journal.accept(req.nonce, req.caller, req.ts_ms)
        return [{"id": commitment.hex(), "record": record.hex(),
                 "readers": self.store.readers(record), "reads": self.store.reads(record)}
                for record, commitment in self.store.objects_of(req.caller)]

    def reads(self, req: Verified, object_id: str) -> list[dict[str, Any]]:
        """Who read which range or region: for the patient and the institution."""
        held = self._object(object_id)
        if req.caller not in (held.meta.patient, self.vault.org):
            raise ACCESS_DENIED("only the patient or the institution sees the read log")
        self.vault.journal.accept(req.nonce, req.caller, req.ts_ms)
        return self.store.reads(held.meta.record_id)
