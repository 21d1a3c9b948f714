"""Trials as FHIR R4: ResearchStudy (outcomes as PlanDefinition.goal), ResearchSubject
with its research Consent, Provenance of a case-report entry; each valid R4 (checked by
the schema on output) and naming the participant by its pseudonym only."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.fhir import validate
from phrchain.fhir.errors import INVALID_TRIAL, FhirError
from phrchain.fhir.trials import EXT_LABEL, provenance, research_study, research_subject
from phrchain.modules.trials.messages import Sign
from phrchain.modules.trials.outcomes import Outcome
from tests.trialflow import OUTCOMES, TrialWorld, entry_id, trial_id
from tests.world import A1, A2, RR

T = trial_id(3)


@pytest.fixture(scope="module")
def state() -> dict[str, Any]:
    w = TrialWorld()
    w.ready(T)
    who = w.enrol(1, T)
    w.ok(A1, w.entry_msg(T, 1, who))
    w.ok(A1, w.entry_msg(T, 2, who, corrects=entry_id(1), reason="transcription error"))
    w.ok(A2, Sign(T, entry_id(2), "review").to_msg())
    w.withdraw(who, T)
    w.lock(T)
    reported = (*OUTCOMES[:2], Outcome("new", "Falls", "1 year", "primary"))
    w.ok(RR, w.results_msg(T, reported))
    return {"trial": w.query("trials/trial", trial=T),
            "version": w.query("trials/version", trial=T, version=1),
            "labels": w.query("trials/report", trial=T)["labels"],
            "participant": w.query("trials/participant", trial=T, participant=who.did),
            "entry": w.query("trials/entry", trial=T, entry=entry_id(2)),
            "history": w.query("trials/history", trial=T, entry=entry_id(2)),
            "who": who.did}


def test_research_study_carries_outcomes_as_plan_goals(state: dict[str, Any]) -> None:
    study = research_study(state["trial"], state["version"], state["labels"])
    validate(study)
    assert (study["resourceType"], study["id"], study["status"]) == \
        ("ResearchStudy", T, "completed")
    plan = study["contained"][0]
    assert study["protocol"] == [{"reference": "#protocol"}]
    goals = {g["id"]: g for g in plan["goal"]}
    assert set(goals) == {"mortality", "qol", "stay"}
    assert goals["mortality"]["priority"]["coding"][0]["code"] == "high-priority"
    assert [e["valueCode"] for e in goals["stay"]["extension"] if e["url"] == EXT_LABEL] \
        == ["not_reported"]
    assert any("outcome new was reported but not registered: added_silent" in n["text"]
               for n in study["note"])


def test_research_subject_names_the_pseudonym_and_its_consent(state: dict[str, Any]) -> None:
    subject = research_subject(state["trial"], state["participant"])
    validate(subject)
    assert subject["status"] == "withdrawn"
    assert subject["individual"]["identifier"]["value"] == state["who"]
    consent = subject["contained"][0]
    assert consent["scope"]["coding"][0]["code"] == "research"
    assert consent["provision"]["purpose"][0]["code"] == "HRESCH"
    assert consent["policy"][0]["uri"].endswith(f":1:{state['version']['protocol']}")


def test_provenance_keeps_meanings_and_the_corrected_entry(state: dict[str, Any]) -> None:
    prov = provenance(T, state["entry"], state["history"]["signatures"])
    validate(prov)
    roles = [a["type"]["coding"][0]["code"] for a in prov["agent"]]
    assert roles == ["author", "verifier"]
    assert prov["entity"][1] == {"role": "revision", "what": {"identifier": {
        "system": "urn:phrchain:trial-entry", "value": f"{T}/{entry_id(1)}"}}}
    assert prov["reason"] == [{"text": "transcription error"}]


def test_malformed_state_is_refused_with_its_code(state: dict[str, Any]) -> None:
    with pytest.raises(FhirError) as exc:
        research_study({**state["trial"], "sponsor": None}, state["version"])
    assert exc.value.error is INVALID_TRIAL
    with pytest.raises(FhirError) as exc:
        provenance(T, {**state["entry"], "time_ms": -1})
    assert exc.value.error is INVALID_TRIAL
