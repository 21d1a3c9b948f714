"""The UI's trial routes over HTTP, on a running consortium: patient P consents to a
trial under its trial pseudonym (never its own DID), is blocked by a re-consent
amendment until it consents again, withdraws; the regulator GA reads the outcome-switch
report with every label proven against the signed header."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from phrchain.client.trials import trial_wallet
from phrchain.modules.trials.outcomes import Outcome
from tests.consortium import A1, HOSPITAL_A, RR, Consortium, P, running
from tests.trialflow import OUTCOMES, protocol
from tests.webui import Browser, error_of, ui_server


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("web-trials")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def base(c: Consortium, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with ui_server(c, tmp_path_factory.mktemp("web-trials-ui")) as url:
        yield url


@pytest.fixture(scope="module")
def story(c: Consortium, base: str) -> Iterator[dict[str, Any]]:
    sponsor = c.client(RR).trials
    trial = sponsor.register(now_ms() + 500, protocol(sites=(HOSPITAL_A.did,)))
    sponsor.commit(trial, "sap", b"sap")
    sponsor.commit(trial, "randomisation", b"list")
    while now_ms() < sponsor.trial(trial)["start_ms"] + 100:
        time.sleep(0.05)
    sponsor.commit(trial, "sap", b"sap v2")   # a block after the start
    p = Browser(base)
    assert p.login("patient-p").is_success
    listed = p.ok("GET", "api/patient/trials")
    enrolled = p.ok("POST", f"api/patient/trials/{trial}/enrol", {"site": HOSPITAL_A.did})
    yield {"trial": trial, "p": p, "listed": listed, "enrolled": enrolled,
           "sponsor": sponsor}
    p.http.close()


def test_the_patient_consents_under_its_trial_pseudonym(c: Consortium,
                                                        story: dict[str, Any]) -> None:
    trial, enrolled = story["trial"], story["enrolled"]
    before = {t["trial"]: t for t in story["listed"]["trials"]}[trial]
    assert before["me"]["participant"] is None and before["title"] == "Drug X for condition Y"
    pseudonym = trial_wallet(P, trial).did
    assert enrolled["pseudonym"] == pseudonym != P.did
    assert enrolled["participant"]["consent_version"] == 1
    assert c.query("trials/participant", trial=trial, participant=P.did) is None
    again = story["p"].call("POST", f"api/patient/trials/{trial}/enrol",
                            {"site": HOSPITAL_A.did})
    assert error_of(again)[:2] == (422, "trials")


def test_reconsent_then_withdraw_through_the_ui(c: Consortium,
                                                story: dict[str, Any]) -> None:
    trial, p, sponsor = story["trial"], story["p"], story["sponsor"]
    pseudonym = story["enrolled"]["pseudonym"]
    sponsor.amend(trial, protocol(sites=(HOSPITAL_A.did,), doc="v2"), "new visit", True)
    with pytest.raises(Exception, match="reconsent_required"):
        c.client(A1).trials.entry(trial, pseudonym, b"visit")
    mine = {t["trial"]: t for t in p.ok("GET", "api/patient/trials")["trials"]}[trial]
    assert mine["reconsent_version"] == 2 and mine["me"]["participant"]["consent_version"] == 1
    assert p.ok("POST", f"api/patient/trials/{trial}/reconsent")["participant"][
        "consent_version"] == 2
    c.client(A1).trials.entry(trial, pseudonym, b"visit")
    assert p.ok("POST", f"api/patient/trials/{trial}/withdraw")["participant"]["status"] \
        == "withdrawn"
    assert error_of(p.call("POST", f"api/patient/trials/{trial}/withdraw", headers={})) == \
        (403, "ui", "csrf")


def test_the_regulator_reads_the_proven_outcome_switch_report(
        story: dict[str, Any], base: str) -> None:
    trial, sponsor = story["trial"], story["sponsor"]
    sponsor.lock(trial)
    switched = (Outcome("mortality", "All-cause mortality", "12 months", "secondary"),
                *OUTCOMES[1:])
    sponsor.results(trial, switched, b"paper")
    ga = Browser(base)
    assert ga.login("ga").is_success
    report = {t["trial"]: t for t in ga.ok("GET", "api/auditor/trials")["trials"]}[trial]
    assert report["labels"]["mortality"] == ["reported", "switched_primary_secondary"]
    assert report["discrepancies"] == ["mortality"]
    assert report["proof"]["verified"] is True
    assert report["proof"]["labels"] == report["labels"]
    assert [o["id"] for o in report["baseline_outcomes"]] == ["mortality", "qol", "stay"]
    p = story["p"]
    assert error_of(p.call("GET", "api/auditor/trials"))[:2] == (403, "ui")
    ga.http.close()
