"""The FHIR REST facade decides every resource by consent, over REST: the consent
matrix (no consent, wrong purpose, expired, revoked, another patient's id, a search
that would reveal existence), each decision in the patient's audit log; a standalone
patient launch with fhirclient whose approval is an on-chain consent; writes; and
OperationOutcome for bad input, with nothing written."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from fhir.resources.R4B import get_fhir_model_class
from fhirclient import client as smart
from fhirclient.models.observation import Observation as SmartObservation

from phrchain.fhirapi.smart import SmartApps
from phrchain.gateway.service import wall_clock_ms
from tests.consortium import HOSPITAL_A, HOSPITAL_B, INSURER, Consortium, P, Q, running
from tests.fhirworld import (
    approve,
    backend_token,
    base_of,
    get,
    grant,
    import_patient,
    parses,
    query_of,
)

APP, REDIRECT = "phr-demo-app", "http://127.0.0.1:9/callback"
CONSENT_UI = "http://127.0.0.1:9/wallet"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("fhiraccess")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def world(c: Consortium) -> dict[str, Any]:
    apps = SmartApps(c.vaults[HOSPITAL_A.did].config.directory)
    apps.register(APP, "PHR demo app", [REDIRECT])
    apps.set_consent_ui(CONSENT_UI)
    out = {"p": import_patient(c, P, seed=21, resources=12),
           "q": import_patient(c, Q, seed=22, resources=8)}
    grant(c, P, HOSPITAL_B, purposes=["TREAT"])
    return out


def outcome_of(answer: httpx.Response) -> tuple[int, str, list[str]]:
    body = answer.json()
    get_fhir_model_class("OperationOutcome").model_validate(body)
    issue = body["issue"][0]
    codes = [c["code"] for c in issue["details"]["coding"]]
    return answer.status_code, codes[0], codes[1:] + issue.get("expression", [])


def audit_reasons(c: Consortium, pid: str, agent: str) -> list[tuple[str, str]]:
    """(outcome, reason) of the patient's audit entries by ``agent``, read as FHIR
    AuditEvents through hospital A's own backend token."""
    c.flush()
    token = backend_token(c, HOSPITAL_A, "system/AuditEvent.rs")
    page = get(base_of(c), "AuditEvent", token, patient=pid, agent=agent, _count="100")
    assert page.status_code == 200, page.text
    get_fhir_model_class("Bundle").model_validate(page.json())
    return [(e["resource"]["outcome"], e["resource"]["outcomeDesc"])
            for e in page.json().get("entry", [])]


def test_no_consent_denies_and_a_search_reveals_nothing(c: Consortium,
                                                        world: dict[str, Any]) -> None:
    base, pid, qid = base_of(c), world["p"]["pid"], world["q"]["pid"]
    token = backend_token(c, INSURER, "system/*.rs purpose/HPAYMT")
    read = get(base, f"Patient/{pid}", token)
    assert outcome_of(read)[:2] == (403, "fhirapi/6") and "no_consent" in outcome_of(read)[2]
    for who in (pid, qid):
        page = get(base, "Observation", token, patient=who)
        assert page.status_code == 200
        body = page.json()
        assert body["type"] == "searchset" and not body.get("entry") and "total" not in body
        assert [link["relation"] for link in body["link"]] == ["self"]
        assert get(base, "Observation", token, patient=who,
                   _summary="count").json()["total"] == 0
    denied = audit_reasons(c, pid, INSURER.did)
    assert denied and all(d == ("4", "no_consent") for d in denied)


