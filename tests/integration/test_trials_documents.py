"""Trial documents encrypted in the sponsor's vault, through the real gateway HTTP API
(issue 16, "commitments before use"): the sponsor's researcher commits the protocol, the
statistical analysis plan and the randomisation list on chain and stores each,
encrypted, in the research institute's vault; a regulator's auditor fetches them and
the SDK checks each against its on-chain commitment; a reader the sponsor did not
authorise is refused until the sponsor shares it; a document that does not match its
commitment (swapped in the vault, or a flipped ciphertext byte) is refused."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.api.server import BackgroundServer
from phrchain.cli.main import main
from phrchain.client import builder
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.trialfile.documents import document_id
from phrchain.client.trialfile.errors import TrialFileError
from phrchain.client.trials import Sealed
from phrchain.client.wallet import Wallet
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.vault import crypto
from tests.consortium import B1, CHAIN, GA, HOSPITAL_A, RESEARCH, RR, P, running
from tests.trialflow import protocol

PROTOCOL = b"Protocol v1: drug X against placebo, 200 adults with condition Y ..."
SAP = b"Statistical analysis plan: ITT, mixed model, alpha 0.05 ..."
RANDOMISATION = b"1:drug 2:placebo 3:placebo 4:drug ..."


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("trial-docs")
    with running(home) as c:
        vault = Vault(VaultConfig(home / "vault-research", flush_interval_s=0.05,
                                  sync_interval_s=3600),
                      LocalChain(c.node), RESEARCH.signing_key, RESEARCH.encryption_key)
        vault.start()
        try:
            with BackgroundServer(create_vault_app(vault)) as url:
                c.directory[RESEARCH.did] = url
                sponsor = c.client(RR).trials
                sealed = Sealed.of(PROTOCOL)
                trial = sponsor.register(
                    time.time_ns() // 1_000_000 + 60_000, dataclasses.replace(
                        protocol(sites=(HOSPITAL_A.did,)), protocol=sealed.commitment))
                docs = {"protocol": (sealed, PROTOCOL)}
                for kind, text in (("sap", SAP), ("randomisation", RANDOMISATION)):
                    docs[kind] = (sponsor.commit(trial, kind, text), text)
                for kind, (s, text) in docs.items():
                    assert sponsor.documents.store(trial, kind, text, s.salt) == s.commitment
                yield {"c": c, "vault": vault, "trial": trial, "docs": docs, "home": home}
        finally:
            vault.close()


def test_a_regulator_fetches_each_document_checked_against_the_chain(
        world: dict[str, Any]) -> None:
    c, trial = world["c"], world["trial"]
    regulator = c.client(GA).trials.documents
    for kind, (sealed, text) in world["docs"].items():
        assert regulator.fetch(trial, kind, sealed.commitment) == text
    # the vault holds ciphertext only
    held = world["vault"].trial_documents.store
    for kind, (sealed, text) in world["docs"].items():
        chunks = b"".join(held.iter_chunks(document_id(trial, kind, sealed.commitment)))
        assert text not in chunks and text[:16] not in chunks


def test_a_reader_needs_the_sponsors_authorisation(world: dict[str, Any]) -> None:
    c, trial = world["c"], world["trial"]
    sealed, text = world["docs"]["sap"]
    for who in (B1, P):
        with pytest.raises(ApiError) as refused:
            c.client(who).trials.documents.fetch(trial, "sap", sealed.commitment)
        assert (refused.value.status, refused.value.codespace, refused.value.code) == \
            (403, "vault", 26)
    clerk = Wallet.from_secrets(bytes([41]) * 32, bytes([141]) * 32, "sponsor's clerk")
    with NodeClient(c.api_url, timeout=30) as admin:   # staff, but no researcher
        request = builder.join_request(clerk, CHAIN, RESEARCH.did)
        admin.send(RESEARCH, [builder.admit_practitioner(
            clerk.did, ["clerk"], clerk.enc_key, request["pop"])])
    with pytest.raises(ApiError) as refused:
        c.client(clerk).trials.documents.fetch(trial, "sap", sealed.commitment)
    assert refused.value.code == 26
    c.client(RR).trials.documents.share(trial, "sap", sealed.commitment, B1.did)
    assert c.client(B1).trials.documents.fetch(trial, "sap", sealed.commitment) == text
    with pytest.raises(ApiError) as refused:   # B1 is no sponsor: it cannot share on
        c.client(B1).trials.documents.share(trial, "sap", sealed.commitment, P.did)
    assert refused.value.code == 26


def test_only_committed_documents_and_only_by_the_sponsor(world: dict[str, Any]) -> None:
    c, trial = world["c"], world["trial"]
    sponsor = c.client(RR).trials.documents
    other = Sealed.of(b"a SAP nobody committed")
    with pytest.raises(TrialFileError) as refused:          # the SDK checks the chain
        sponsor.store(trial, "sap", b"a SAP nobody committed", other.salt)
    assert (refused.value.codespace, refused.value.code) == ("trialfile", 7)
    with pytest.raises(TrialFileError) as refused:
        c.client(GA).trials.documents.fetch(trial, "sap", other.commitment)
    assert refused.value.code == 7
    # the vault checks it too: an upload of an uncommitted document, bypassing the SDK
    record = document_id(trial, "sap", other.commitment)
    s = crypto.seal(record, RESEARCH.did, other.salt + b"a SAP nobody committed")
    vault = c.client(RR).session.vault(RESEARCH.did)
    with pytest.raises(ApiError) as api_refused:
        vault.trial_document_upload(trial, "sap", other.commitment, s.meta,
                                    {RESEARCH.did: b"\0" * 80}, s.chunks)
    assert (api_refused.value.codespace, api_refused.value.code) == ("vault", 29)
    # a committed document, uploaded by someone who does not act for the sponsor
    sealed = world["docs"]["sap"][0]
    with pytest.raises(ApiError) as api_refused:
        c.client(B1).session.vault(RESEARCH.did).trial_document_upload(
            trial, "sap", sealed.commitment, s.meta, {RESEARCH.did: b"\0" * 80}, s.chunks)
    assert api_refused.value.code == 30


def _replace(world: dict[str, Any], kind: str, plaintext: bytes) -> None:
    """What a dishonest or damaged vault serves under a document's id: another
    plaintext, properly encrypted for the same readers."""
    trial, (sealed, _) = world["trial"], world["docs"][kind]
    store = world["vault"].trial_documents.store
    record = document_id(trial, kind, sealed.commitment)
    store.shred(record)
    fake = crypto.seal(record, RESEARCH.did, plaintext)
    store.put_sealed(fake, {RESEARCH.did: crypto.wrap_key(
        fake.data_key, RESEARCH.enc_key, record, RESEARCH.did)})


def test_a_document_that_does_not_match_its_commitment_is_refused(
        world: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    c, trial = world["c"], world["trial"]
    sealed, text = world["docs"]["randomisation"]
    regulator = c.client(GA).trials.documents
    _replace(world, "randomisation", sealed.salt + b"1:placebo 2:drug (rewritten)")
    with pytest.raises(TrialFileError) as refused:
        regulator.fetch(trial, "randomisation", sealed.commitment)
    assert (refused.value.codespace, refused.value.code, refused.value.error.name) == \
        ("trialfile", 8, "document_mismatch")
    _replace(world, "randomisation", sealed.salt + text)      # honest again
    assert regulator.fetch(trial, "randomisation", sealed.commitment) == text
    # a flipped ciphertext byte on the way (the vault's answer altered in transit)
    from phrchain.client.vault import VaultClient
    from phrchain.vault.crypto import ChunkPart

    honest = VaultClient.trial_document

    def flipped(self: VaultClient, *args: Any) -> dict[str, Any]:
        answer = honest(self, *args)
        part = answer["parts"][0]
        answer["parts"][0] = ChunkPart(part.index, bytes([part.data[0] ^ 1]) + part.data[1:],
                                       part.proof)
        return answer

    monkeypatch.setattr(VaultClient, "trial_document", flipped)
    with pytest.raises(TrialFileError) as refused:
        regulator.fetch(trial, "randomisation", sealed.commitment)
    assert refused.value.code == 8


def test_the_cli_stores_and_fetches(world: dict[str, Any], tmp_path: Path) -> None:
    c, trial = world["c"], world["trial"]
    sealed, text = world["docs"]["protocol"]
    vaults = tmp_path / "vaults.json"
    vaults.write_text(json.dumps({RESEARCH.did: c.directory[RESEARCH.did]}))
    wallet, passfile = tmp_path / "ga.json", tmp_path / "pass"
    passfile.write_text("a test passphrase\n")
    from phrchain.client.wallet import KdfParams

    GA.save(wallet, "a test passphrase", KdfParams(memory_kib=1024, iterations=1))
    out = tmp_path / "protocol.out"
    assert main(["trials", "document", trial, "--kind", "protocol", "--commitment",
                 sealed.commitment, "--out", str(out), "--node", c.api_url, "--wallet",
                 str(wallet), "--passphrase-file", str(passfile), "--vaults",
                 str(vaults)]) == 0
    assert out.read_bytes() == text
    # the sponsor's researcher commits a new SAP and stores it with --store
    sap = tmp_path / "sap-v2.txt"
    sap.write_bytes(b"Statistical analysis plan v2 ...")
    rr = tmp_path / "rr.json"
    RR.save(rr, "a test passphrase", KdfParams(memory_kib=1024, iterations=1))
    assert main(["trials", "commit", trial, "--kind", "sap", "--document", str(sap),
                 "--store", "--node", c.api_url, "--wallet", str(rr), "--passphrase-file",
                 str(passfile), "--vaults", str(vaults)]) == 0
    latest = c.query("trials/commitments", trial=trial, kind="sap")["commitments"][-1]
    assert main(["trials", "document", trial, "--kind", "sap", "--commitment",
                 latest["commitment"], "--out", str(out), "--node", c.api_url, "--wallet",
                 str(wallet), "--passphrase-file", str(passfile), "--vaults",
                 str(vaults)]) == 0
    assert out.read_bytes() == sap.read_bytes()


def test_a_backup_keeps_the_trial_documents(world: dict[str, Any], tmp_path: Path) -> None:
    from phrchain.storage.backup import backup, restore
    from phrchain.vault.blobs import BlobStore

    c, trial = world["c"], world["trial"]
    sealed, _ = world["docs"]["sap"]
    manifest = backup(c.home, tmp_path / "backup", world["home"] / "vault-research")
    assert "vault/trial-documents/blobs.sqlite3" in manifest["files"]
    restore(tmp_path / "backup", tmp_path / "node", tmp_path / "vault")
    with BlobStore(tmp_path / "vault" / "trial-documents") as store:
        record = document_id(trial, "sap", sealed.commitment)
        assert store.get_meta(record).patient == RESEARCH.did
    from phrchain.gateway.verify import verify_vault
    report = verify_vault(tmp_path / "vault")  # every store restored whole (issue 21)
    assert report.ok, [str(f) for f in report.findings]
    assert any(n.startswith("trial documents: ") for n in report.notes), report.notes


def test_vault_verify_checks_the_trial_documents(world: dict[str, Any]) -> None:
    import sqlite3

    from phrchain.gateway.verify import verify_vault

    home = world["home"] / "vault-research"
    assert verify_vault(home).ok
    sealed = world["docs"]["protocol"][0]
    record = document_id(world["trial"], "protocol", sealed.commitment)
    world["vault"].trial_documents.close()          # reopened on next use
    path = home / "trial-documents" / "blobs.sqlite3"
    with sqlite3.connect(path) as db:
        (leaf,) = db.execute("SELECT leaf FROM record_chunks WHERE record = ?",
                             (record,)).fetchone()
        (data,) = db.execute("SELECT data FROM chunks WHERE leaf = ?", (leaf,)).fetchone()
        db.execute("UPDATE chunks SET data = ? WHERE leaf = ?",
                   (bytes([data[0] ^ 1]) + data[1:], leaf))
    report = verify_vault(home)
    assert [(f.subject, f.error.name) for f in report.findings] == \
        [(f"trial document store: record {record.hex()}", "hash_mismatch")]
