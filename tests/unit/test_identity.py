"""Identity module behaviour (M2): admission chain, roles, rotation, revocation, queries."""

from __future__ import annotations

import pytest

from phrchain.app import new_application
from phrchain.client import builder
from phrchain.client.wallet import Wallet
from phrchain.core import keys, smt
from phrchain.core.errors import TxError
from phrchain.core.store import MemoryStateStore
from phrchain.modules.identity import admission_bytes, rotation_bytes
from phrchain.modules.identity.messages import ALLOWED_ROLES, ROLES
from tests.helpers import (
    AUTHORITY,
    CHAIN_ID,
    Chain,
    admit_org_msg,
    enc_key,
    genesis,
    signing_key,
    tx_state,
)

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


# -- proof of possession, roles per organization type, governance, listings ---------------


def _chain_with(**identity: object) -> Chain:
    app = new_application(MemoryStateStore())
    app.init_chain(genesis(**identity))
    return Chain(app)


SECOND_AUTHORITY = signing_key(30)


def _two_authorities() -> Chain:
    return _chain_with(authorities=[
        {"did": AUTHORITY.did, "enc_key": enc_key(1), "name": "Consortium A"},
        {"did": SECOND_AUTHORITY.did, "enc_key": enc_key(2), "name": "Consortium B"}])


def _revoke(did: str) -> dict:
    return {"type": "identity/revoke", "did": did, "reason": "unspecified"}


def test_join_request_from_the_sdk_admits_with_consent() -> None:
    chain = Chain.new()
    hospital = Wallet.from_secrets(bytes([31]) * 32, bytes([32]) * 32)
    request = builder.join_request(hospital, CHAIN_ID, AUTHORITY.did)
    assert set(request) == builder.JOIN_REQUEST_FIELDS
    assert builder.check_join_request(request, AUTHORITY.did, CHAIN_ID) is request
    msg = builder.admit_organization(request["did"], "hospital", "H", request["enc_key"],
                                     request["pop"])
    assert chain.run(AUTHORITY, msg).ok
    assert _q(chain, "identity/did", did=hospital.did)["admitted_by"] == AUTHORITY.did
    # the pop is what the admitted key signed: admission_bytes with the admitter's DID
    assert keys.public_key_from_did(hospital.did) == hospital.signing_key.public_key
    keys.verify(hospital.signing_key.public_key, bytes.fromhex(request["pop"]),
                admission_bytes(CHAIN_ID, AUTHORITY.did, hospital.did, hospital.enc_key))


def test_join_request_checks_refuse_other_admitter_chain_or_tampering() -> None:
    wallet = Wallet.from_secrets(bytes([33]) * 32, bytes([34]) * 32)
    request = builder.join_request(wallet, CHAIN_ID, AUTHORITY.did)
    bad = {
        "other admitter": (request, HOSPITAL.did, CHAIN_ID),
        "other chain": (request, AUTHORITY.did, "phr-other"),
        "swapped enc key": ({**request, "enc_key": enc_key(60)}, AUTHORITY.did, CHAIN_ID),
        "extra field": ({**request, "x": 1}, AUTHORITY.did, CHAIN_ID),
        "not an object": ([request], AUTHORITY.did, CHAIN_ID),
    }
    for name, (req, admitter, chain_id) in bad.items():
        with pytest.raises(TxError) as exc:
            builder.check_join_request(req, admitter, chain_id)
        assert (exc.value.codespace, exc.value.code) == ("identity", 9), name


def test_genesis_organizations_need_no_pop() -> None:
    chain = _chain_with(organizations=[{"did": HOSPITAL.did, "org_type": "clinic",
                                        "name": "Founding clinic", "enc_key": enc_key(3)}])
    record = _q(chain, "identity/did", did=HOSPITAL.did)
    assert (record["kind"], record["admitted_by"]) == ("organization", "genesis")
    with pytest.raises(ValueError, match="exactly the fields"):
        _chain_with(organizations=[{"did": PHARMACY.did, "org_type": "clinic", "name": "X",
                                    "enc_key": enc_key(3), "pop": "00" * 64}])


@pytest.mark.parametrize("org_type", sorted(ALLOWED_ROLES))
def test_roles_are_tied_to_the_organization_type(org_type: str) -> None:
    chain = Chain.new()
    assert chain.admit_org(HOSPITAL, org_type).ok
    allowed = sorted(ALLOWED_ROLES[org_type])
    refused = sorted(ROLES - ALLOWED_ROLES[org_type])
    assert chain.admit_practitioner(HOSPITAL, DOCTOR, allowed).ok
    for role in refused:
        result = chain.admit_practitioner(HOSPITAL, signing_key(200), [role])
        assert (result.codespace, result.code) == ("identity", 11), role
        assert org_type in result.log and role in result.log
        chain.nonces[HOSPITAL.did] -= 1  # a failed tx does not use its nonce
        result = chain.run(HOSPITAL, {"type": "identity/set_roles", "did": DOCTOR.did,
                                      "roles": sorted({role, allowed[0]})})
        assert (result.codespace, result.code) == ("identity", 11), role
        chain.nonces[HOSPITAL.did] -= 1
    assert _q(chain, "identity/did", did=DOCTOR.did)["roles"] == allowed


