"""trials module: registration that cannot be back-dated, versions and commitments,
consent bound to the protocol version, case-report entries by site investigators only,
lock, results labelled against the frozen baseline; every refusal at its boundary and
changing nothing."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from phrchain.app import new_application
from phrchain.core.store import MemoryStateStore
from phrchain.modules.trials.messages import (
    Amend,
    Commit,
    Enrol,
    Lock,
    Reconsent,
    Register,
    SetParams,
    Sign,
    Unblind,
    Withdraw,
)
from phrchain.modules.trials.outcomes import Outcome
from phrchain.testing import genesis
from tests.helpers import AUTHORITY, Chain, tx_state
from tests.trialflow import (
    OUTCOMES,
    REGISTRATION,
    TrialWorld,
    commitment,
    entry_id,
    protocol,
    trial_id,
)
from tests.world import A1, A2, B1, GA, HOSPITAL_A, HOSPITAL_B, INSURER, IR, RESEARCH, RR, P, World

T = trial_id(1)
WINDOW = 365 * 86_400_000


@pytest.fixture
def w() -> TrialWorld:
    return TrialWorld()


def unchanged(w: TrialWorld, signer: Any, msg: dict[str, Any]) -> tuple[str, int]:
    before = tx_state(w.chain)
    code = w.fails(signer, msg)
    assert tx_state(w.chain) == before
    return code


# -- registration -----------------------------------------------------------------------
def test_registration_time_is_the_block_time(w: TrialWorld) -> None:
    m = w.register(T)
    t = w.query("trials/trial", trial=T)
    assert t["registered_ms"] == w.now and t["registered_height"] > 0
    assert (t["sponsor"], t["registered_by"], t["version"], t["baseline"]) == \
        (RESEARCH.did, RR.did, 1, None)
    v = w.query("trials/version", trial=T, version=1)
    assert v["protocol"] == m.protocol.protocol and v["reason"] is None
    assert w.query("trials/of_sponsor", sponsor=RESEARCH.did)["trials"] == [T]


def test_a_back_dated_registration_is_refused_at_the_boundary(w: TrialWorld) -> None:
    nxt = w.now + 1000   # the next block's time
    msg = protocol()
    assert unchanged(w, RR, Register(T, nxt - 1, msg).to_msg()) == ("trials", 5)
    assert unchanged(w, RR, Register(T, nxt + 1000 + WINDOW + 1, msg).to_msg()) == \
        ("trials", 23)
    w.ok(RR, Register(T, nxt + 2000 + WINDOW, msg).to_msg())
    w.ok(RR, Register(trial_id(2), w.now + 1000, msg).to_msg())   # start == block time


@pytest.mark.parametrize("signer", [A1, IR, INSURER, GA, P, HOSPITAL_A])
def test_only_a_research_institute_or_hospital_or_its_researchers_register(
        w: TrialWorld, signer: Any) -> None:
    msg = Register(T, w.now + 1000, protocol()).to_msg()
    if signer is HOSPITAL_A:   # a hospital sponsors too
        w.ok(signer, msg)
        assert w.query("trials/trial", trial=T)["sponsor"] == HOSPITAL_A.did
    else:
        assert unchanged(w, signer, msg) == ("trials", 1)


def test_sites_must_be_active_care_or_research_organizations(w: TrialWorld) -> None:
    for site in (INSURER.did, A1.did, P.did):
        msg = Register(T, w.now + 1000, protocol(sites=(site,))).to_msg()
        assert unchanged(w, RR, msg) == ("trials", 25)


def test_without_genesis_parameters_nothing_runs_until_an_authority_sets_them() -> None:
    app = new_application(MemoryStateStore())
    bare = genesis()
    del bare["app_state"]["trials"]
    app.init_chain(bare)
    chain = Chain(app)
    w = TrialWorld(chain=chain)
    assert isinstance(w, World)
    msg = Register(T, w.now + 1000, protocol()).to_msg()
    assert w.fails(RR, msg) == ("trials", 21)
    params = SetParams(WINDOW, 8, 4, 8, 3)
    assert w.fails(RR, params.to_msg()) == ("trials", 1)
    w.ok(AUTHORITY, params.to_msg())
    assert w.query("trials/params")["version"] == 1
    w.ok(RR, {**msg, "start_ms": w.now + 1000})


def test_parameters_are_versioned_and_a_trial_keeps_its_own(w: TrialWorld) -> None:
    w.ready(T)
    w.ok(AUTHORITY, SetParams(WINDOW, 128, 16, 2, 100).to_msg())   # at most 2 outcomes
    assert w.query("trials/params")["version"] == 2
    assert w.query("trials/params", version=1)["max_outcomes"] == 64
    over = Register(trial_id(2), w.now + 1000, protocol()).to_msg()
    assert unchanged(w, RR, over) == ("trials", 22)
    w.amend(T)   # T was registered under version 1: 3 outcomes still fit
    assert w.query("trials/trial", trial=T)["params"] == 1


def test_versions_limit_amendments(w: TrialWorld) -> None:
    w.ok(AUTHORITY, SetParams(WINDOW, 128, 16, 64, 2).to_msg())
    w.ready(T)
    w.amend(T)
    third = Amend(T, 2, protocol(), "again", False).to_msg()
    assert unchanged(w, RR, third) == ("trials", 22)


def test_an_amendment_is_a_new_version_never_an_edit(w: TrialWorld) -> None:
    w.ready(T)
    stale = Amend(T, 2, protocol(doc="v2"), "typo", False).to_msg()
    assert unchanged(w, RR, stale) == ("trials", 26)
    assert unchanged(w, A1, {**stale, "base": 1}) == ("trials", 1)
    w.ok(RR, {**stale, "base": 1})
    assert w.query("trials/version", trial=T, version=1)["protocol"] == commitment("protocol v1")
    v2 = w.query("trials/version", trial=T, version=2)
    assert (v2["protocol"], v2["reason"], v2["reconsent"]) == (commitment("v2"), "typo", False)


def test_amending_the_sites_moves_the_investigators(w: TrialWorld) -> None:
    w.ready(T)
    who = w.enrol(1, T, site=HOSPITAL_B)
    w.ok(B1, w.entry_msg(T, 1, who))
    w.amend(T, sites=(HOSPITAL_A.did,))
    assert unchanged(w, B1, w.entry_msg(T, 2, who)) == ("trials", 14)


# -- enrolment and consent -------------------------------------------------------------
def test_enrolment_before_registration_is_refused(w: TrialWorld) -> None:
    who = w.participant(1, T)
    msg = Enrol(T, 1, commitment("protocol v1"), HOSPITAL_A.did).to_msg()
    assert unchanged(w, who, msg) == ("trials", 4)
    w.ready(T)
    w.ok(who, msg)


def test_enrolment_waits_for_the_registered_start(w: TrialWorld) -> None:
    w.register(T, start_in=5000)   # starts at the block after 5 more blocks
    w.commit_all(T)                 # two blocks
    who = w.participant(1, T)       # one block
    start = w.query("trials/trial", trial=T)["start_ms"]
    assert w.now + 1000 < start
    w.chain.time_ms = start - 1001  # next block runs 1 ms before the start
    assert unchanged(w, who, w.enrol_msg(T)) == ("trials", 6)
    w.chain.time_ms = start - 1000  # exactly at the start
    w.ok(who, w.enrol_msg(T))


def test_enrolment_needs_the_commitments_first(w: TrialWorld) -> None:
    w.register(T)
    who = w.participant(1, T)
    assert unchanged(w, who, w.enrol_msg(T)) == ("trials", 9)
    w.ok(RR, Commit(T, "sap", commitment("sap")).to_msg())
    assert unchanged(w, who, w.enrol_msg(T)) == ("trials", 9)   # interventional: list too
    w.ok(RR, Commit(T, "randomisation", commitment("list")).to_msg())
    w.ok(who, w.enrol_msg(T))
    # The list is fixed once the first participant is in; the SAP until unblinding.
    late = Commit(T, "randomisation", commitment("list 2")).to_msg()
    assert unchanged(w, RR, late) == ("trials", 20)
    w.ok(RR, Commit(T, "sap", commitment("sap 2")).to_msg())
    sap = w.query("trials/commitments", trial=T, kind="sap")["commitments"]
    assert [c["seq"] for c in sap] == [1, 2]


def test_an_observational_study_needs_no_randomisation_list(w: TrialWorld) -> None:
    w.register(T, registration=replace(REGISTRATION, study_type="observational"))
    w.ok(RR, Commit(T, "sap", commitment("sap")).to_msg())
    w.enrol(1, T)


def test_consent_names_the_current_version_and_its_protocol(w: TrialWorld) -> None:
    w.ready(T)
    who = w.participant(1, T)
    good = w.enrol_msg(T)
    assert unchanged(w, who, {**good, "version": 2}) == ("trials", 7)
    assert unchanged(w, who, {**good, "protocol": commitment("other")}) == ("trials", 8)
    assert unchanged(w, who, {**good, "site": INSURER.did}) == ("trials", 25)
    assert unchanged(w, who, {**good, "purpose": "TREAT"}) == ("trials", 2)
    assert unchanged(w, A1, good) == ("trials", 1)   # a practitioner cannot enrol
    w.ok(who, good)
    assert unchanged(w, who, good) == ("trials", 3)
    p = w.query("trials/participant", trial=T, participant=who.did)
    assert (p["consent_version"], p["protocol"], p["site"], p["status"]) == \
        (1, commitment("protocol v1"), HOSPITAL_A.did, "active")


def test_a_trial_pseudonym_serves_one_trial(w: TrialWorld) -> None:
    w.ready(T)
    w.ready(trial_id(2))
    who = w.enrol(1, T)
    assert unchanged(w, who, w.enrol_msg(trial_id(2))) == ("trials", 24)


def test_the_version_at_first_enrolment_is_frozen_as_baseline(w: TrialWorld) -> None:
    w.ready(T)
    w.amend(T, doc="v2")
    assert w.query("trials/trial", trial=T)["baseline"] is None
    w.enrol(1, T)
    w.amend(T, doc="v3")
    w.enrol(2, T)
    t = w.query("trials/trial", trial=T)
    assert (t["baseline"], t["version"], t["participants"]) == (2, 3, 2)


def test_a_reconsent_amendment_blocks_entries_until_reconsent(w: TrialWorld) -> None:
    w.ready(T)
    who, other = w.enrol(1, T), w.enrol(2, T)
    w.ok(A1, w.entry_msg(T, 1, who))
    w.amend(T, doc="v2", reconsent=False)    # no re-consent needed
    w.ok(A1, w.entry_msg(T, 2, who))
    w.amend(T, doc="v3", reconsent=True)
    assert unchanged(w, A1, w.entry_msg(T, 3, who)) == ("trials", 13)
    w.reconsent(who, T)
    w.ok(A1, w.entry_msg(T, 3, who))
    assert unchanged(w, A1, w.entry_msg(T, 4, other)) == ("trials", 13)
    w.amend(T, doc="v4", reconsent=False)    # consent to v3 still covers what changed
    w.ok(A1, w.entry_msg(T, 5, who))
    assert unchanged(w, A1, w.entry_msg(T, 6, other)) == ("trials", 13)
    w.reconsent(other, T)                     # consenting to v4 covers v3's change
    w.ok(A1, w.entry_msg(T, 6, other))
    again = Reconsent(T, 4, commitment("v4")).to_msg()
    assert unchanged(w, other, again) == ("trials", 3)
    assert unchanged(w, other, {**again, "version": 3, "protocol": commitment("v3")}) == \
        ("trials", 7)


@pytest.mark.parametrize(("handling", "excluded"), [("retain", False), ("exclude", True)])
def test_withdrawal_follows_the_protocols_declared_handling(
        w: TrialWorld, handling: str, excluded: bool) -> None:
    w.ready(T, withdrawal=handling)
    who = w.enrol(1, T)
    w.ok(A1, w.entry_msg(T, 1, who))
    w.withdraw(who, T)
    p = w.query("trials/participant", trial=T, participant=who.did)
    assert (p["status"], p["withdrawal"]) == ("withdrawn", handling)
    listed = w.query("trials/entries", trial=T, participant=who.did)
    assert listed["entries"] == [entry_id(1)]         # what was recorded stays on record
    assert listed["excluded"] is excluded
    assert unchanged(w, A1, w.entry_msg(T, 2, who)) == ("trials", 12)
    assert unchanged(w, who, Withdraw(T).to_msg()) == ("trials", 12)


# -- case-report data --------------------------------------------------------------------
def test_entries_only_by_investigators_of_the_participants_site(w: TrialWorld) -> None:
    w.ready(T, sites=(HOSPITAL_A.did,))
    who = w.enrol(1, T)
    for signer in (B1, RR, HOSPITAL_A, GA, who, IR):
        assert unchanged(w, signer, w.entry_msg(T, 1, who)) == ("trials", 14)
    stranger = w.participant(9, T)
    assert unchanged(w, A1, w.entry_msg(T, 1, stranger)) == ("trials", 11)
    w.ok(A1, w.entry_msg(T, 1, who))
    at = w.now
    assert unchanged(w, A2, w.entry_msg(T, 1, who)) == ("trials", 3)
    e = w.query("trials/entry", trial=T, entry=entry_id(1))
    assert (e["signer"], e["site"], e["meaning"], e["time_ms"]) == \
        (A1.did, HOSPITAL_A.did, "authorship", at)


def test_an_investigator_records_only_for_participants_of_its_site(w: TrialWorld) -> None:
    w.ready(T)
    at_b = w.enrol(1, T, site=HOSPITAL_B)
    assert unchanged(w, A1, w.entry_msg(T, 1, at_b)) == ("trials", 15)
    w.ok(B1, w.entry_msg(T, 1, at_b))


def test_a_correction_never_obscures_what_was_recorded(w: TrialWorld) -> None:
    w.ready(T)
    who, other = w.enrol(1, T), w.enrol(2, T)
    w.ok(A1, w.entry_msg(T, 1, who))
    w.ok(A1, w.entry_msg(T, 2, other))
    bad = w.entry_msg(T, 3, who, corrects=entry_id(9), reason="transcription error")
    assert unchanged(w, A2, bad) == ("trials", 19)
    wrong_person = w.entry_msg(T, 3, who, corrects=entry_id(2), reason="transcription error")
    assert unchanged(w, A2, wrong_person) == ("trials", 19)
    assert unchanged(w, A2, {**w.entry_msg(T, 3, who), "corrects": entry_id(1)}) == \
        ("trials", 2)   # a correction says why
    w.ok(A2, w.entry_msg(T, 3, who, corrects=entry_id(1), reason="transcription error"))
    h = w.query("trials/history", trial=T, entry=entry_id(1))
    assert h["entry"]["commitment"] == commitment("crf 1")   # the original stays
    assert h["corrected_by"] == [entry_id(3)]
    fix = w.query("trials/entry", trial=T, entry=entry_id(3))
    assert (fix["corrects"], fix["reason"], fix["signer"]) == \
        (entry_id(1), "transcription error", A2.did)


def test_signatures_carry_their_meaning(w: TrialWorld) -> None:
    w.ready(T)
    who = w.enrol(1, T)
    w.ok(A1, w.entry_msg(T, 1, who))
    w.ok(A2, Sign(T, entry_id(1), "review").to_msg())
    w.ok(A1, Sign(T, entry_id(1), "approval").to_msg())
    assert unchanged(w, A2, Sign(T, entry_id(1), "review").to_msg()) == ("trials", 3)
    assert unchanged(w, A2, Sign(T, entry_id(2), "review").to_msg()) == ("trials", 19)
    assert unchanged(w, B1, Sign(T, entry_id(1), "review").to_msg()) == ("trials", 15)
    assert unchanged(w, A2, {**Sign(T, entry_id(1), "review").to_msg(),
                             "meaning": "authorship"}) == ("trials", 2)
    sigs = w.query("trials/history", trial=T, entry=entry_id(1))["signatures"]
    assert sorted((s["meaning"], s["signer"]) for s in sigs) == \
        [("approval", A1.did), ("review", A2.did)]


def test_the_database_lock_refuses_later_data(w: TrialWorld) -> None:
    w.ready(T)
    who = w.enrol(1, T)
    w.ok(A1, w.entry_msg(T, 1, who))
    assert unchanged(w, A1, Lock(T).to_msg()) == ("trials", 1)
    w.lock(T)
    assert unchanged(w, A1, w.entry_msg(T, 2, who)) == ("trials", 10)
    assert unchanged(w, A2, Sign(T, entry_id(1), "review").to_msg()) == ("trials", 10)
    assert unchanged(w, RR, Lock(T).to_msg()) == ("trials", 10)
    assert unchanged(w, w.participant(2, T), w.enrol_msg(T)) == ("trials", 10)
    assert unchanged(w, RR, Amend(T, 1, protocol(), "late", False).to_msg()) == ("trials", 10)


def test_unblinding_after_lock_and_then_the_sap_is_fixed(w: TrialWorld) -> None:
    w.ready(T)
    w.enrol(1, T)
    assert unchanged(w, RR, Unblind(T).to_msg()) == ("trials", 16)
    w.lock(T)
    w.unblind(T)
    assert unchanged(w, RR, Unblind(T).to_msg()) == ("trials", 3)
    assert unchanged(w, RR, Commit(T, "sap", commitment("sap 2")).to_msg()) == ("trials", 20)


# -- results and labels ------------------------------------------------------------------
def labels(w: TrialWorld, trial: str = T) -> dict[str, list[str]]:
    return dict(w.query("trials/report", trial=trial)["labels"])


def test_results_come_after_lock_and_need_a_baseline(w: TrialWorld) -> None:
    w.ready(T)
    w.ready(trial_id(2))
    w.enrol(1, T)
    assert unchanged(w, RR, w.results_msg(T, OUTCOMES)) == ("trials", 16)
    w.lock(T)
    assert unchanged(w, A1, w.results_msg(T, OUTCOMES)) == ("trials", 1)
    w.ok(RR, w.results_msg(T, OUTCOMES))
    assert unchanged(w, RR, w.results_msg(T, OUTCOMES)) == ("trials", 18)
    w.lock(trial_id(2))
    assert unchanged(w, RR, w.results_msg(trial_id(2), OUTCOMES)) == ("trials", 17)


def test_an_honest_trial_is_reported_in_full(w: TrialWorld) -> None:
    w.ready(T)
    w.enrol(1, T)
    w.lock(T)
    w.ok(RR, w.results_msg(T, OUTCOMES))
    assert labels(w) == {o.id: ["reported"] for o in OUTCOMES}
    report = w.query("trials/report", trial=T)
    assert (report["baseline"], report["discrepancies"]) == (1, [])
    assert w.query("trials/labels", trial=T, outcome="mortality") == ["reported"]


def test_every_compare_category_against_the_frozen_baseline(w: TrialWorld) -> None:
    """"Which version counts": version 2 (in force at first enrolment) is the baseline;
    version 3, after enrolment, demotes mortality and adds two outcomes. The results
    follow version 3: what version 3 changed counts against the baseline unless the
    report declares it."""
    w.ready(T)
    w.amend(T, doc="v2")
    w.enrol(1, T)
    v3 = (Outcome("added1", "Readmission", "30 days", "primary"),
          Outcome("added2", "Pain score", "7 days", "secondary"),
          Outcome("mortality", "All-cause mortality", "12 months", "secondary"),
          Outcome("qol", "Quality of life (EQ-5D)", "6 months", "primary"))
    w.amend(T, doc="v3", outcomes=v3)
    w.lock(T)
    reported = (Outcome("added1", "Readmission", "30 days", "primary", False),
                Outcome("added2", "Pain score", "7 days", "secondary", True),
                Outcome("mortality", "All-cause mortality", "12  months", "secondary", False),
                Outcome("qol", "Quality of life (EQ-5D)", "3 months", "primary", True))
    w.ok(RR, w.results_msg(T, reported))
    assert labels(w) == {
        "mortality": ["reported", "switched_primary_secondary"],   # silently demoted
        "qol": ["reported"],                                        # declared change
        "stay": ["not_reported"],
        "added1": ["added_silent"],
        "added2": ["added_declared"],
    }
    assert w.query("trials/report", trial=T)["discrepancies"] == \
        ["added1", "mortality", "stay"]
    assert w.query("trials/results", trial=T)["baseline"] == 2


def test_which_version_counts_a_change_before_enrolment_is_pre_specified(
        w: TrialWorld) -> None:
    """The dispute COMPare met: version 1 registered mortality at 12 months; version 2,
    amended *before* anyone enrolled, says 24 months, so a report at 24 months is as
    pre-specified. Version 3, after enrolment, moves quality of life to 3 months and
    reuses the id "stay" for another measure: reported that way without a declaration,
    they are a changed time frame and a silently replaced outcome."""
    w.ready(T)
    v2 = (Outcome("mortality", "All-cause mortality", "24 months", "primary"), *OUTCOMES[1:])
    w.amend(T, doc="v2", outcomes=v2)
    w.enrol(1, T)
    v3 = (v2[0], Outcome("qol", "Quality of life (EQ-5D)", "3 months", "secondary"),
          Outcome("stay", "Days in intensive care", "index admission", "secondary"))
    w.amend(T, doc="v3", outcomes=v3)
    w.lock(T)
    w.ok(RR, w.results_msg(T, tuple(replace(o, declared_change=False) for o in v3)))
    assert labels(w) == {"mortality": ["reported"],
                         "qol": ["reported", "timeframe_changed"],
                         "stay": ["not_reported", "added_silent"]}
    report = w.query("trials/report", trial=T)
    assert (report["baseline"], report["discrepancies"]) == (2, ["qol", "stay"])


# -- nothing changes on a refused message -------------------------------------------------
@pytest.mark.parametrize("field", ["trial", "outcomes", "commitment"])
def test_malformed_results_are_invalid_fields(w: TrialWorld, field: str) -> None:
    w.ready(T)
    msg = w.results_msg(T, OUTCOMES)
    assert unchanged(w, RR, {**msg, field: 7}) == ("trials", 2)
