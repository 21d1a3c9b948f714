"""Genomic objects end to end on the in-process consortium (``docs/genomics.md``): a
bgzipped VCF sealed as crypt4gh by a practitioner, registered on chain by the vault,
read by region through a hand-written htsget client (every segment proven against the
chain's hash), DRS, the crypt4gh download opened by the ``crypt4gh`` package, consent
refusals with their audit entries, a tampered segment, and the patient's read log."""

from __future__ import annotations

import gzip
import hashlib
import io
import time
from collections.abc import Iterator
from typing import Any

import crypt4gh.lib
import pytest

from phrchain.client.http import ApiError, NodeClient
from phrchain.genome import bgzf, refget, vcf
from phrchain.genome import crypt4gh as c4
from phrchain.genome.errors import GenomeError
from phrchain.genome.store import GenomeStore
from tests.consortium import A1, B1, HOSPITAL_A, Consortium, P, Q, running

DAY = 86_400_000
ORG = HOSPITAL_A.did


def store_of(c: Consortium) -> GenomeStore:
    """The genome store of hospital A's vault (a second connection to its file)."""
    return GenomeStore(c.vaults[ORG].config.directory / "genome")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("genome")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def sample() -> tuple[bytes, bytes]:
    """(bgzipped VCF, its uncompressed text): 3 chromosomes, 15,000 records each, several
    64 KiB segments and BGZF blocks."""
    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(samples=3, per_chrom=15000, chroms=("chr1", "chr2", "chr3")),
                   sink)
    return sink.getvalue(), gzip.decompress(sink.getvalue())


@pytest.fixture(scope="module")
def sealed(c: Consortium, sample: tuple[bytes, bytes]) -> str:
    obj = c.client(A1).genome.seal(io.BytesIO(sample[0]), P.did, custodian=ORG)
    c.flush()
    on_chain = c.query("records/get", record=obj.record)
    assert on_chain["status"] == "active" and on_chain["patient"] == P.did
    return obj.id


def test_the_chain_holds_commitments_only(c: Consortium, sealed: str,
                                          sample: tuple[bytes, bytes]) -> None:
    """The chain's record has the segments' root, a size bucket and commitments: no
    plaintext digest, no refget digest, no exact size (they are in the sealed
    descriptor, which the reader opens and checks against the chain)."""
    held = store_of(c).by_commitment(bytes.fromhex(sealed))
    on_chain = c.query("records/get", record=held.meta.record_id.hex())
    assert on_chain["hash"] == held.meta.root.hex()
    assert on_chain["commitment"] == sealed
    digest = hashlib.sha256(sample[0]).hexdigest()
    assert digest not in str(on_chain) and str(held.meta.plain_size) not in str(on_chain)
    d = c.client(P).genome.descriptor(ORG, sealed, purpose="PATRQT")
    assert d.sha256 == digest and d.plain_size == len(sample[0]) and d.format == "vcf"


def test_region_read_returns_exactly_the_region(c: Consortium, sealed: str,
                                                sample: tuple[bytes, bytes]) -> None:
    region = bgzf.Region.parse("chr2:10001-12000")
    want = list(bgzf.records_in(sample[1], region))
    assert len(want) == 200
    got = c.client(P).genome.region(ORG, sealed, region, purpose="PATRQT")
    assert got == want
    ticket = c.client(P).genome.htsget(ORG, sealed, region, purpose="PATRQT")
    assert set(ticket["htsget"]) == {"format", "urls"} and ticket["htsget"]["format"] == "VCF"
    assert all(u["url"].startswith(c.directory[ORG]) for u in ticket["htsget"]["urls"])
    data = c.client(P).genome.fetch_ticket(ORG, ticket)
    # the ticket covers the header and a few blocks, not the whole object
    assert len(data) < len(sample[0]) // 4
    text = gzip.decompress(data)
    assert text.startswith(b"##fileformat=VCFv4.3") and b"#CHROM" in text


