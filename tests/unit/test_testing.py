"""phrchain.testing works as a user's own test would use it, from the installed package."""

from __future__ import annotations

from phrchain import testing


def test_a_users_test_chain_runs_real_modules() -> None:
    chain = testing.Chain.new()
    hospital, doctor, patient = (testing.signing_key(n) for n in (501, 502, 503))
    assert chain.admit_org(hospital).ok
    assert chain.admit_practitioner(hospital, doctor).ok
    assert chain.register_patient(patient).ok
    answer = chain.app.query("identity/did", {"did": doctor.did})
    assert answer["value"]["organization"] == hospital.did
    # a refusal carries the chain's stable code and changes no state
    before = testing.tx_state(chain)
    refused = chain.run(patient, {"type": "identity/set_roles", "did": doctor.did,
                                  "roles": ["nurse"]})
    assert (refused.codespace, refused.ok) == ("identity", False)
    assert testing.tx_state(chain) == before


def test_block_time_advances_one_second_per_block() -> None:
    chain = testing.Chain.new()
    start = chain.time_ms
    chain.register_patient(testing.signing_key(504))
    chain.register_patient(testing.signing_key(505))
    assert chain.time_ms == start + 2000
    assert chain.app.info().height == 2