def test_an_authority_revoked_earlier_in_the_tx_admits_nothing() -> None:
    chain = _two_authorities()
    before = tx_state(chain)
    result = chain.run(AUTHORITY, _revoke(AUTHORITY.did), admit_org_msg(HOSPITAL))
    assert (result.codespace, result.code) == ("tx", 9), result.log
    assert tx_state(chain) == before
    assert _q(chain, "identity/did", did=HOSPITAL.did) is None


def test_the_last_active_authority_cannot_revoke_itself() -> None:
    chain = _two_authorities()
    other = chain.run(AUTHORITY, _revoke(SECOND_AUTHORITY.did))  # no revoking each other
    assert (other.codespace, other.code) == ("identity", 1)
    chain.nonces[AUTHORITY.did] -= 1
    assert chain.run(SECOND_AUTHORITY, _revoke(SECOND_AUTHORITY.did)).ok  # one remains
    last = chain.run(AUTHORITY, _revoke(AUTHORITY.did))
    assert (last.codespace, last.code) == ("identity", 10)
    assert "governance" in last.log
    assert _q(chain, "identity/did", did=AUTHORITY.did)["status"] == "active"


def test_listings_drop_staff_of_a_revoked_organization() -> None:
    chain = Chain.new()
    chain.admit_org(HOSPITAL)
    chain.admit_org(PHARMACY, "pharmacy")
    chain.admit_practitioner(HOSPITAL, DOCTOR, ["pharmacist"])
    chain.admit_practitioner(PHARMACY, NURSE, ["pharmacist"])
    assert set(_q(chain, "identity/role", role="pharmacist")["dids"]) == {DOCTOR.did, NURSE.did}
    assert chain.run(AUTHORITY, {"type": "identity/revoke", "did": HOSPITAL.did,
                                 "reason": "ceased_operation"}).ok
    assert _q(chain, "identity/role", role="pharmacist")["dids"] == [NURSE.did]
    assert _q(chain, "identity/organization", organization=HOSPITAL.did) == \
        {"organization": HOSPITAL.did, "members": [], "next": None}
    assert _q(chain, "identity/organization", organization=PHARMACY.did)["members"] == \
        [NURSE.did]
    # a revoked practitioner leaves its organization's listing too
    assert chain.run(PHARMACY, _revoke(NURSE.did)).ok
    assert _q(chain, "identity/organization", organization=PHARMACY.did)["members"] == []
    # the kind directory keeps everyone ever created, whatever the status
    assert set(_q(chain, "identity/kind", kind="practitioner")["dids"]) == \
        {DOCTOR.did, NURSE.did}


def _all_pages(chain: Chain, path: str, field: str, **data: object) -> list[list[str]]:
    pages, after = [], None
    while True:
        value = chain.app.query(path, {**data, **({"after": after} if after else {})})["value"]
        pages.append(value[field])
        after = value["next"]
        if after is None:
            return pages
        assert after == value[field][-1]


def test_every_list_query_pages_in_did_order() -> None:
    chain = Chain.new()
    orgs = [signing_key(300 + i) for i in range(5)]
    for i, org in enumerate(orgs):
        assert chain.admit_org(org, ["hospital", "clinic", "insurer"][i % 3]).ok
    staff = [signing_key(400 + i) for i in range(7)]
    for who in staff:
        assert chain.admit_practitioner(orgs[0], who, ["nurse"]).ok
    for path, field, data, expected in (
            ("identity/role", "dids", {"role": "nurse"}, staff),
            ("identity/organization", "members", {"organization": orgs[0].did}, staff),
            ("identity/kind", "dids", {"kind": "practitioner"}, staff),
            ("identity/kind", "dids", {"kind": "organization"}, orgs)):
        want = sorted(k.did for k in expected)
        assert chain.app.query(path, data)["value"][field] == want  # default limit 100
        assert chain.app.query(path, data)["value"]["next"] is None
        pages = _all_pages(chain, path, field, **data, limit=2)
        assert [len(p) for p in pages] == [2] * (len(want) // 2) + [len(want) % 2] * \
            (len(want) % 2)
        assert [d for p in pages for d in p] == want
        assert _all_pages(chain, path, field, **data, limit="3") == \
            [want[i:i + 3] for i in range(0, len(want), 3)]  # GET passes strings
        exact = chain.app.query(path, {**data, "limit": len(want)})["value"]
        assert exact[field] == want and exact["next"] is None
        tail = chain.app.query(path, {**data, "after": want[2]})["value"][field]
        assert tail == want[3:]  # exclusive


@pytest.mark.parametrize("bad", [0, 1001, -1, "0", "1e3", "ten", True, 2.5, None, [5]])
def test_paging_parameters_are_checked(bad: object) -> None:
    chain = Chain.new()
    data = {"limit": bad} if bad is not None else {"limit": 5, "after": ""}
    for path, key in (("identity/role", {"role": "nurse"}), ("identity/kind",
                                                             {"kind": "patient"}),
                      ("identity/organization", {"organization": HOSPITAL.did})):
        with pytest.raises(TxError) as exc:
            chain.app.query(path, {**key, **data})
        assert (exc.value.codespace, exc.value.code) == ("query", 2)