def test_drs_object_and_crypt4gh_download(c: Consortium, sealed: str,
                                          sample: tuple[bytes, bytes]) -> None:
    p = c.client(P)
    obj = p.genome.drs(ORG, sealed, purpose="PATRQT")
    assert obj["id"] == sealed and obj["self_uri"].startswith("drs://")
    assert obj["self_uri"].endswith("/" + sealed)
    assert obj["checksums"] == [{"type": "sha-256",
                                 "checksum": hashlib.sha256(sample[0]).hexdigest()}]
    assert obj["size"] == len(sample[0])
    assert obj["created_time"].endswith("Z") and obj["created_time"][:2] == "20"
    assert obj["access_methods"][0]["access_url"]["url"].endswith(
        f"/v1/vault/genome/{sealed}/c4gh?purpose=PATRQT")
    file = io.BytesIO()
    p.genome.crypt4gh(ORG, sealed, file, purpose="PATRQT")
    out = io.BytesIO()
    file.seek(0)
    crypt4gh.lib.decrypt([(0, P.encryption_key.secret, None)], file, out)
    assert out.getvalue() == sample[0]
    file.seek(0)
    with pytest.raises(ValueError):  # the package's reader: no packet for Q's key
        crypt4gh.lib.decrypt([(0, Q.encryption_key.secret, None)], file, io.BytesIO())


def test_consent_no_consent_granted_outside_purpose_revoked(c: Consortium, sealed: str,
                                                            sample: tuple[bytes, bytes]
                                                            ) -> None:
    region = bgzf.Region.parse("chr1:1-500")
    b1, p = c.client(B1), c.client(P)
    with pytest.raises(ApiError) as denied:
        b1.genome.region(ORG, sealed, region)
    assert (denied.value.codespace, denied.value.code) == ("vault", 26)
    assert "no_consent" in denied.value.message
    record = store_of(c).by_commitment(bytes.fromhex(sealed)).meta.record_id.hex()
    consent = p.consent.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                              scope={"records": [record]}, purposes=["TREAT"],
                              start_ms=now_ms() - 1000, end_ms=now_ms() + DAY,
                              share_existing=False)
    with pytest.raises(ApiError) as no_packet:  # consented, but no header packet yet
        b1.genome.region(ORG, sealed, region)
    assert (no_packet.value.codespace, no_packet.value.code) == ("vault", 31)
    p.genome.grant(ORG, sealed, B1.did, purpose="PATRQT")
    assert b1.genome.region(ORG, sealed, region) == list(bgzf.records_in(sample[1], region))
    with pytest.raises(ApiError) as purpose:
        b1.genome.region(ORG, sealed, region, purpose="HRESCH")
    assert "purpose_not_permitted" in purpose.value.message
    p.consent.revoke(consent)
    with pytest.raises(ApiError) as revoked:
        b1.genome.read_range(ORG, sealed, 0, 100)
    assert "consent_revoked" in revoked.value.message
    assert p.genome.revoke(ORG, sealed, B1.did)
    c.flush()
    mine = [(e["decision"], e["reason"], e["purpose"]) for e in p.audit.log(P.did)
            if e["record"] == record and e["accessor"] == B1.did]
    assert mine[0] == ("deny", "no_consent", "TREAT")
    assert ("permit", "consent", "TREAT") in mine
    assert ("deny", "purpose_not_permitted", "HRESCH") in mine
    assert mine[-1] == ("deny", "consent_revoked", "TREAT")
    log = p.genome.reads(ORG, sealed)
    b1_reads = [(r["what"], r["decision"]) for r in log if r["accessor"] == B1.did]
    assert ("htsget chr1:1-500", "deny:no_consent") in b1_reads
    assert ("htsget chr1:1-500", "permit:consent") in b1_reads
    assert ("bytes 0-100", "deny:consent_revoked") in b1_reads
    with pytest.raises(ApiError) as not_theirs:
        b1.genome.reads(ORG, sealed)
    assert (not_theirs.value.codespace, not_theirs.value.code) == ("vault", 26)


