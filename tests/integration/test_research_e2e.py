"""Research donation end to end (issue 17): a solo node and its API; donors under their
custodian pseudonyms (SDK) with records a physician of hospital A wrote (sealed in A's
vault), a study and request of the research institute, A's vault opening its copies and
releasing a de-identified dataset with its manifest, and the CLI's proof files —
inclusion and exclusion verify offline against the validator; a flipped byte fails."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.cli.main import main
from phrchain.client import builder
from phrchain.client.research import verify_proof
from phrchain.client.wallet import Wallet
from phrchain.core import encoding
from phrchain.core.errors import PhrError
from phrchain.deid import default_config
from phrchain.deid.config import parse
from phrchain.fhir.synthetic import generate_patients
from phrchain.fhir.validation import validate
from phrchain.research import terms
from phrchain.research.vault import open_for_study, open_held, release, seal_for_study
from tests.consortium import A1, A2, AUTHORITY, HOSPITAL_A, RR, VALIDATOR, running
from tests.researchflow import digest, oid, study_msg
from tests.trialflow import pseudonym

N = 4   # donors 0, 1 HMB; 2 DS asthma (excluded); 3 HMB then revoked


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def register_msg(donor: Wallet) -> dict[str, Any]:
    """A self-reported record kept by hospital A (its commitments only)."""
    return {"type": "records/register", "record": secrets.token_hex(16),
            "patient": donor.did, "hash": secrets.token_hex(32), "size": 4096,
            "commitment": secrets.token_hex(32), "descriptor": secrets.token_hex(32),
            "custodian": HOSPITAL_A.did}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    home = tmp_path_factory.mktemp("research")
    with running(home) as c:
        admin = c.client(AUTHORITY)
        admin.node.send(AUTHORITY, [{"type": "research/set_params",
                                     **terms.params(min_k=1, min_l=1)}])
        admin.node.send(HOSPITAL_A, [builder.set_roles(A2.did, ["auditor", "physician"])])
        bundles = generate_patients(N, seed=3, resources_per_patient=6)
        donors, records = [], []
        for i, bundle in enumerate(bundles):
            seed = pseudonym(bytes([40 + i]) * 32, HOSPITAL_A.did, "custodian").seed
            donor = Wallet.from_secrets(seed, bytes([60 + i]) * 32, f"donor {i}")
            admin.node.send(donor, [builder.register_patient(donor.enc_key)])
            # hospital A's physician writes them: sealed in A's vault, registered by it
            records += [c.client(A1).records.add_resource(entry["resource"], donor.did)
                        for entry in bundle["entry"]]
            with c.client(donor) as me:
                permission = {"code": "DS", "disease": "MONDO:0004979"} if i == 2 \
                    else {"code": "HMB"}
                me.research.donate(permission, [{"code": "NPU"}], {"all": True}, now_ms(),
                                   now_ms() + 86_400_000)
                if i == 3:
                    me.research.revoke()
            donors.append(donor)
        irb = c.client(RR).research
        study = study_msg(oid("e2e study"), irb=False, k=1, l=1)
        irb.register_study(study)
        request = irb.request(study.study)
        raw = json.loads(json.dumps(default_config().raw))
        raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 1, "l": 1})
        chain = c.client(HOSPITAL_A)
        held = open_held(c.vaults[HOSPITAL_A.did], records)   # decrypted in the vault
        assert [h.resource["resourceType"] for h in held][:1] == ["Patient"]
        released = release(lambda path, **data: chain.session.q(path, **data),
                            request["request"], held, config=parse(raw), key=bytes(32),
                            dataset=oid("e2e dataset"), reference_year=2026,
                            recorded="2026-12-07T10:00:00Z", now_ms=now_ms(),
                            approver=A2.signing_key)
        manifest = chain.research.release(released.manifest)
        yield {"c": c, "donors": donors, "held": held, "request": request,
               "manifest": manifest, "released": released, "home": home}


def test_the_dataset_reaches_the_institute_sealed_for_it(world: dict[str, Any]) -> None:
    from cryptography.exceptions import InvalidTag

    from tests.consortium import RESEARCH

    dataset = world["released"].dataset
    sealed = seal_for_study(dataset, oid("e2e dataset"), RESEARCH.did,
                            RESEARCH.encryption_key.public_key)
    opened = open_for_study(sealed, RESEARCH.encryption_key)
    assert opened["Patient.ndjson"].decode().splitlines() == dataset.lines["Patient"]
    blob = bytearray(bytes.fromhex(sealed["files"]["Patient.ndjson"]))
    blob[20] ^= 1
    with pytest.raises((InvalidTag, PhrError)):
        open_for_study({**sealed, "files": {"Patient.ndjson": blob.hex()}},
                       RESEARCH.encryption_key)
    with pytest.raises(PhrError):
        open_for_study(sealed, HOSPITAL_A.encryption_key)   # not the study's reader


def _records_of(world: dict[str, Any], i: int) -> list[str]:
    did = world["donors"][i].did
    return [h.record for h in world["held"]
            if world["c"].query("records/get", record=h.record)["patient"] == did]


def _prove(world: dict[str, Any], record: str, name: str) -> Path:
    out = world["home"] / name
    assert main(["research", "prove", oid("e2e dataset"), record, "--out", str(out),
                 "--node", world["c"].api_url]) == 0
    return out


def test_only_included_donors_are_released(world: dict[str, Any]) -> None:
    assert world["request"]["included"] == 2 and world["request"]["excluded"] == 2
    assert set(world["released"].donors) == {world["donors"][0].did, world["donors"][1].did}
    assert world["manifest"]["leaves"] == len(_records_of(world, 0)) * 2


def test_inclusion_and_exclusion_proofs_verify_offline(world: dict[str, Any],
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    inside = _prove(world, _records_of(world, 0)[0], "in.json")
    outside = _prove(world, _records_of(world, 2)[0], "out.json")
    proven_in = verify_proof(inside.read_bytes(), VALIDATOR.did, "phr-records")
    proven_out = verify_proof(outside.read_bytes(), VALIDATOR.did, "phr-records")
    assert proven_in["included"] and proven_in["donation"] == 1
    assert proven_in["outcome"]["outcome"] == "included"
    assert not proven_out["included"]
    assert proven_out["outcome"] == {"outcome": "excluded", "reason": "disease",
                                     "donation": 1}
    capsys.readouterr()
    assert main(["research", "verify", str(inside), "--validator", VALIDATOR.did]) == 0
    assert json.loads(capsys.readouterr().out)["included"] is True


@pytest.mark.parametrize("name", ["in.json", "out.json"])
def test_a_flipped_byte_fails(world: dict[str, Any], name: str) -> None:
    record = _records_of(world, 0 if name == "in.json" else 2)[0]
    data = _prove(world, record, "flip-" + name).read_bytes()
    doc = encoding.decode(data)
    answer = doc["leaf"]
    field = "raw_value" if answer["raw_value"] else "key"
    value = bytearray(bytes.fromhex(answer[field]))
    value[len(value) // 2] ^= 1
    answer[field] = value.hex()
    with pytest.raises(PhrError):
        verify_proof(encoding.encode(doc), VALIDATOR.did)
    verify_proof(data, VALIDATOR.did)
    for offset in range(0, len(data), 7):    # every 7th byte of the file, each alone
        flipped = bytearray(data)
        flipped[offset] ^= 1
        with pytest.raises(PhrError):
            verify_proof(bytes(flipped), VALIDATOR.did)


def test_donor_sees_uses_and_exports_a_valid_fhir_consent(
        world: dict[str, Any], capsys: pytest.CaptureFixture[str]) -> None:
    with world["c"].client(world["donors"][0]) as me:
        uses = me.research.uses()
        consent = me.research.fhir_consent()
    assert [u["dataset"] for u in uses] == [oid("e2e dataset")]
    assert uses[0]["study"]["study"] == oid("e2e study")
    validate(consent)
    assert consent["scope"]["coding"][0]["code"] == "research"
    assert consent["provision"]["purpose"][0]["code"] == "HRESCH"
    codes = [c["coding"][0]["code"] for c in consent["provision"]["code"]]
    assert codes == ["DUO:0000006", "DUO:0000045"]
    capsys.readouterr()
    assert main(["research", "consent", world["donors"][3].did,
                 "--node", world["c"].api_url]) == 0
    assert json.loads(capsys.readouterr().out)["status"] == "inactive"


def test_manifest_shown_and_key_destruction_recorded(world: dict[str, Any],
                                                     capsys: pytest.CaptureFixture[str]
                                                     ) -> None:
    capsys.readouterr()
    assert main(["research", "dataset", oid("e2e dataset"),
                 "--node", world["c"].api_url]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["config"] == world["released"].manifest.config
    assert shown["root"] == world["released"].dataset.root
    done = world["c"].client(HOSPITAL_A).research.destroy_key(oid("e2e dataset"))
    assert done["key_destroyed_height"] is not None
    assert shown["key"] != digest("x")


def test_the_cli_donates_revokes_registers_and_requests(world: dict[str, Any],
                                                       capsys: pytest.CaptureFixture[str]
                                                       ) -> None:
    from phrchain.client.wallet import KdfParams
    from tests.consortium import RR as RR_WALLET

    home, url = world["home"], world["c"].api_url
    passphrase = home / "pw"
    passphrase.write_text("a long enough passphrase\n")
    cheap = KdfParams(memory_kib=1024, iterations=1, lanes=1)
    donor = Wallet.from_secrets(bytes([90]) * 32, bytes([91]) * 32, "cli donor")
    world["c"].client(AUTHORITY).node.send(donor, [builder.register_patient(donor.enc_key)])
    paths = {}
    for name, wallet in (("donor", donor), ("rr", RR_WALLET)):
        paths[name] = home / f"{name}.wallet"
        wallet.save(paths[name], "a long enough passphrase", kdf=cheap)

    def run(who: str, *argv: str) -> Any:
        capsys.readouterr()
        assert main(["research", *argv, "--wallet", str(paths[who]), "--passphrase-file",
                     str(passphrase), "--node", url]) == 0, capsys.readouterr().err
        return json.loads(capsys.readouterr().out)

    donated = run("donor", "donate", "--permission", "DS:MONDO:0005015", "--modifier",
                  "NPU", "--modifier", "GS=KR,DE", "--modifier", "TS=12", "--days", "30")
    assert donated["permission"] == {"code": "DS", "disease": "MONDO:0005015"}
    assert donated["modifiers"] == [{"code": "GS", "param": ["DE", "KR"]}, {"code": "NPU"},
                                    {"code": "TS", "param": 12}]
    study = home / "study.json"
    body = study_msg(oid("cli study"), irb=False, k=1, l=1).to_msg()
    del body["type"]
    study.write_text(json.dumps(body))
    assert run("rr", "register-study", str(study))["institute"] == world["c"].query(
        "research/study", study=oid("e2e study"))["institute"]
    request = run("rr", "request", oid("cli study"), "--request", oid("cli request"))
    assert request["done"]
    outcome = world["c"].query("research/outcome", request=oid("cli request"),
                               donor=donor.did)
    assert outcome == {"outcome": "included", "reason": None, "donation": 1}
    assert run("donor", "revoke")["status"] == "revoked"
    capsys.readouterr()
    assert main(["research", "donate", "--permission", "HMB", "--modifier", "GS",
                 "--wallet", str(paths["donor"]), "--passphrase-file", str(passphrase),
                 "--node", url]) == 2          # GS needs its countries
