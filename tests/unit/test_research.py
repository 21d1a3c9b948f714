"""The research module on the in-process chain: donations by custodian pseudonyms,
studies with IRB approval, per-donor matching stored as state, dataset manifests that
only accept included, unrevoked donors' records, and inclusion / exclusion proofs."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.core import encoding, smt
from phrchain.core.errors import ProofError
from phrchain.modules.research import keys as research_keys
from phrchain.modules.research.messages import DestroyKey, Match, Request
from phrchain.research.terms import params
from tests.helpers import AUTHORITY
from tests.researchflow import IRBM, PO, ResearchWorld, digest, oid, study_msg
from tests.world import DAY_MS, HOSPITAL_A, HOSPITAL_B, RR, P

DS_T2D = {"code": "DS", "disease": "MONDO:0005148"}


@pytest.fixture
def w() -> ResearchWorld:
    return ResearchWorld()


def scenario(w: ResearchWorld) -> dict[str, Any]:
    """Four donors at hospital A: HMB (included), DS diabetes (included), DS asthma
    (excluded: disease), GRU+NPU then revoked (excluded: revoked)."""
    donors = [w.donor(i) for i in range(4)]
    records = {i: [w.record(HOSPITAL_A, d), w.record(HOSPITAL_A, d)] for i, d in
               enumerate(donors)}
    w.donate(donors[0])
    w.donate(donors[1], {"code": "DS", "disease": "MONDO:0005015"},
             scope={"records": [records[1][0]]})
    w.donate(donors[2], {"code": "DS", "disease": "MONDO:0004979"})
    w.donate(donors[3], {"code": "GRU"}, [{"code": "NPU"}])
    w.ok(donors[3], {"type": "research/revoke"})
    study = oid("study 1")
    w.study(study)
    req = w.request(oid("request 1"), study)
    return {"donors": donors, "records": records, "study": study, "request": req}


def test_matching_outcomes_are_state(w: ResearchWorld) -> None:
    s = scenario(w)
    req, donors = s["request"], s["donors"]
    assert req["done"] and (req["included"], req["excluded"]) == (2, 2)
    got = {i: w.query("research/outcome", request=req["request"], donor=d.did)
           for i, d in enumerate(donors)}
    assert got[0] == {"outcome": "included", "reason": None, "donation": 1}
    assert got[1]["outcome"] == "included"
    assert got[2] == {"outcome": "excluded", "reason": "disease", "donation": 1}
    assert got[3]["reason"] == "revoked"


def test_release_and_proofs(w: ResearchWorld) -> None:
    s = scenario(w)
    request, records = s["request"]["request"], s["records"]
    released = [*records[0], records[1][0]]
    dataset = oid("dataset 1")
    w.ok(HOSPITAL_A, w.release_msg(dataset, request, released).to_msg())
    manifest = w.query("research/dataset", dataset=dataset)
    assert manifest["leaves"] == 3 and manifest["study"] == s["study"]
    assert w.query("research/uses", donor=s["donors"][0].did)["datasets"] == {
        dataset: s["study"]}
    assert w.query("research/uses", donor=s["donors"][2].did)["datasets"] == {}
    # inclusion: membership of the leaf key against the app hash
    answer = w.chain.app.query("research/leaf", {"dataset": dataset,
                                                 "record": released[0]}, prove=True)
    root, proof = bytes.fromhex(answer["app_hash"]), smt.SmtProof.from_json(answer["proof"])
    key = research_keys.leaf_key(dataset, released[0])
    raw = bytes.fromhex(answer["raw_value"])
    smt.verify_membership(root, key, raw, proof)
    assert encoding.decode(raw)["donation"] == 1
    flipped = bytearray(raw)
    flipped[-2] ^= 1
    with pytest.raises(ProofError):
        smt.verify_membership(root, key, bytes(flipped), proof)
    # exclusion: the excluded donor's records are provably absent
    for record in records[2]:
        answer = w.chain.app.query("research/leaf", {"dataset": dataset, "record": record},
                                   prove=True)
        assert answer["value"] is None
        proof = smt.SmtProof.from_json(answer["proof"])
        smt.verify_non_membership(root, research_keys.leaf_key(dataset, record), proof)
        with pytest.raises(ProofError):
            smt.verify_non_membership(root, research_keys.leaf_key(dataset, released[0]),
                                      proof)


@pytest.mark.parametrize("bad", ["excluded", "revoked", "other custodian", "root",
                                 "version", "scope"])
def test_release_refuses_records_that_may_not_go(w: ResearchWorld, bad: str) -> None:
    s = scenario(w)
    request, records, donors = s["request"]["request"], s["records"], s["donors"]
    chosen, donation, leaves_root = list(records[0]), 1, None
    if bad == "excluded":
        chosen += records[2]
    elif bad == "revoked":
        chosen += records[3]
    elif bad == "other custodian":
        chosen.append(w.record(HOSPITAL_B, donors[0]))
    elif bad == "version":
        donation = 2
    elif bad == "scope":
        chosen += records[1]        # donor 1 donated only its first record
    elif bad == "root":
        leaves_root = digest("another root")
    msg = w.release_msg(oid("d"), request, chosen, donation=donation,
                        leaves_root=leaves_root).to_msg()
    expected = 14 if bad == "root" else 13
    assert w.fails(HOSPITAL_A, msg) == ("research", expected)


def test_revoked_after_matching_is_excluded_from_later_datasets(w: ResearchWorld) -> None:
    s = scenario(w)
    request, records, donors = s["request"]["request"], s["records"], s["donors"]
    w.ok(HOSPITAL_A, w.release_msg(oid("d1"), request, records[0]).to_msg())
    w.ok(donors[0], {"type": "research/revoke"})
    assert w.fails(HOSPITAL_A, w.release_msg(oid("d2"), request, records[0]).to_msg()) \
        == ("research", 13)
    later = w.request(oid("request 2"), s["study"])
    assert w.query("research/outcome", request=later["request"],
                   donor=donors[0].did)["reason"] == "revoked"


def test_thresholds_approvals_and_key_destruction(w: ResearchWorld) -> None:
    s = scenario(w)
    request, records = s["request"]["request"], s["records"]
    low = w.release_msg(oid("d"), request, records[0], k=1).to_msg()
    assert w.fails(HOSPITAL_A, low) == ("research", 15)
    forged = w.release_msg(oid("d"), request, records[0]).to_msg()
    forged["approval"] = IRBM.sign(b"something else").hex()
    assert w.fails(HOSPITAL_A, forged) == ("research", 9)
    forged["approver"] = IRBM.did   # not of hospital A
    assert w.fails(HOSPITAL_A, forged) == ("research", 9)
    dataset = oid("d")
    w.ok(HOSPITAL_A, w.release_msg(dataset, request, records[0]).to_msg())
    assert w.fails(HOSPITAL_B, DestroyKey(dataset).to_msg()) == ("research", 1)
    w.ok(HOSPITAL_A, DestroyKey(dataset).to_msg())
    assert w.query("research/dataset", dataset=dataset)["key_destroyed_height"] is not None
    assert w.fails(HOSPITAL_A, DestroyKey(dataset).to_msg()) == ("research", 18)


def test_study_and_donation_refusals(w: ResearchWorld) -> None:
    donor = w.donor(0)
    bad_irb = study_msg(oid("s"), irb=True).to_msg()
    bad_irb["irb"]["sig"] = PO.sign(b"x").hex()
    assert w.fails(RR, bad_irb) == ("research", 9)
    assert w.fails(HOSPITAL_A, study_msg(oid("s")).to_msg()) == ("research", 1)
    assert w.fails(RR, study_msg(oid("s"), k=1).to_msg()) == ("research", 15)
    unknown = study_msg(oid("s"), purpose={"code": "DS", "disease": "MONDO:0000000"})
    assert w.fails(RR, unknown.to_msg()) == ("research", 5)
    w.study(oid("s"))
    assert w.fails(RR, study_msg(oid("s")).to_msg()) == ("research", 4)
    other = w.record(HOSPITAL_A, P)
    msg = {"type": "research/donate", "permission": {"code": "HMB"}, "modifiers": [],
           "scope": {"records": [other]},
           "period": {"start_ms": w.now, "end_ms": w.now + DAY_MS}}
    assert w.fails(donor, msg) == ("research", 7)
    msg["scope"] = {"all": True}
    msg["period"] = {"start_ms": 0, "end_ms": 1}
    assert w.fails(donor, msg) == ("research", 19)
    msg["modifiers"] = [{"code": "PUB"}, {"code": "NPU"}]
    assert w.fails(donor, msg) == ("research", 2)
    assert w.fails(donor, {"type": "research/revoke"}) == ("research", 6)
    assert w.fails(RR, Match(oid("nothing")).to_msg()) == ("research", 10)
    assert w.fails(RR, Request(oid("r"), oid("no study")).to_msg()) == ("research", 8)


def test_matching_runs_in_batches(w: ResearchWorld) -> None:
    w.ok(AUTHORITY, {"type": "research/set_params", **params(min_k=2, match_batch=2)})
    for i in range(5):
        w.donate(w.donor(i))
    w.study(oid("s"))
    req = w.request(oid("r"), oid("s"))
    assert not req["done"] and req["included"] == 2
    assert w.fails(HOSPITAL_A, w.release_msg(oid("d"), oid("r"), [w.record(
        HOSPITAL_A, w.donor(0))]).to_msg()) == ("research", 12)
    w.ok(RR, Match(oid("r")).to_msg())
    w.ok(RR, Match(oid("r")).to_msg())
    req = w.query("research/request", request=oid("r"))
    assert req["done"] and req["included"] == 5
    assert w.fails(RR, Match(oid("r")).to_msg()) == ("research", 11)


def test_not_enabled_without_params() -> None:
    from tests.world import World

    plain = World()
    assert plain.fails(RR, study_msg(oid("s")).to_msg()) == ("research", 3)