def test_a_tampered_segment_fails_the_proof(c: Consortium, sealed: str) -> None:
    store = store_of(c)
    path = store.file_of(store.by_commitment(bytes.fromhex(sealed)).meta.record_id)
    original = path.read_bytes()
    at = c4.CIPHER_SEGMENT_SIZE + 1  # inside segment 1
    path.write_bytes(original[:at] + bytes([original[at] ^ 1]) + original[at + 1:])
    try:
        p = c.client(P)
        assert p.genome.read_range(ORG, sealed, 0, 1000, purpose="PATRQT")  # segment 0 ok
        with pytest.raises(GenomeError) as bad:
            p.genome.read_range(ORG, sealed, 70_000, 70_100, purpose="PATRQT")
        assert (bad.value.codespace, bad.value.code) == ("c4gh", 12)
    finally:
        path.write_bytes(original)


def test_erasure_on_chain_shreds_the_object(c: Consortium, sample: tuple[bytes, bytes]
                                            ) -> None:
    obj = c.client(A1).genome.seal(io.BytesIO(sample[0][:100_000]), P.did, custodian=ORG,
                                   index=False)
    c.flush()
    store = store_of(c)
    path = store.file_of(bytes.fromhex(obj.record))
    assert path.exists() and store.readers(bytes.fromhex(obj.record))
    c.client(P).records.erase(obj.record)
    c.sync()
    assert not path.exists()
    assert store.readers(bytes.fromhex(obj.record)) == []  # the data keys are gone
    with pytest.raises(ApiError) as gone:
        c.client(P).genome.drs(ORG, obj.id, purpose="PATRQT")
    assert (gone.value.status, gone.value.codespace, gone.value.code) == (404, "c4gh", 19)


def test_a_self_reported_fasta_carries_its_refget_digests_sealed(c: Consortium) -> None:
    """The patient uploads (and registers) a FASTA: the sealed descriptor names each
    sequence's refget digest; the chain has none of them."""
    fasta = b">chrM test\nACGT\nacgt\n>empty\n\n>chr21\n" + b"ACGTN" * 30000 + b"\n"
    obj = c.client(P).genome.seal(io.BytesIO(fasta), P.did, fmt="fasta", custodian=ORG)
    assert not obj.registered_by_vault
    d = c.client(P).genome.descriptor(ORG, obj.id, purpose="PATRQT")
    assert d.format == "fasta" and d.plain_size == len(fasta)
    assert d.refget[0] == ["chrM", refget.sequence_id(b"ACGTACGT"), 8]
    assert d.refget[1] == ["empty", "SQ.z4PhNX7vuL3xVChQ1m2AB9Yg5AULVxXc", 0]
    assert d.refget[2][1] == refget.sequence_id(b"ACGTN" * 30000)
    on_chain = str(c.query("records/get", record=obj.record))
    assert all(r[1][3:] not in on_chain for r in d.refget)


def test_the_record_routes_do_not_tell_a_genomic_object_apart(c: Consortium,
                                                              sealed: str) -> None:
    """Asked for through the record routes, a genomic object is decided and audited like
    any record: a caller without consent gets the same refusal as for an ordinary record
    (the id does not reveal the category); the patient is pointed at DRS."""
    record = store_of(c).by_commitment(bytes.fromhex(sealed)).meta.record_id.hex()
    ordinary = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did,
                                        resource="Basic", category="other")
    answers = []
    for rid in (ordinary, record):
        with pytest.raises(ApiError) as refused:
            c.client(B1).records.open(rid)
        answers.append((refused.value.status, refused.value.codespace, refused.value.code,
                        refused.value.message.replace(rid, "")))
    assert answers[0] == answers[1] and answers[0][:3] == (403, "vault", 26)
    with pytest.raises(ApiError) as pointed:
        c.client(P).records.open(record, purpose="PATRQT")
    assert (pointed.value.status, pointed.value.codespace, pointed.value.code) == (
        409, "c4gh", 22) and sealed in pointed.value.message
    c.flush()
    mine = [(e["accessor"], e["decision"]) for e in c.client(P).audit.log(P.did)
            if e["record"] == record]
    assert (B1.did, "deny") in mine and (P.did, "permit") in mine


