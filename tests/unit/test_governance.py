"""The governance module: proposals, votes at the exact threshold and period
boundaries, execution at the closing block, and every refusal's code."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.app import Application, new_application
from phrchain.core import keys
from phrchain.core.store import MemoryStateStore
from phrchain.modules import governance
from phrchain.modules.governance.actions import (
    AddValidator,
    AdmitAuthority,
    FreezeOrganization,
    RemoveAuthority,
    RemoveValidator,
    ReplaceValidator,
    ScheduleUpgrade,
    SetParameter,
    SetValidatorPower,
    UnfreezeOrganization,
)
from phrchain.modules.governance.messages import Propose, Vote
from phrchain.modules.identity import admission_bytes
from tests.helpers import CHAIN_ID, Chain, admit_practitioner_msg, enc_key, genesis, signing_key

AUTHORITIES = [signing_key(n) for n in (1, 41, 42, 43)]
A0, A1, A2, A3 = AUTHORITIES
ORGS = [signing_key(n) for n in (51, 52, 53, 54, 55)]
ORG_TYPES = ["hospital", "insurer", "regulator", "clinic", "pharmacy"]
VALIDATOR_KEYS = [signing_key(n).public_key for n in (61, 62, 63, 64, 65, 66)]
PERIOD = 5


def council_genesis(authorities: int = 4, validators: int = 4, **governance_extra: Any
                    ) -> dict[str, Any]:
    data = genesis(
        authorities=[{"did": a.did, "enc_key": enc_key(i), "name": f"Member {i}"}
                     for i, a in enumerate(AUTHORITIES[:authorities])],
        organizations=[{"did": o.did, "org_type": t, "name": f"Org {i}", "enc_key": enc_key(9)}
                       for i, (o, t) in enumerate(zip(ORGS, ORG_TYPES, strict=True))])
    data["app_state"]["governance"] = {
        "threshold": {"numerator": 2, "denominator": 3}, "voting_period": PERIOD,
        "min_validators": 3,
        "validators": [{"pub_key": VALIDATOR_KEYS[i].hex(), "power": 10,
                        "organization": ORGS[i].did} for i in range(validators)],
        **governance_extra}
    return data


def new_chain(**kw: Any) -> Chain:
    app = new_application(MemoryStateStore())
    app.init_chain(council_genesis(**kw))
    return Chain(app)


def run(chain: Chain, who: keys.SigningKey, msg: dict[str, Any]) -> Any:
    """One tx in its own block; a refused tx uses no nonce, so the next one reuses it."""
    result = chain.run(who, msg)
    if not result.ok:
        chain.nonces[who.did] -= 1
    return result


def propose(chain: Chain, who: keys.SigningKey, action: Any) -> Any:
    return run(chain, who, Propose(action).to_msg())


def vote(chain: Chain, who: keys.SigningKey, proposal: int, option: str = "yes") -> Any:
    return run(chain, who, Vote(proposal, option).to_msg())


def record(app: Application, proposal: int) -> Any:
    return app.query("governance/proposal", {"id": proposal})["value"]


def events(result: Any) -> list[str]:
    return [e.type for e in result.events]


def add_fifth() -> AddValidator:
    return AddValidator(VALIDATOR_KEYS[4], 10, ORGS[4].did)


def test_threshold_just_below_leaves_the_vote_open_until_it_expires() -> None:
    chain = new_chain()  # 4 authorities, 2/3: 3 yes votes needed
    assert propose(chain, A0, add_fifth()).ok
    assert vote(chain, A1, 1).ok   # 2 of 3: below the threshold
    assert record(chain.app, 1)["status"] == "open"
    submitted = record(chain.app, 1)["submitted"]
    while chain.app.store.version() < submitted + PERIOD - 1:
        chain.block([])
        assert record(chain.app, 1)["status"] == "open"
    last = chain.block([])          # the last block of the period closes it
    assert last.height == submitted + PERIOD
    assert record(chain.app, 1)["status"] == "expired"
    assert events(last) == ["governance.expired"] and last.validator_updates == ()
    assert len(governance.validators(_view(chain))) == 4


def _view(chain: Chain) -> Any:
    from phrchain.core.state import StoreView
    return StoreView(chain.app.store.get, chain.app.store.iterate)


def test_threshold_reached_executes_at_that_block_with_a_validator_update() -> None:
    chain = new_chain()
    propose(chain, A0, add_fifth())
    vote(chain, A1, 1)
    result = chain.block([chain.tx(A2, Vote(1, "yes").to_msg())])
    assert result.tx_results[0].ok
    assert record(chain.app, 1)["status"] == "executed"
    assert record(chain.app, 1)["yes"] == 3 and record(chain.app, 1)["closed_at"] == result.height
    assert [(u.pub_key, u.power) for u in result.validator_updates] == [(VALIDATOR_KEYS[4], 10)]
    assert "governance.executed" in events(result) and "governance.validator" in events(result)
    assert {v["pub_key"] for v in governance.validators(_view(chain))} \
        == {k.hex() for k in VALIDATOR_KEYS[:5]}
    # a vote after the close is refused
    late = vote(chain, A3, 1)
    assert (late.codespace, late.code) == ("governance", 4)


def test_a_vote_in_the_last_block_of_the_period_counts_and_one_after_is_refused() -> None:
    chain = new_chain()
    propose(chain, A0, SetParameter("vault", "max_blob_mb", 64))
    vote(chain, A1, 1)
    end = record(chain.app, 1)["voting_end"]
    while chain.app.store.version() < end - 1:
        chain.block([])
    result = chain.block([chain.tx(A2, Vote(1, "yes").to_msg())])
    assert result.height == end and result.tx_results[0].ok
    assert record(chain.app, 1)["status"] == "executed"
    assert governance.parameter(_view(chain), "vault", "max_blob_mb") == 64

    propose(chain, A0, SetParameter("vault", "max_blob_mb", 65))
    end = record(chain.app, 2)["voting_end"]
    while chain.app.store.version() < end:
        chain.block([])
    assert record(chain.app, 2)["status"] == "expired"
    late = vote(chain, A1, 2)
    assert (late.codespace, late.code) == ("governance", 4)
    assert governance.parameter(_view(chain), "vault", "max_blob_mb") == 64


def test_no_authority_acts_alone() -> None:
    # Two authorities, threshold 1/2: one yes meets the fraction but not the two-vote floor.
    app = new_application(MemoryStateStore())
    app.init_chain(council_genesis(authorities=2, threshold={"numerator": 1,
                                                             "denominator": 2}))
    chain = Chain(app)
    result = chain.block([chain.tx(A0, Propose(SetParameter("x", "y", 1)).to_msg())])
    assert result.tx_results[0].ok
    assert record(app, 1)["status"] == "open"  # one yes of two: open, not executed
    vote(chain, A1, 1)
    assert record(app, 1)["status"] == "executed"
    # with a single authority nothing can ever pass: rejected at once
    single = new_application(MemoryStateStore())
    single.init_chain(council_genesis(authorities=1))
    lone = Chain(single)
    assert propose(lone, A0, SetParameter("x", "y", 1)).ok
    assert record(single, 1)["status"] == "rejected"


def test_removing_an_authority_needs_the_threshold_of_the_others() -> None:
    chain = new_chain()
    target = A3
    refused = propose(chain, target, RemoveAuthority(target.did, "privilege_withdrawn"))
    assert (refused.codespace, refused.code) == ("governance", 6)
    assert propose(chain, A0, RemoveAuthority(target.did, "privilege_withdrawn")).ok
    refused = vote(chain, target, 1)
    assert (refused.codespace, refused.code) == ("governance", 6)
    # eligible: the 3 others; 2/3 of 3 = 2 yes: A0 (proposer) + A1
    assert record(chain.app, 1)["status"] == "open"
    result = chain.block([chain.tx(A1, Vote(1, "yes").to_msg())])
    assert record(chain.app, 1)["status"] == "executed"
    assert record(chain.app, 1)["eligible"] == 3
    assert "governance.executed" in events(result)
    who = chain.app.query("identity/did", {"did": target.did})["value"]
    assert who["status"] == "revoked"
    # the removed authority can no longer sign
    after = run(chain, target, Vote(1, "yes").to_msg())
    assert (after.codespace, after.code) == ("tx", 9)


def test_no_votes_reject_a_proposal_that_can_no_longer_pass() -> None:
    chain = new_chain()
    propose(chain, A0, add_fifth())
    vote(chain, A1, 1, "no")
    assert record(chain.app, 1)["status"] == "open"  # 3 yes still possible
    result = chain.block([chain.tx(A2, Vote(1, "no").to_msg())])
    assert record(chain.app, 1)["status"] == "rejected"
    assert events(result)[-1] == "governance.rejected"
    assert result.validator_updates == ()


def test_admit_authority_with_its_proof_of_possession() -> None:
    chain = new_chain()
    newcomer, enc = signing_key(44), bytes.fromhex(enc_key(44))
    bad = AdmitAuthority(newcomer.did, enc, "Member 5", b"\x01" * 64)
    refused = propose(chain, A0, bad)
    assert (refused.codespace, refused.code) == ("governance", 15)
    pop = newcomer.sign(admission_bytes(CHAIN_ID, "governance", newcomer.did, enc))
    assert propose(chain, A0, AdmitAuthority(newcomer.did, enc, "Member 5", pop)).ok
    vote(chain, A1, 1)
    vote(chain, A2, 1)
    assert record(chain.app, 1)["status"] == "executed"
    assert chain.app.query("identity/did", {"did": newcomer.did})["value"]["kind"] \
        == "authority"
    assert propose(chain, newcomer, SetParameter("a", "b", [1, 2])).ok  # a member now
    refused = propose(chain, A0, AdmitAuthority(newcomer.did, enc, "Member 5", pop))
    assert (refused.codespace, refused.code) == ("governance", 12)


def test_an_outsider_cannot_propose_or_vote() -> None:
    chain = new_chain()
    refused = propose(chain, ORGS[0], add_fifth())
    assert (refused.codespace, refused.code) == ("governance", 1)
    propose(chain, A0, add_fifth())
    refused = vote(chain, ORGS[0], 1)
    assert (refused.codespace, refused.code) == ("governance", 1)
    twice = vote(chain, A0, 1)
    assert (twice.codespace, twice.code) == ("governance", 5)
    unknown = vote(chain, A1, 99)
    assert (unknown.codespace, unknown.code) == ("governance", 3)


@pytest.mark.parametrize(("action", "code"), [
    (AddValidator(VALIDATOR_KEYS[0], 10, ORGS[4].did), 8),          # key in the set
    (AddValidator(VALIDATOR_KEYS[4], 10, signing_key(99).did), 7),  # no such organization
    (AddValidator(VALIDATOR_KEYS[4], 20, ORGS[4].did), 11),         # 20 of 60: a third
    (AddValidator(VALIDATOR_KEYS[4], 10, ORGS[0].did), 11),         # org 0 would hold 20/50
    (RemoveValidator(VALIDATOR_KEYS[5]), 9),
    (SetValidatorPower(VALIDATOR_KEYS[0], 15), 11),                 # 15 of 45: a third
    (SetValidatorPower(VALIDATOR_KEYS[0], 10), 2),                  # no change
    (ReplaceValidator(VALIDATOR_KEYS[0], VALIDATOR_KEYS[1]), 8),
    (ScheduleUpgrade(2, 3, "too-soon"), 16),                        # before the vote closes
    (RemoveAuthority(signing_key(99).did, "unspecified"), 13),
    (FreezeOrganization(signing_key(99).did), 7),
    (UnfreezeOrganization(ORGS[0].did), 18),
])
def test_proposals_refused_with_a_stable_code(action: Any, code: int) -> None:
    chain = new_chain()
    result = propose(chain, A0, action)
    assert (result.codespace, result.code) == ("governance", code), result.log
    assert chain.app.query("governance/proposals", {})["value"]["proposals"] == []


def test_power_share_boundary_just_below_a_third_passes() -> None:
    # Four validators of 10; a fifth organization's validator at p makes a total of
    # 40 + p: refused when 3p >= 40 + p, i.e. from p = 20 (exactly a third) on.
    chain = new_chain()
    at_third = propose(chain, A0, AddValidator(VALIDATOR_KEYS[4], 20, ORGS[4].did))
    assert at_third.code == 11  # 3*20 == 60: exactly a third is refused
    below = propose(chain, A0, AddValidator(VALIDATOR_KEYS[4], 19, ORGS[4].did))
    assert below.ok  # 3*19 = 57 < 59


def test_removal_below_the_minimum_is_refused_at_proposal_and_at_execution() -> None:
    chain = new_chain(validators=5, min_validators=4)
    assert propose(chain, A0, RemoveValidator(VALIDATOR_KEYS[0])).ok
    assert propose(chain, A1, RemoveValidator(VALIDATOR_KEYS[1])).ok  # ok on its own
    vote(chain, A1, 1)
    vote(chain, A2, 1)  # proposal 1 executes: 4 validators left
    assert record(chain.app, 1)["status"] == "executed"
    vote(chain, A0, 2)
    result = chain.block([chain.tx(A2, Vote(2, "yes").to_msg())])
    assert record(chain.app, 2)["status"] == "failed"
    assert record(chain.app, 2)["failure"] == {"codespace": "governance", "code": 10,
                                               "name": "too_few_validators"}
    assert result.validator_updates == () and "governance.failed" in events(result)
    assert len(governance.validators(_view(chain))) == 4


def test_rotate_and_reweight_a_validator() -> None:
    chain = new_chain(validators=4)
    propose(chain, A0, ReplaceValidator(VALIDATOR_KEYS[0], VALIDATOR_KEYS[5]))
    vote(chain, A1, 1)
    result = chain.block([chain.tx(A2, Vote(1, "yes").to_msg())])
    assert [(u.pub_key, u.power) for u in result.validator_updates] == sorted(
        [(VALIDATOR_KEYS[0], 0), (VALIDATOR_KEYS[5], 10)])
    propose(chain, A0, SetValidatorPower(VALIDATOR_KEYS[5], 12))
    vote(chain, A1, 2)
    result = chain.block([chain.tx(A2, Vote(2, "yes").to_msg())])
    assert [(u.pub_key, u.power) for u in result.validator_updates] == [(VALIDATOR_KEYS[5], 12)]
    mine = [v for v in governance.validators(_view(chain))
            if v["pub_key"] == VALIDATOR_KEYS[5].hex()]
    assert mine[0]["organization"] == ORGS[0].did and mine[0]["power"] == 12


def test_freeze_stops_an_organization_and_its_staff_until_unfrozen() -> None:
    chain = new_chain()
    org = ORGS[0]
    nurse = signing_key(77)
    assert chain.run(org, admit_practitioner_msg(org, nurse, ("nurse",))).ok
    propose(chain, A0, FreezeOrganization(org.did))
    vote(chain, A1, 1)
    vote(chain, A2, 1)
    assert record(chain.app, 1)["status"] == "executed"
    for who in (org, nurse):
        refused = run(chain, who, {"type": "identity/set_roles", "did": nurse.did,
                                   "roles": ["nurse"]})
        assert (refused.codespace, refused.code) == ("identity", 12)
    again = propose(chain, A0, FreezeOrganization(org.did))
    assert (again.codespace, again.code) == ("governance", 17)
    validator_refused = propose(chain, A0, AddValidator(VALIDATOR_KEYS[4], 1, org.did))
    assert validator_refused.code == 7  # a frozen organization runs no new validator
    propose(chain, A0, UnfreezeOrganization(org.did))
    vote(chain, A1, 2)  # refused proposals take no id
    vote(chain, A2, 2)
    assert record(chain.app, 2)["status"] == "executed"
    assert run(chain, org, {"type": "identity/set_roles", "did": nurse.did,
                            "roles": ["nurse", "physician"]}).ok


def test_schedule_upgrade_sets_the_rule_version_from_its_height() -> None:
    chain = new_chain()
    height = chain.app.store.version() + PERIOD + 10
    propose(chain, A0, ScheduleUpgrade(2, height, "v2"))
    vote(chain, A1, 1)
    vote(chain, A2, 1)
    assert record(chain.app, 1)["status"] == "executed"
    view = _view(chain)
    assert governance.rules_version(view, height - 1) == 1
    assert governance.rules_version(view, height) == 2
    rules = chain.app.query("governance/rules", {"height": height})["value"]
    assert rules["version"] == 2 and rules["upgrades"][0]["name"] == "v2"
    lower = propose(chain, A0, ScheduleUpgrade(2, height + 100, "again"))
    assert lower.code == 16  # versions only go up


def test_parameter_store_is_versioned() -> None:
    chain = new_chain()
    for n, value in enumerate(({"max_txs": 100}, {"max_txs": 200}), start=1):
        propose(chain, A0, SetParameter("block", "limits", value))
        vote(chain, A1, n)
        vote(chain, A2, n)
    view = _view(chain)
    assert governance.parameter(view, "block", "limits") == {"max_txs": 200}
    assert governance.parameter_version(view, "block", "limits") == 2
    assert governance.parameter(view, "block", "other", "dflt") == "dflt"
    answer = chain.app.query("governance/parameter", {"module": "block", "name": "limits"},
                             prove=True)
    assert answer["value"]["version"] == 2 and answer["proof"]


def test_a_block_with_no_open_vote_writes_nothing() -> None:
    chain = new_chain()
    before = chain.app.store.root()
    chain.block([])
    from phrchain.core.module import BLOCK_KEY
    # only the app's block marker changes
    assert chain.app.store.get(BLOCK_KEY) is not None
    assert chain.app.store.root() != before
    empty = new_application(MemoryStateStore())
    empty.init_chain(genesis())  # no governance section: no governance key at all
    assert list(empty.store.iterate(b"governance/", None, None)) == []


def test_genesis_refuses_bad_sections() -> None:
    for bad in ({"voting_period": 0}, {"threshold": {"numerator": 3, "denominator": 2}},
                {"validators": [{"pub_key": "00", "power": 1, "organization": ORGS[0].did}]},
                {"min_validators": 5}, {"surprise": 1},
                {"validators": [{"kind": "remove_validator", "pub_key": VALIDATOR_KEYS[0].hex(),
                                 "power": 1, "organization": ORGS[0].did}]},
                {"validators": [{"pub_key": VALIDATOR_KEYS[0].hex(), "power": 1,
                                 "organization": A1.did}]},  # not an organization
                {"validators": [{"pub_key": VALIDATOR_KEYS[0].hex(), "power": 1,
                                 "organization": ORGS[0].did}] * 4}):  # one key twice
        data = council_genesis()
        data["app_state"]["governance"] = {**data["app_state"]["governance"], **bad}
        with pytest.raises(ValueError):
            new_application(MemoryStateStore()).init_chain(data)
