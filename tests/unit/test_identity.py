"""Identity module behaviour (M2): admission chain, roles, rotation, revocation, queries."""

from __future__ import annotations

from phrchain.core import smt
from phrchain.modules.identity import rotation_bytes
from tests.helpers import AUTHORITY, CHAIN_ID, Chain, enc_key, signing_key

HOSPITAL, PHARMACY, DOCTOR, NURSE, PATIENT = (signing_key(n) for n in range(20, 25))


def _q(chain: Chain, path: str, **data: str) -> dict:
    return chain.app.query(path, data)["value"]


def test_admission_chain_and_queries() -> None:
    chain = Chain.new()
    assert chain.admit_org(HOSPITAL).ok
    assert chain.admit_org(PHARMACY, "pharmacy").ok
    assert chain.admit_practitioner(HOSPITAL, DOCTOR, ["emergency", "physician"]).ok
    assert chain.admit_practitioner(HOSPITAL, NURSE, ["nurse"]).ok
    assert chain.register_patient(PATIENT).ok

    doctor = _q(chain, "identity/did", did=DOCTOR.did)
    assert doctor["kind"] == "practitioner" and doctor["organization"] == HOSPITAL.did
    assert doctor["roles"] == ["emergency", "physician"]
    assert sorted(_q(chain, "identity/organization", organization=HOSPITAL.did)["members"]) \
        == sorted([DOCTOR.did, NURSE.did])
    assert _q(chain, "identity/role", role="emergency")["dids"] == [DOCTOR.did]
    assert _q(chain, "identity/kind", kind="organization/pharmacy")["dids"] == [PHARMACY.did]
    assert set(_q(chain, "identity/kind", kind="organization")["dids"]) \
        == {HOSPITAL.did, PHARMACY.did}
    patient = _q(chain, "identity/did", did=PATIENT.did)
    # pseudonymous: nothing but keys, kind, status and heights
    assert set(patient) == {"did", "kind", "status", "signing_key", "enc_key", "admitted_by",
                            "since"}


def test_role_change_reindexes() -> None:
    chain = Chain.new()
    chain.admit_org(HOSPITAL)
    chain.admit_practitioner(HOSPITAL, DOCTOR, ["physician"])
    assert chain.run(HOSPITAL, {"type": "identity/set_roles", "did": DOCTOR.did,
                                "roles": ["emergency"]}).ok
    assert _q(chain, "identity/role", role="physician")["dids"] == []
    assert _q(chain, "identity/role", role="emergency")["dids"] == [DOCTOR.did]


def test_revocation_by_organization_removes_roles() -> None:
    chain = Chain.new()
    chain.admit_org(HOSPITAL)
    chain.admit_practitioner(HOSPITAL, DOCTOR, ["emergency"])
    result = chain.run(HOSPITAL, {"type": "identity/revoke", "did": DOCTOR.did,
                                  "reason": "privilege_withdrawn"})
    assert result.ok
    assert ("identity.revoked", (("did", DOCTOR.did), ("kind", "practitioner"),
            ("reason", "privilege_withdrawn"), ("by", HOSPITAL.did))) in \
        [(e.type, e.attributes) for e in result.events]
    assert _q(chain, "identity/did", did=DOCTOR.did)["status"] == "revoked"
    assert _q(chain, "identity/role", role="emergency")["dids"] == []


def test_rotation_needs_the_new_keys_consent_and_fresh_key() -> None:
    chain = Chain.new()
    chain.register_patient(PATIENT)
    new = signing_key(77)
    wrong_proof = new.sign(rotation_bytes("phr-other", PATIENT.did, new.public_key))
    result = chain.run(PATIENT, {"type": "identity/rotate_key", "new_key": new.public_key.hex(),
                                 "proof": wrong_proof.hex()})
    assert (result.codespace, result.code) == ("identity", 8)
    chain.nonces[PATIENT.did] -= 1
    # a key bound to another identity cannot be taken over
    taken = AUTHORITY
    proof = taken.sign(rotation_bytes(CHAIN_ID, PATIENT.did, taken.public_key))
    result = chain.run(PATIENT, {"type": "identity/rotate_key",
                                 "new_key": taken.public_key.hex(), "proof": proof.hex()})
    assert (result.codespace, result.code) == ("identity", 5)
    chain.nonces[PATIENT.did] -= 1
    proof = new.sign(rotation_bytes(CHAIN_ID, PATIENT.did, new.public_key))
    assert chain.run(PATIENT, {"type": "identity/rotate_key", "new_key": new.public_key.hex(),
                               "enc_key": enc_key(50), "proof": proof.hex()}).ok
    record = _q(chain, "identity/did", did=PATIENT.did)
    assert record["signing_key"] == new.public_key.hex() and record["enc_key"] == enc_key(50)


def test_same_did_cannot_register_twice_even_after_revocation() -> None:
    chain = Chain.new()
    chain.register_patient(PATIENT)
    assert chain.run(PATIENT, {"type": "identity/revoke", "did": PATIENT.did,
                               "reason": "unspecified"}).ok
    again = chain.register_patient(PATIENT)
    assert (again.codespace, again.code) == ("tx", 9)


def test_query_proofs_verify_against_the_app_hash() -> None:
    chain = Chain.new()
    chain.register_patient(PATIENT)
    answer = chain.app.query("identity/did", {"did": PATIENT.did}, prove=True)
    root = bytes.fromhex(answer["app_hash"])
    proof = smt.SmtProof.from_json(answer["proof"])
    smt.verify_membership(root, bytes.fromhex(answer["key"]),
                          bytes.fromhex(answer["raw_value"]), proof)
    absent = chain.app.query("identity/did", {"did": DOCTOR.did}, prove=True)
    assert absent["value"] is None and absent["raw_value"] is None
    smt.verify_non_membership(root, bytes.fromhex(absent["key"]),
                              smt.SmtProof.from_json(absent["proof"]))


def test_queries_at_past_heights() -> None:
    chain = Chain.new()
    chain.register_patient(PATIENT)
    height = chain.app.store.version()
    chain.run(PATIENT, {"type": "identity/revoke", "did": PATIENT.did, "reason": "unspecified"})
    assert chain.app.query("identity/did", {"did": PATIENT.did}, height)["value"]["status"] \
        == "active"
    assert _q(chain, "identity/did", did=PATIENT.did)["status"] == "revoked"