def test_vault_verify_checks_the_genome_store(c: Consortium, sealed: str) -> None:
    from phrchain.gateway.verify import NodeChainView, verify_vault

    store = store_of(c)
    path = store.file_of(store.by_commitment(bytes.fromhex(sealed)).meta.record_id)
    home = c.vaults[ORG].config.directory
    with NodeClient(c.api_url) as node:
        clean = verify_vault(home, NodeChainView(node))
        assert not [f for f in clean.findings if f.subject.startswith("genome")]
        assert any(n.startswith("genome store:") for n in clean.notes)
        original = path.read_bytes()
        at = 2 * c4.CIPHER_SEGMENT_SIZE + 100
        path.write_bytes(original[:at] + bytes([original[at] ^ 1]) + original[at + 1:])
        try:
            found = [(f.error.codespace, f.error.code, f.detail)
                     for f in verify_vault(home, NodeChainView(node)).findings
                     if f.subject.startswith("genome")]
        finally:
            path.write_bytes(original)
    assert found == [("c4gh", 12, "segment 2 differs from its leaf hash (altered bytes)")]


def test_a_retried_upload_is_accepted_only_for_the_same_bytes(c: Consortium) -> None:
    """The client's retry after a lost answer: the same object again registers it (once
    on chain); other bytes under the held id are refused and change nothing."""
    from phrchain.client.vault import VaultClient
    from phrchain.genome.wire import decode_upload, encode_upload

    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(per_chrom=300), sink)
    captured: list[bytes] = []
    a1 = c.client(A1)
    vault = a1.session.vault(ORG)
    real = VaultClient._request_stream

    def spy(self: VaultClient, method: str, path: str, parts: Any, size: int,
            body_sha256: str) -> Any:
        captured.append(b"".join(parts))
        return real(self, method, path, [captured[-1]], size, body_sha256)

    vault._request_stream = spy.__get__(vault)  # type: ignore[method-assign]
    try:
        obj = a1.genome.seal(io.BytesIO(sink.getvalue()), P.did, custodian=ORG)
    finally:
        del vault._request_stream
    again = vault._request("POST", "/v1/vault/genome", body=captured[0]).json()
    assert again["id"] == obj.id and again["registering"] == [obj.record]
    c.flush()
    assert c.query("records/get", record=obj.record)["status"] == "active"
    decoded = decode_upload(captured[0])
    assert decoded is not None
    fields, segments = decoded
    fields["root"] = fields["register"]["hash"] = "00" * 32  # described consistently
    with pytest.raises(ApiError) as other:
        vault._request("POST", "/v1/vault/genome", body=encode_upload(fields, segments))
    assert (other.value.codespace, other.value.code) == ("vault", 30)
    assert "other bytes" in other.value.message
    assert store_of(c).get(bytes.fromhex(obj.record)).meta.plain_size == len(sink.getvalue())


