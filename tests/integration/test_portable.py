"""The portable patient-held record (M7) on a running consortium: a patient with records
at hospital A exports them to one encrypted file and is treated with it at hospital B.
Every tampering is refused with the first failing item named, and nothing is written."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from phrchain.client import builder
from phrchain.client.http import NodeClient
from phrchain.client.portable import export_portable, import_portable, verify_portable
from phrchain.client.portable_file import Payload, PortableError, read, seal, write
from phrchain.client.records import resource_bytes
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.core import encoding, keys
from phrchain.vault import crypto
from tests.consortium import A1, B1, HOSPITAL_A, HOSPITAL_B, VALIDATOR, Consortium, running

PASSPHRASE = "portable record passphrase"
FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)  # tests only: cheap to derive
DAY = 86_400_000
GLUCOSE = {"resourceType": "Observation", "status": "final",
           "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                               "observation-category",
                                     "code": "laboratory"}]}],
           "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0",
                                "display": "Glucose"}]},
           "valueQuantity": {"value": 5, "unit": "mmol/L"}}
ASTHMA = {"resourceType": "Condition", "subject": {"reference": "Patient/p"},
          "code": {"coding": [{"system": "http://snomed.info/sct", "code": "195967001",
                               "display": "Asthma"}]}}
GENOME = bytes(range(256)) * 6144  # 1.5 MiB: a large object of two chunks


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("portable")) as consortium:
        yield consortium


@dataclass
class Exported:
    patient: Wallet
    path: Path
    records: dict[str, bytes]  # record id -> plaintext
    consent: str
    genome: str
    glucose: str


def new_patient(c: Consortium, label: str) -> Wallet:
    patient = Wallet.create(label)
    with NodeClient(c.api_url, timeout=30) as node:
        node.send(patient, [builder.register_patient(patient.enc_key)])
    return patient


def export_for(c: Consortium, tmp: Path, label: str) -> Exported:
    """A fresh patient with records at hospital A (two FHIR resources, a two-chunk large
    object), one consent to B1 for laboratory results, audit entries; then exported."""
    patient = new_patient(c, label)
    a1 = c.client(A1)
    glucose = a1.records.add_resource(GLUCOSE, patient.did)
    asthma = a1.records.add_resource(ASTHMA, patient.did)
    genome = a1.records.add(GENOME, patient.did, resource="MolecularSequence", category="genomic")
    me = c.client(patient)
    consent = me.consent.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                               scope={"records": [glucose]}, purposes=["TREAT"],
                               start_ms=now_ms() - 60_000, end_ms=now_ms() + DAY)
    # the wallet chose by category; the chain names the one laboratory record's id
    assert me.session.q("consent/get", consent=consent)["scope"] == {"records": [glucose]}
    records = {r: me.records.open(r, purpose="PATRQT").plaintext for r in (glucose, asthma, genome)}
    c.flush()  # the opens above are in the patient's audit log
    path = tmp / f"{label}.phr"
    export_portable(me.session, path, PASSPHRASE, kdf=FAST)
    return Exported(patient, path, records, consent, genome, glucose)


@pytest.fixture(scope="module")
def exported(c: Consortium, tmp_path_factory: pytest.TempPathFactory) -> Exported:
    return export_for(c, tmp_path_factory.mktemp("export"), "patient-t")


def do_import(c: Consortium, path: Path, *, validator: str = VALIDATOR.did,
              passphrase: str = PASSPHRASE, **kw: Any) -> Any:
    with NodeClient(c.api_url, timeout=30) as node:
        return import_portable(path, passphrase, node, validator=validator,
                               vault_org=HOSPITAL_B.did, directory=c.directory, **kw)


def nothing_written(c: Consortium, records: list[str]) -> None:
    store_b = c.vaults[HOSPITAL_B.did].store
    for record in records:
        assert c.query("records/holders", record=record)["holders"] == [HOSPITAL_A.did]
        assert bytes.fromhex(record) not in store_b.record_ids()


# -- round trip ------------------------------------------------------------------------------
def test_export_then_import_at_another_hospital(c: Consortium, tmp_path: Path) -> None:
    e = export_for(c, tmp_path, "patient-r")
    assert e.path.stat().st_mode & 0o777 == 0o600
    audit_size = c.query("audit/head", patient=e.patient.did)["size"]
    report = do_import(c, e.path)
    counts = report.counts()
    assert {k: counts[k] for k in ("records", "chunks", "consents", "left_out",
                                   "commitments", "state_proofs")} == {
        "records": 3, "chunks": 4, "consents": 1, "left_out": 0, "commitments": 3,
        "state_proofs": 2 + 3 + 1}
    assert 3 <= counts["audit_entries"] <= audit_size  # the export's own reads come later
    assert report.consents == [e.consent] and report.written
    assert sorted(report.uploaded) == sorted(e.records) == sorted(report.holders_added)
    assert report.target == HOSPITAL_B.did and report.node_height >= report.height
    assert {r.record: r.hash for r in report.records} == {
        r: c.query("records/get", record=r)["hash"] for r in e.records}
    me = c.client(e.patient)
    for record, plaintext in e.records.items():
        assert HOSPITAL_B.did in c.query("records/holders", record=record)["holders"]
        opened = me.records.open(record, purpose="PATRQT", vault_org=HOSPITAL_B.did)
        assert opened.plaintext == plaintext
    assert e.records[e.glucose] == resource_bytes(GLUCOSE)
    # B1's standing consent (laboratory) is served by hospital B's own vault now
    assert c.client(B1).records.open(e.glucose, vault_org=HOSPITAL_B.did).resource() == GLUCOSE
    text = "\n".join(report.lines())
    assert "3 record(s), 4 chunk(s)" in text and f"height {report.height}" in text
    # importing again is idempotent: no holder to add, uploads only add readers
    again = do_import(c, e.path)
    assert again.holders_added == [] and sorted(again.uploaded) == sorted(e.records)


def test_verify_offline_reports_what_was_checked(c: Consortium, exported: Exported) -> None:
    report = verify_portable(exported.path, PASSPHRASE, validator=VALIDATOR.did)
    assert report.patient == exported.patient.did and report.chain_id == "phr-records"
    assert report.counts()["records"] == 3 and not report.written
    assert report.app_hash == c.node.header(report.height).header.app_hash.hex()
    assert report.node_height is None


def test_a_dry_run_verifies_the_target_and_writes_nothing(c: Consortium,
                                                          exported: Exported) -> None:
    report = do_import(c, exported.path, dry_run=True)
    assert report.node_height is not None and not report.written
    nothing_written(c, list(exported.records))


def test_large_objects_can_be_left_out_and_the_size_limit_refuses(
        c: Consortium, exported: Exported, tmp_path: Path) -> None:
    me = c.client(exported.patient)
    with pytest.raises(PortableError, match="over the 1000000-byte limit"):
        export_portable(me.session, tmp_path / "big.phr", PASSPHRASE, kdf=FAST, max_bytes=1_000_000)
    assert not (tmp_path / "big.phr").exists()
    export_portable(me.session, tmp_path / "small.phr", PASSPHRASE, kdf=FAST,
                    leave_out_larger_than=1 << 20)
    report = verify_portable(tmp_path / "small.phr", PASSPHRASE, validator=VALIDATOR.did)
    assert [e["record"] for e in report.left_out] == [exported.genome]
    assert report.counts()["records"] == 2


# -- refusals --------------------------------------------------------------------------------
def test_a_flipped_byte_or_a_wrong_passphrase_is_refused(c: Consortium, exported: Exported,
                                                         tmp_path: Path) -> None:
    data = bytearray(exported.path.read_bytes())
    data[len(data) // 2] ^= 0x01
    flipped = tmp_path / "flipped.phr"
    flipped.write_bytes(bytes(data))
    with pytest.raises(PortableError, match="wrong passphrase or corrupted portable record"):
        do_import(c, flipped)
    with pytest.raises(PortableError, match="wrong passphrase or corrupted portable record"):
        do_import(c, exported.path, passphrase="not the passphrase")
    header_line = bytearray(exported.path.read_bytes())
    header_line[header_line.index(b'"lanes":1') + 8] = ord("2")  # a changed KDF cost
    changed = tmp_path / "kdf.phr"
    changed.write_bytes(bytes(header_line))
    with pytest.raises(PortableError, match="wrong passphrase or corrupted"):
        verify_portable(changed, PASSPHRASE, validator=VALIDATOR.did)
    nothing_written(c, list(exported.records))


def test_a_wrong_trust_anchor_is_refused(c: Consortium, exported: Exported) -> None:
    other = keys.SigningKey(bytes([77]) * 32).did
    with pytest.raises(PortableError, match=r"^header at height \d+: "):
        do_import(c, exported.path, validator=other)
    with pytest.raises(PortableError, match=r"header at height .* not 'another-chain'"):
        do_import(c, exported.path, chain_id="another-chain")
    nothing_written(c, list(exported.records))


def _proof_with(proof: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """A proved answer whose stored value (and its rendering) has ``changes``."""
    value = {**proof["value"], **changes}
    return {**proof, "value": value, "raw_value": encoding.encode(value).hex()}


def _flip_hex(text: str) -> str:
    return ("1" if text[0] == "0" else "0") + text[1:]


def _record(p: Payload, record: str) -> int:
    return next(i for i, r in enumerate(p.records) if r.record == record)


def _replace_record(p: Payload, record: str, **changes: Any) -> Payload:
    i = _record(p, record)
    records = list(p.records)
    records[i] = dataclasses.replace(records[i], **changes)
    return dataclasses.replace(p, records=tuple(records))


def changed_chunk(e: Exported, p: Payload) -> tuple[Payload, str]:
    r = p.records[_record(p, e.genome)]
    data = bytearray(r.ciphertext)
    data[(1 << 20) + 100] ^= 0x01  # inside chunk 1 of the two
    return _replace_record(p, e.genome, ciphertext=bytes(data)), \
        f"record {e.genome}: chunk 1 leaf hash mismatch"


def changed_leaves(e: Exported, p: Payload) -> tuple[Payload, str]:
    chunk_changed, _ = changed_chunk(e, p)
    r = chunk_changed.records[_record(p, e.genome)]
    from phrchain.client.portable_file import split_chunks
    from phrchain.core import rfc9162

    leaves = tuple(rfc9162.leaf_hash(x) for x in split_chunks(
        r.ciphertext, len(r.ciphertext), 2))
    return _replace_record(chunk_changed, e.genome, leaves=leaves), \
        f"record {e.genome}: chunk leaf hashes do not hash to the descriptor's Merkle root"


def changed_commitment(e: Exported, p: Payload) -> tuple[Payload, str]:
    proof = p.records[_record(p, e.glucose)].proof
    forged = _proof_with(proof, commitment=_flip_hex(proof["value"]["commitment"]))
    return _replace_record(p, e.glucose, proof=forged), \
        f"record {e.glucose}: state proof does not match the app hash at height {p.height}"


def changed_hash(e: Exported, p: Payload) -> tuple[Payload, str]:
    proof = p.records[_record(p, e.glucose)].proof
    forged = _proof_with(proof, hash=_flip_hex(proof["value"]["hash"]))
    return _replace_record(p, e.glucose, proof=forged), \
        f"record {e.glucose}: state proof does not match the app hash at height {p.height}"


def forged_consent_proof(e: Exported, p: Payload) -> tuple[Payload, str]:
    entry = p.consents[0]
    proof = dict(entry["proof"])
    siblings = list(proof["proof"]["siblings"])
    siblings[-1] = _flip_hex(siblings[-1])
    proof["proof"] = {**proof["proof"], "siblings": siblings}
    return dataclasses.replace(p, consents=({**entry, "proof": proof},)), \
        f"consent {e.consent}: state proof does not match the app hash at height {p.height}"


def bad_header_signature(e: Exported, p: Payload) -> tuple[Payload, str]:
    header = {**p.header, "signature": _flip_hex(p.header["signature"])}
    return dataclasses.replace(p, header=header), f"header at height {p.height}: "


def header_with_another_app_hash(e: Exported, p: Payload) -> tuple[Payload, str]:
    inner = {**p.header["header"], "app_hash": "00" * 32}
    return dataclasses.replace(p, header={**p.header, "header": inner}), \
        f"header at height {p.height}: "


def garbage_wrapped_key(e: Exported, p: Payload) -> tuple[Payload, str]:
    return _replace_record(p, e.glucose, wrapped_key=bytes(80)), \
        f"record {e.glucose}: the patient's wrapped key does not unwrap"


def another_data_key(e: Exported, p: Payload) -> tuple[Payload, str]:
    rid = bytes.fromhex(e.glucose)
    wrapped = crypto.wrap_key(bytes(32), e.patient.enc_key, rid, e.patient.did)
    return _replace_record(p, e.glucose, wrapped_key=wrapped), \
        f"record {e.glucose}: does not decrypt"


def another_patients_keys(e: Exported, p: Payload) -> tuple[Payload, str]:
    stranger = Wallet.create("stranger")
    return dataclasses.replace(p, wallet=dataclasses.replace(
        stranger, did=p.wallet.did)), "patient identity: the file's keys are not"


def changed_audit_head(e: Exported, p: Payload) -> tuple[Payload, str]:
    head = {**p.audit_head, "value": {**p.audit_head["value"], "size": 0}}
    return dataclasses.replace(p, audit_head=head), "audit-log head: "


TAMPERINGS: list[Callable[[Exported, Payload], tuple[Payload, str]]] = [
    changed_chunk, changed_leaves, changed_commitment, changed_hash, forged_consent_proof,
    bad_header_signature, header_with_another_app_hash, garbage_wrapped_key,
    another_data_key, another_patients_keys, changed_audit_head]


@pytest.mark.parametrize("tamper", TAMPERINGS, ids=lambda f: f.__name__)
def test_a_tampered_payload_is_refused_naming_the_first_failing_item(
        c: Consortium, exported: Exported, tmp_path: Path,
        tamper: Callable[[Exported, Payload], tuple[Payload, str]]) -> None:
    """Decrypted, altered and re-encrypted with the right passphrase: only the proofs
    and the cryptography of the content can refuse it."""
    payload, expected = tamper(exported, read(exported.path, PASSPHRASE))
    path = tmp_path / "tampered.phr"
    write(path, seal(payload, PASSPHRASE, FAST))
    height_before = c.node.status()["height"]
    with pytest.raises(PortableError) as refused:
        do_import(c, path)
    assert str(refused.value).startswith(expected), str(refused.value)
    with pytest.raises(PortableError) as offline:
        verify_portable(path, PASSPHRASE, validator=VALIDATOR.did)
    assert str(offline.value) == str(refused.value)
    nothing_written(c, list(exported.records))
    assert c.node.status()["height"] - height_before < 50  # no tx of ours: just blocks


def test_a_record_erased_after_the_export_is_refused(c: Consortium, tmp_path: Path) -> None:
    e = export_for(c, tmp_path, "patient-e")
    c.client(e.patient).records.erase(e.glucose)
    with pytest.raises(PortableError, match=rf"^record {e.glucose}: erased on chain at "
                                            r"height \d+ \(patient_request\), after the export"):
        do_import(c, e.path)
    verify_portable(e.path, PASSPHRASE, validator=VALIDATOR.did)  # offline it still checks
    for record in e.records:
        assert HOSPITAL_B.did not in c.query("records/holders", record=record)["holders"]
        assert bytes.fromhex(record) not in c.vaults[HOSPITAL_B.did].store.record_ids()


def test_a_target_that_is_not_a_care_organization_is_refused(c: Consortium,
                                                             exported: Exported) -> None:
    from tests.consortium import INSURER

    with NodeClient(c.api_url, timeout=30) as node, \
            pytest.raises(PortableError, match=f"^target organization {INSURER.did}: not an "
                                               "active care organization"):
        import_portable(exported.path, PASSPHRASE, node, validator=VALIDATOR.did,
                        vault_org=INSURER.did, directory=c.directory)
    nothing_written(c, list(exported.records))


class _OtherNode:
    """The real node, except for what a test overrides: another chain id, or a header
    at the export height that the trusted validator signed differently (a fork)."""

    def __init__(self, node: NodeClient, chain_id: str | None = None,
                 fork_at: int | None = None) -> None:
        self._node, self._chain_id, self._fork_at = node, chain_id, fork_at

    def __getattr__(self, name: str) -> Any:
        return getattr(self._node, name)

    def chain_id(self) -> str:
        return self._chain_id or self._node.chain_id()

    def header(self, height: int | None = None) -> dict[str, Any]:
        signed = self._node.header(height)
        if height is None or height != self._fork_at:
            return signed
        from phrchain.core.block import Header, sign_header

        forked = dataclasses.replace(Header.from_json(signed["header"]), app_hash=bytes(32))
        return sign_header(VALIDATOR, forked).to_json()


@pytest.mark.parametrize(("change", "expected"), [
    ({"chain_id": "another-chain"}, "target chain: the node runs chain 'another-chain'"),
    ({"fork": True}, "target chain: the node's header at height {h} differs from the file's"),
])
def test_a_target_node_of_another_chain_or_fork_is_refused(
        c: Consortium, exported: Exported, change: dict[str, Any], expected: str) -> None:
    height = read(exported.path, PASSPHRASE).height
    with NodeClient(c.api_url, timeout=30) as real:
        node = _OtherNode(real, change.get("chain_id"), height if change.get("fork") else None)
        with pytest.raises(PortableError) as refused:
            import_portable(exported.path, PASSPHRASE, node, validator=VALIDATOR.did,
                            vault_org=HOSPITAL_B.did, directory=c.directory)
    assert str(refused.value).startswith(expected.format(h=height)), str(refused.value)
    nothing_written(c, list(exported.records))


# -- the command line ------------------------------------------------------------------------
def test_cli_export_verify_import(c: Consortium, tmp_path: Path,
                                  capsys: pytest.CaptureFixture[str],
                                  monkeypatch: pytest.MonkeyPatch) -> None:
    import json
    import os

    from phrchain.cli.main import main
    from tests.consortium import genesis

    for name in [k for k in os.environ if k.startswith("PHRCHAIN_")]:
        monkeypatch.delenv(name)
    e = export_for(c, tmp_path, "patient-cli")  # records, consent and audit entries
    wallet_file, secret = tmp_path / "wallet.json", tmp_path / "pass.txt"
    e.patient.save(wallet_file, PASSPHRASE, FAST)
    secret.write_text(PASSPHRASE + "\n")
    vaults = tmp_path / "vaults.json"
    vaults.write_text(json.dumps(c.directory))
    genesis_file = tmp_path / "genesis.json"
    genesis_file.write_text(json.dumps(genesis()))
    out = tmp_path / "cli.phr"
    node = ["--node", c.api_url]

    assert main(["wallet", "export", "--wallet", str(wallet_file), "--passphrase-file",
                 str(secret), "--vaults", str(vaults), "--out", str(out), *node]) == 0
    printed = capsys.readouterr()
    assert "3 record(s), 4 chunk(s)" in printed.out and "as strong as its passphrase" in \
        printed.err
    assert main(["wallet", "verify", str(out), "--genesis", str(genesis_file),
                 "--passphrase-file", str(secret), "--json"]) == 0
    verified = json.loads(capsys.readouterr().out)
    assert verified["counts"]["records"] == 3 and verified["counts"]["consents"] == 1
    assert not verified["written"]

    flipped = tmp_path / "flipped.phr"
    data = bytearray(out.read_bytes())
    data[-10] ^= 0x80
    flipped.write_bytes(bytes(data))
    importing = ["--vault-org", HOSPITAL_B.did, "--validator", VALIDATOR.did, "--vaults",
                 str(vaults), "--passphrase-file", str(secret), *node]
    assert main(["wallet", "import", str(flipped), *importing]) == 2
    assert "error: " in capsys.readouterr().err
    other = keys.SigningKey(bytes([78]) * 32).did
    assert main(["wallet", "import", str(out), *importing[:2], "--validator", other,
                 *importing[4:]]) == 2
    assert capsys.readouterr().err.startswith(
        f"error: header at height {verified['height']}: ")
    nothing_written(c, list(e.records))

    assert main(["wallet", "import", str(out), *importing]) == 0
    printed = capsys.readouterr()
    assert f"imported into the vault of {HOSPITAL_B.did}: 3 record(s) uploaded, 3 " \
        "holder(s) added" in printed.out
    for record, plaintext in e.records.items():
        assert c.client(e.patient).records.open(record, purpose="PATRQT",
                                                vault_org=HOSPITAL_B.did).plaintext == plaintext


def test_an_unproven_reader_answer_cannot_replace_the_targets_proven_key(
        c: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``consent/readers`` is an unproven node answer: a node naming the target
    institution with another key must not get the data keys wrapped for that key."""
    from phrchain.client import portable

    e = export_for(c, tmp_path, "patient-k")
    proven = bytes.fromhex(c.query("identity/did", did=HOSPITAL_B.did)["enc_key"])
    evil = Wallet.create("evil").enc_key
    monkeypatch.setattr(portable, "_org_readers", lambda rc, d, opened, org: {org: evil})
    used: dict[str, list[bytes]] = {}
    real_wrap = portable.crypto.wrap_key

    def spy(data_key: bytes, enc: bytes, record_id: bytes, did: str) -> bytes:
        used.setdefault(did, []).append(enc)
        return real_wrap(data_key, enc, record_id, did)

    monkeypatch.setattr(portable.crypto, "wrap_key", spy)
    do_import(c, e.path)
    assert used[HOSPITAL_B.did] == [proven] * len(e.records)
