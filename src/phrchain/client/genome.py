"""SDK for genomic objects (``docs/genomics.md``): seal a VCF/BAM/… as crypt4gh with one
header packet per reader, upload it to the custodian's vault (registered on chain as a
record), grant and revoke readers, and read — DRS, htsget tickets, byte ranges and
regions — checking every segment's inclusion proof against the *chain's* record hash
before decrypting it. The data key never leaves this machine unsealed.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, BinaryIO
from urllib.parse import parse_qsl, urlsplit

from phrchain.client.session import RecordsError, Session
from phrchain.core import encoding
from phrchain.genome import bai, bgzf, errors, objects, refget
from phrchain.genome import crypt4gh as c4
from phrchain.genome import descriptor as gdesc
from phrchain.genome.wire import upload_prefix
from phrchain.modules.records.messages import Register, size_bucket

_SEND_BLOCK = 1 << 20


@dataclass(frozen=True)
class SealedObject:
    record: str
    id: str  # the DRS id: the record's commitment
    custodian: str
    registered_by_vault: bool


def _base64_parts(answer: dict[str, Any]) -> list[objects.SegmentPart]:
    import base64

    return [objects.SegmentPart(int(p["index"]), base64.b64decode(p["data"]),
                                tuple(bytes.fromhex(h) for h in p["proof"]))
            for p in answer["parts"]]


class GenomeClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def _secret(self) -> bytes:
        return self.session.wallet.encryption_key.secret

    def _enc_key(self, did: str) -> bytes:
        return bytes.fromhex(self.session.identity(did)["enc_key"])

    # -- sealing -----------------------------------------------------------------------
    def seal(self, source: BinaryIO, patient: str, *, fmt: str = "vcf",
             custodian: str | None = None, index: bool = True,
             sequences: Iterable[list[Any]] = (), bai_index: bytes | None = None
             ) -> SealedObject:
        """Seal ``source`` for the patient, the custodian institution and this wallet,
        build the region index (bgzipped VCF) or the refget digests of its sequences
        (FASTA; ``sequences`` adds ``[name, "SQ.…", length]`` items), and upload it: by
        staff, the vault registers it; by the patient (self-reported), this wallet does."""
        org = custodian or self.session.custodian_of_me()
        if not org:
            raise RecordsError("name the custodian institution")
        record_id = os.urandom(16)
        builder: bgzf.IndexBuilder | bai.BamIndexBuilder | None = \
            bgzf.IndexBuilder() if index and fmt == "vcf" else \
            bai.BamIndexBuilder(bai_index) if index and fmt == "bam" and bai_index else None
        fasta = refget.FastaDigester() if fmt == "fasta" else None
        spool = tempfile.TemporaryFile()  # the segments, sent from here after the fields

        def to_spool(_first: int, segments: memoryview, _leaves: Sequence[bytes]) -> None:
            spool.write(segments)

        def on_plain(block: bytes) -> None:
            if builder is not None:
                builder.feed(block)
            if fasta is not None:
                fasta.feed(block)

        with spool:
            sealed = objects.seal_stream(record_id, patient, source, batch_sink=to_spool,
                                         on_plain=on_plain)
            return self._seal_upload(sealed, spool, patient, org, fmt, sequences,
                                     None if builder is None else builder.finish(), fasta)

    def _seal_upload(self, sealed: objects.Sealed, spool: BinaryIO, patient: str, org: str,
                     fmt: str, sequences: Iterable[list[Any]],
                     index: bgzf.RegionIndex | bai.BamIndex | None,
                     fasta: refget.FastaDigester | None
                     ) -> SealedObject:
        me = self.session.wallet.did
        record_id = sealed.meta.record_id
        digests = [*map(list, sequences),
                   *([] if fasta is None else [list(d) for d in fasta.finish()])]
        meta = sealed.meta
        region_index = None if index is None else index.to_json()
        index_digest = "" if region_index is None else \
            hashlib.sha256(encoding.encode(region_index)).hexdigest()
        desc = gdesc.GenomeDescriptor.new(
            record=record_id.hex(), author=me, format=fmt, size=meta.size,
            segments=meta.segments, plain_size=meta.plain_size, sha256=sealed.sha256,
            refget=digests, index=index_digest,
            object_salt=sealed.salt.hex())
        readers = {patient, org, me}
        packets = {did: c4.seal_packet(c4.data_key_payload(sealed.data_key),
                                       self._enc_key(did)).hex() for did in sorted(readers)}
        staff = me != patient
        register = Register(record_id.hex(), patient, meta.root.hex(),
                            size_bucket(meta.size), meta.commitment.hex(),
                            desc.commitment().hex(), None if staff else org)
        fields = {"record": record_id.hex(), "patient": patient, "root": meta.root.hex(),
                  "size": meta.size, "segments": meta.segments,
                  "plain_size": meta.plain_size, "commitment": meta.commitment.hex(),
                  "packets": packets, "descriptor": gdesc.seal(desc, sealed.data_key).hex(),
                  "index": region_index, "sha256": sealed.sha256,
                  "register": register.to_msg() if staff else None}
        answer = self._send_upload(org, fields, spool)
        if not staff:
            self.session.send([register.to_msg()])
        return SealedObject(record_id.hex(), str(answer["id"]), org, staff)

    def _send_upload(self, org: str, fields: dict[str, Any], spool: BinaryIO
                     ) -> dict[str, Any]:
        """Stream the upload: the fields, then the spooled segments in 1 MiB reads (the
        signed body hash is taken in a first pass over the spool)."""
        prefix = upload_prefix(fields)
        digest = hashlib.sha256(prefix)
        spool.seek(0)
        while block := spool.read(_SEND_BLOCK):
            digest.update(block)
        size = len(prefix) + spool.tell()
        spool.seek(0)

        def parts() -> Iterator[bytes]:
            yield prefix
            while block := spool.read(_SEND_BLOCK):
                yield block

        return dict(self.session.vault(org)._request_stream(
            "POST", "/v1/vault/genome", parts(), size, digest.hexdigest()).json())

    # -- grants ------------------------------------------------------------------------
    def data_keys(self, header_hex: str) -> list[bytes]:
        header, _ = c4.parse_header(bytes.fromhex(header_hex))
        return header.data_keys(self._secret)

    def grant(self, org: str, object_id: str, reader: str, purpose: str = "PATRQT") -> None:
        """The patient gives ``reader`` a header packet (their own key opens the data
        key; an audited read of the DRS object gives their packet)."""
        keys = self.data_keys(self.drs(org, object_id, purpose)["phrchain"]["header"])
        packet = c4.seal_packet(c4.data_key_payload(keys[0]), self._enc_key(reader))
        self.session.vault(org)._request("PUT", f"/v1/vault/genome/{object_id}/readers/"
                                         f"{reader}", body=packet)

    def revoke(self, org: str, object_id: str, reader: str) -> bool:
        answer = self.session.vault(org)._request(
            "DELETE", f"/v1/vault/genome/{object_id}/readers/{reader}").json()
        return bool(answer["dropped"])

    # -- reads -------------------------------------------------------------------------
    def drs(self, org: str, object_id: str, purpose: str = "TREAT") -> dict[str, Any]:
        return dict(self.session.vault(org)._request(
            "GET", f"/ga4gh/drs/v1/objects/{object_id}", {"purpose": purpose}).json())

    def descriptor(self, org: str, object_id: str, purpose: str = "TREAT"
                   ) -> gdesc.GenomeDescriptor:
        """The sealed descriptor, opened and checked against the chain's commitment; the
        DRS checksum must be the sealed one."""
        obj = self.drs(org, object_id, purpose)
        ext = obj["phrchain"]
        on_chain = self.session.descriptor(ext["record"])
        found = gdesc.open_sealed(bytes.fromhex(ext["descriptor"]),
                                  self.data_keys(ext["header"])[0],
                                  bytes.fromhex(ext["record"]),
                                  bytes.fromhex(on_chain["descriptor"]))
        if obj["checksums"][0]["checksum"] != found.sha256 or objects.commitment(
                bytes.fromhex(found.object_salt), bytes.fromhex(found.sha256)) \
                != bytes.fromhex(on_chain["commitment"]):
            raise errors.DIGEST_MISMATCH("the DRS checksum is not the sealed, committed one")
        return found

    def _checked_range(self, answer: dict[str, Any]) -> bytes:
        on_chain = self.session.descriptor(answer["record"])
        if on_chain.get("status") != "active":
            raise errors.BAD_PROOF("the record is not active on chain")
        root = bytes.fromhex(on_chain["hash"])
        return objects.read_range(self.data_keys(answer["header"]), _base64_parts(answer),
                                  root=root, segments=int(answer["segments"]),
                                  plain_size=int(answer["plain_size"]),
                                  start=int(answer["start"]), end=int(answer["end"]))

    def read_range(self, org: str, object_id: str, start: int, end: int,
                   purpose: str = "TREAT") -> bytes:
        answer = self.session.vault(org)._request(
            "GET", f"/v1/vault/genome/{object_id}/range",
            {"start": str(start), "end": str(end), "purpose": purpose}).json()
        return self._checked_range(answer)

    def htsget(self, org: str, object_id: str, region: bgzf.Region | None,
               purpose: str = "TREAT", endpoint: str = "variants") -> dict[str, Any]:
        """An htsget ticket: ``variants`` (VCF) or ``reads`` (BAM)."""
        params = {"purpose": purpose}
        if region is not None:  # htsget: 0-based start, exclusive end
            params |= {"referenceName": region.chrom, "start": str(region.start - 1),
                       "end": str(region.end)}
        return dict(self.session.vault(org)._request("GET", f"/{endpoint}/{object_id}",
                                                     params).json())

    def fetch_ticket(self, org: str, ticket: dict[str, Any]) -> bytes:
        """Follow an htsget ticket: fetch each URL in order (signed), check and decrypt
        it, and concatenate: the result is the BGZF data the ticket describes."""
        return b"".join(data for _, data in self._ticket_parts(org, ticket))

    def _ticket_parts(self, org: str, ticket: dict[str, Any]
                      ) -> Iterator[tuple[int, bytes]]:
        """Each URL's ``(plaintext offset, bytes)``, proven and decrypted."""
        for item in ticket["htsget"]["urls"]:
            url = urlsplit(item["url"])
            query = dict(parse_qsl(url.query))
            answer = self.session.vault(org)._request("GET", url.path, query).json()
            yield int(answer["start"]), self._checked_range(answer)

    def alignments(self, org: str, object_id: str, region: bgzf.Region,
                   purpose: str = "TREAT") -> list[bytes]:
        """The BAM alignment records (each with its ``block_size``) overlapping
        ``region``, read through htsget ``reads``: the ticket's ranges, each proven,
        decoded from the BAI chunks the ticket lists (``genome/bai.py``)."""
        return self._bam_region(org, object_id, region, purpose)[1]

    def region_bam(self, org: str, object_id: str, region: bgzf.Region, sink: BinaryIO,
                   purpose: str = "TREAT") -> int:
        """A BAM file of the header and the alignments overlapping ``region`` into
        ``sink``; returns how many alignments."""
        header, records = self._bam_region(org, object_id, region, purpose)
        bai.write_bam(header, records, sink)
        return len(records)

    def _bam_region(self, org: str, object_id: str, region: bgzf.Region, purpose: str
                    ) -> tuple[bytes, list[bytes]]:
        ticket = self.htsget(org, object_id, region, purpose, endpoint="reads")
        blocks = bai.Blocks(self._joined(self._ticket_parts(org, ticket)))
        chunks = [(int(lo), int(hi)) for lo, hi in ticket["phrchain"]["chunks"]]
        return bai.header_bytes(blocks), list(bai.alignments_in(
            blocks, chunks, int(ticket["phrchain"]["reference"]), region.start - 1,
            region.end))

    @staticmethod
    def _joined(parts: Iterable[tuple[int, bytes]]) -> list[tuple[int, bytes]]:
        """Adjacent parts (a range cut at the endpoint's limit) joined: a BGZF block may
        straddle the cut."""
        out: list[tuple[int, bytes]] = []
        for offset, data in parts:
            if out and out[-1][0] + len(out[-1][1]) == offset:
                out[-1] = (out[-1][0], out[-1][1] + data)
            else:
                out.append((offset, data))
        return out

    def region(self, org: str, object_id: str, region: bgzf.Region,
               purpose: str = "TREAT") -> list[bytes]:
        """The VCF record lines overlapping ``region``, read through htsget."""
        data = self.fetch_ticket(org, self.htsget(org, object_id, region, purpose))
        return list(bgzf.records_in(gzip.decompress(data), region))

    def crypt4gh(self, org: str, object_id: str, sink: BinaryIO, purpose: str = "TREAT"
                 ) -> int:
        """The object as a standard crypt4gh file (header for this wallet only)."""
        response = self.session.vault(org)._request(
            "GET", f"/v1/vault/genome/{object_id}/c4gh", {"purpose": purpose})
        sink.write(response.content)
        return len(response.content)

    def mine(self, org: str) -> list[dict[str, Any]]:
        """This wallet's objects (as their patient) at ``org``'s vault, with read logs."""
        return list(self.session.vault(org)._request("GET", "/v1/vault/genome/mine")
                    .json()["objects"])

    def reads(self, org: str, object_id: str) -> list[dict[str, Any]]:
        answer = self.session.vault(org)._request(
            "GET", f"/v1/vault/genome/{object_id}/reads").json()
        return list(answer["reads"])


def decrypt_file(data: bytes, secret: bytes) -> bytes:
    out = io.BytesIO()
    c4.decrypt_stream(io.BytesIO(data), out, secret)
    return out.getvalue()


__all__ = ["GenomeClient", "SealedObject", "decrypt_file"]