def test_genome_reads_and_record_reads_share_one_decide_and_audit(
        c: Consortium, sealed: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GA4GH routes and ``Vault.access`` decide and audit through the one public
    ``Vault.decide_and_audit`` (no copy of the sequence, no private vault calls)."""
    from pathlib import Path

    from phrchain.gateway import genome as genome_gateway
    from phrchain.gateway.service import Vault
    seen: list[tuple[str, str, str]] = []
    original = Vault.decide_and_audit

    def spy(self: Vault, req: object, record_hex: str, action: str, purpose: str,
            patient: str, author: str | None, **kw: Any) -> dict[str, object]:
        seen.append((record_hex, action, purpose))
        return original(self, req, record_hex, action, purpose, patient,  # type: ignore[arg-type]
                        author, **kw)

    monkeypatch.setattr(Vault, "decide_and_audit", spy)
    record = store_of(c).by_commitment(bytes.fromhex(sealed)).meta.record_id.hex()
    p = c.client(P)
    p.genome.drs(ORG, sealed, purpose="PATRQT")
    with pytest.raises(ApiError):
        p.records.open(record, purpose="PATRQT")  # c4gh/22, after deciding and auditing
    assert seen == [(record, "read", "PATRQT")] * 2
    source = Path(genome_gateway.__file__).read_text()
    assert "vault._" not in source and "audit_seal" not in source


def ga4gh_get(c: Consortium, who: Any, path: str, params: dict[str, str],
              signed: bool = True) -> Any:
    import httpx

    from phrchain.vault.requests import sign_request
    headers = sign_request(who.signing_key, who.did, ORG, "GET", path, params, b"",
                           now_ms()) if signed else {}
    return httpx.get(c.client(P).session.directory[ORG] + path, params=params,
                     headers=headers, timeout=30)


def test_drs_and_htsget_errors_have_the_ga4gh_shapes(c: Consortium, sealed: str) -> None:
    """DRS errors are ``{"msg", "status_code"}``, htsget errors ``{"htsget": {"error",
    "message"}}`` with the spec's names and statuses; phrchain's stable code leads the
    message and the vault's error object rides beside (what the SDK reads)."""
    unknown = "ab" * 32
    cases = [  # (who, path, params, signed, status, htsget name, phrchain code)
        (P, f"/ga4gh/drs/v1/objects/{unknown}", {"purpose": "PATRQT"}, True, 404, None,
         "c4gh/19 not_genome_object"),
        (B1, f"/ga4gh/drs/v1/objects/{sealed}", {}, True, 403, None,
         "vault/26 access_denied"),
        (P, f"/ga4gh/drs/v1/objects/{sealed}", {}, False, 401, None,
         "vault/20 bad_request_signature"),
        (B1, f"/variants/{sealed}", {"referenceName": "chr1"}, True, 403,
         "PermissionDenied", "vault/26 access_denied"),
        (P, f"/variants/{unknown}", {}, True, 404, "NotFound", "c4gh/19 not_genome_object"),
        (P, f"/variants/{sealed}", {"format": "BCF"}, True, 400, "UnsupportedFormat",
         "c4gh/23 unsupported_format"),
        (P, f"/variants/{sealed}", {"referenceName": "chr1", "start": "500", "end": "100",
                                    "purpose": "PATRQT"}, True, 400, "InvalidRange",
         "c4gh/14 bad_region"),
        (P, f"/variants/{sealed}", {"referenceName": "chr1", "start": "x"}, True, 400,
         "InvalidInput", "vault/25 malformed_request"),
        (P, f"/variants/{sealed}", {}, False, 401, "InvalidAuthentication",
         "vault/20 bad_request_signature"),
        # an id with an encoded '/' matches no route: the framework's 404, in the shape
        # of the standard whose path it is under (found by the API property campaign)
        (P, "/ga4gh/drs/v1/objects/exchange%2Fapprove", {}, True, 404, None,
         "vault/25 malformed_request"),
        (P, "/variants/a%2Fb", {}, True, 404, "NotFound", "vault/25 malformed_request"),
    ]
    for who, path, params, signed, status, name, code in cases:
        answer = ga4gh_get(c, who, path, params, signed)
        body = answer.json()
        assert answer.status_code == status, (path, params, body)
        if name is None:
            assert body["status_code"] == status and body["msg"].startswith(code), body
        else:
            assert body["htsget"]["error"] == name, body
            assert body["htsget"]["message"].startswith(code), body
        space, number = code.split(" ")[0].split("/")
        assert (body["error"]["codespace"], body["error"]["code"]) == (space, int(number))