def test_wrong_purpose_and_expired_consent(c: Consortium, world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["p"]["pid"]
    wrong = backend_token(c, HOSPITAL_B, "system/*.rs purpose/HPAYMT")
    answer = get(base, f"Patient/{pid}", wrong)
    assert outcome_of(answer)[:2] == (403, "fhirapi/6")
    assert "purpose_not_permitted" in outcome_of(answer)[2]
    assert not get(base, "Condition", wrong, patient=pid).json().get("entry")
    assert ("4", "purpose_not_permitted") in audit_reasons(c, pid, HOSPITAL_B.did)
    grant(c, P, INSURER, purposes=["COVERAGE"], end_ms=wall_clock_ms() + 1500)
    token = backend_token(c, INSURER, "system/*.rs purpose/COVERAGE")
    assert get(base, f"Patient/{pid}", token).status_code == 200
    time.sleep(1.6)
    c.client(Q).consent.grant({"kind": "organization", "id": HOSPITAL_B.did},
                              actions=["read"], scope={"all": True}, purposes=["TREAT"],
                              start_ms=wall_clock_ms(), end_ms=wall_clock_ms() + 60_000,
                              share_existing=False)  # a block after the end
    expired = get(base, f"Patient/{pid}", token)
    assert outcome_of(expired)[:2] == (403, "fhirapi/6")
    assert "consent_expired" in outcome_of(expired)[2]
    reasons = {r for _, r in audit_reasons(c, pid, INSURER.did)}
    assert {"consent", "consent_expired"} <= reasons


def test_revoking_on_chain_ends_a_live_token(c: Consortium, world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["q"]["pid"]  # Q: no other consent names the insurer
    consent = grant(c, Q, INSURER, purposes=["HPAYMT"])
    token = backend_token(c, INSURER, "system/Observation.rs purpose/HPAYMT")
    page = get(base, "Observation", token, patient=pid).json()
    assert page["entry"]
    one = page["entry"][0]["resource"]["id"]
    c.client(Q).consent.revoke(consent)
    answer = get(base, f"Observation/{one}", token)  # the same token, one request later
    assert outcome_of(answer)[:2] == (403, "fhirapi/6")
    assert "consent_revoked" in outcome_of(answer)[2]
    assert not get(base, "Observation", token, patient=pid).json().get("entry")
    assert ("4", "consent_revoked") in audit_reasons(c, pid, INSURER.did)


def test_standalone_patient_launch_with_fhirclient(c: Consortium,
                                                   world: dict[str, Any]) -> None:
    """An unmodified fhirclient app: authorize URL → the wallet's consent screen (here:
    the wallet's signed approval after its on-chain consent) → code → PKCE token →
    the patient's own records; another patient's id is refused; a revoke ends it."""
    base, pid, qid = base_of(c), world["p"]["pid"], world["q"]["pid"]
    app = smart.FHIRClient(settings={"app_id": APP, "api_base": base,
                                     "redirect_uri": REDIRECT, "scope": "patient/*.rs"})
    authorize = httpx.get(app.authorize_url)
    assert authorize.status_code == 302
    screen = authorize.headers["location"]
    assert screen.startswith(CONSENT_UI + "/?smart_gateway=")
    pending = query_of(screen)["smart_request"]
    asked = httpx.get(f"{base}auth/requests/{pending}").json()
    assert asked["app"] == "PHR demo app" and asked["purpose"] == "PATRQT"
    now = wall_clock_ms()
    consent = c.client(P).consent.grant(
        {"kind": "organization", "id": HOSPITAL_A.did}, actions=["read"],
        scope={"all": True}, purposes=[asked["purpose"]], start_ms=now - 1000,
        end_ms=now + 3_600_000, share_existing=False)
    assert approve(c, Q, base, pending, consent).status_code == 403  # not Q's consent
    approved = approve(c, P, base, pending, consent)
    assert approved.status_code == 200, approved.text
    callback = approved.json()["redirect"]
    assert callback.startswith(REDIRECT) and "code=" in callback
    app.handle_callback(callback)
    assert app.ready and app.patient_id == pid
    assert app.patient is not None and app.patient.id == pid
    mine = list(SmartObservation.where(struct={"_count": "4"})
                .perform_resources_iter(app.server))
    assert mine and all(o.subject.reference == f"Patient/{pid}" for o in mine)
    token = app.server.auth.access_token
    other = get(base, f"Patient/{qid}", token)  # decided by the vault, audited in Q's log
    assert outcome_of(other)[:2] == (403, "fhirapi/6") and "no_consent" in outcome_of(other)[2]
    nothing = get(base, "Observation", token, patient=qid).json()
    assert nothing["type"] == "searchset" and not nothing.get("entry")
    assert {("4", "no_consent")} == set(audit_reasons(c, qid, P.did))
    trail = get(base, "AuditEvent", token)
    assert trail.status_code == 200 and trail.json()["entry"]
    c.client(P).consent.revoke(consent)
    revoked = get(base, "Observation", token)
    assert outcome_of(revoked)[:2] == (403, "smart/3")


def test_authorize_requires_pkce_s256_and_this_audience(c: Consortium,
                                                        world: dict[str, Any]) -> None:
    base = base_of(c)
    asked = {"response_type": "code", "client_id": APP, "redirect_uri": REDIRECT,
             "scope": "patient/*.rs", "state": "s1", "aud": base}
    no_pkce = httpx.get(base + "auth/authorize", params=asked)
    assert no_pkce.status_code == 302 and "error=invalid_request" in \
        no_pkce.headers["location"] and no_pkce.headers["location"].startswith(REDIRECT)
    plain = httpx.get(base + "auth/authorize", params={
        **asked, "code_challenge": "x" * 43, "code_challenge_method": "plain"})
    assert "error=invalid_request" in plain.headers["location"]
    elsewhere = httpx.get(base + "auth/authorize", params={
        **asked, "code_challenge": "x" * 43, "code_challenge_method": "S256",
        "aud": "https://other.example/fhir"})
    assert elsewhere.status_code == 400
    unknown = httpx.get(base + "auth/authorize", params={**asked, "client_id": "nobody"})
    assert unknown.status_code in (400, 401) and "location" not in unknown.headers


def test_bad_input_is_an_operation_outcome(c: Consortium, world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["p"]["pid"]
    token = backend_token(c, HOSPITAL_B, "system/*.rs")
    assert outcome_of(get(base, "Foo", token))[:2] == (404, "fhirapi/1")
    assert outcome_of(get(base, "Practitioner/abc", token))[:2] == (404, "fhirapi/1")
    assert outcome_of(get(base, "Observation", token, patient=pid,
                          color="red"))[:2] == (400, "fhirapi/2")
    assert outcome_of(get(base, "Observation", token, patient=pid,
                          date="xx2020"))[:2] == (400, "fhirapi/2")
    assert outcome_of(get(base, "Observation", token))[:2] == (400, "fhirapi/2")
    assert outcome_of(get(base, "Observation/bad%24id", token))[:2] == (400, "fhirapi/3")
    assert outcome_of(get(base, "Observation/" + "a" * 32, token))[:2] == (404, "fhirapi/4")
    assert outcome_of(get(base, "Observation", None, patient=pid))[:2] == (401, "smart/1")
    assert outcome_of(get(base, "Observation", token, patient=pid,
                          _format="xml"))[:2] == (406, "fhirapi/10")
    refused = httpx.post(base + "auth/token", data={"grant_type": "client_credentials",
                                                    "client_id": HOSPITAL_B.did})
    assert refused.status_code in (400, 401) and refused.json()["error"] == "invalid_client"


OBSERVATION = {"resourceType": "Observation", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0"}]},
               "valueQuantity": {"value": 5.4, "unit": "mmol/L"}}


def _post(base: str, token: str, bundle: Any) -> httpx.Response:
    answer = httpx.post(base, json=bundle, timeout=60, headers={
        "Authorization": f"Bearer {token}", "Content-Type": "application/fhir+json"})
    parses(answer.json())
    return answer


def test_writes_validated_and_all_or_nothing(c: Consortium, world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["p"]["pid"]
    writer = backend_token(c, HOSPITAL_A, "system/*.cud system/*.rs")
    before = len(c.query("records/patient", patient=P.did)["records"])
    entry = {"resource": {**OBSERVATION, "subject": {"reference": f"Patient/{pid}"}},
             "request": {"method": "POST", "url": "Observation"}}
    bad = {"resource": {**entry["resource"], "status": "nonsense"},
           "request": entry["request"]}
    invalid = _post(base, writer, {"resourceType": "Bundle", "type": "transaction",
                                   "entry": [entry, bad]})
    status, code, where = outcome_of(invalid)
    assert (status, code) == (422, "fhirapi/7") and "Observation.status" in where
    big = _post(base, writer, {"resourceType": "Bundle", "type": "transaction",
                               "entry": [entry] * 501})
    assert outcome_of(big)[:2] == (413, "fhirapi/8")
    other = backend_token(c, HOSPITAL_B, "system/*.cud")
    assert outcome_of(_post(base, other, {"resourceType": "Bundle", "type": "transaction",
                                          "entry": [entry]}))[:2] == (403, "fhirapi/6")
    assert len(c.query("records/patient", patient=P.did)["records"]) == before
    done = _post(base, writer, {"resourceType": "Bundle", "type": "transaction",
                                "entry": [entry]})
    assert done.status_code == 200, done.text
    location = done.json()["entry"][0]["response"]["location"]
    assert len(c.query("records/patient", patient=P.did)["records"]) == before + 1
    reader = backend_token(c, HOSPITAL_B, "system/*.rs")
    read = get(base, urlsplit(location).path.split("/_history")[0], reader)
    assert read.status_code == 200
    assert read.json()["valueQuantity"]["value"] == 5.4
    assert read.json()["subject"]["reference"] == f"Patient/{pid}"
    batch = _post(base, writer, {"resourceType": "Bundle", "type": "batch",
                                 "entry": [bad, entry]})
    assert batch.status_code == 200, batch.text
    first, second = (e["response"] for e in batch.json()["entry"])
    assert first["status"] == "422" and "Observation.status" in \
        first["outcome"]["issue"][0]["expression"]
    assert second["status"] == "201 Created"
    get_fhir_model_class("Bundle").model_validate(batch.json())
    assert len(c.query("records/patient", patient=P.did)["records"]) == before + 2


def test_an_erased_record_is_gone(c: Consortium, world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["p"]["pid"]
    token = backend_token(c, HOSPITAL_B, "system/*.rs")
    page = get(base, "Observation", token, patient=pid, _count="100").json()
    record = page["entry"][-1]["resource"]["id"]
    c.client(P).records.erase(record)
    gone = get(base, f"Observation/{record}", token)
    assert outcome_of(gone)[:2] == (410, "fhirapi/5")
    after = get(base, "Observation", token, patient=pid, _count="100").json()
    assert record not in {e["resource"]["id"] for e in after["entry"]}
    assert len(after["entry"]) == len(page["entry"]) - 1
