"""The patient's own wallet as a read-only FHIR R4 server (``web/fhir.py``, issue 19):
the logged-in patient's records from both vaults that hold them, each under its own
pseudonym, opened in the wallet through each vault's audited owner access; the
unmodified ``fhirclient`` reads its CapabilityStatement, searches and pages across
both, and every answer parses with ``fhir.resources`` (R4B); no session or a stale
token is 401; another patient's id finds nothing."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhirclient import client as smart
from fhirclient.models.condition import Condition as SmartCondition
from fhirclient.models.observation import Observation as SmartObservation

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client.patient import PatientWallet
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.demo.claims_step import _visit
from phrchain.fhir import generate_bundle
from phrchain.fhirapi.index import patient_id
from phrchain.web import UiConfig, WalletEntry, create_ui_app
from tests.consortium import (
    A1,
    AUTHORITY,
    B1,
    CHAIN,
    HOSPITAL_A,
    HOSPITAL_B,
    VALIDATOR,
    Consortium,
    P,
    running,
)
from tests.fhirworld import get, parses
from tests.webui import Browser

KDF = KdfParams(memory_kib=1024, iterations=1, lanes=1)
PASS = "r's long passphrase"


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("wallet-fhir")
    with running(tmp / "c") as c:
        wallet, path = Wallet.create("patient R"), tmp / "r.wallet"
        wallet.save(path, PASS, KDF)
        me = PatientWallet(c.client(AUTHORITY).node, wallet, c.directory,
                           save=lambda w: w.save_over(path, PASS, KDF))
        a, b = me.at(HOSPITAL_A.did).wallet.did, me.at(HOSPITAL_B.did).wallet.did
        bundle = generate_bundle(41, resources=12)
        source = next(e["resource"]["id"] for e in bundle["entry"]
                      if e["resource"]["resourceType"] == "Patient")
        a_records = c.client(A1).records.import_bundle(bundle, {source: a})[a]
        when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        b_records = [c.client(B1).records.add_resource(r, b) for r in _visit(when, "Patient/r")]
        config = UiConfig(c.api_url, c.directory, {"patient-r": WalletEntry(path, "patient")},
                          trust_anchor=VALIDATOR.did, chain_id=CHAIN)
        ui = create_ui_app(config)
        try:
            with BackgroundServer(create_app(c.node, ui=ui)) as url:
                yield {"c": c, "url": url, "a": a, "b": b, "a_records": a_records,
                       "b_records": b_records, "base": f"{url}/ui/fhir/"}
        finally:
            ui.state.ui.sessions.close()


def logged_in(world: dict[str, Any]) -> tuple[Browser, str]:
    page = Browser(world["url"])
    assert page.login("patient-r", PASS).is_success
    issued = page.ok("POST", "api/patient/fhir-token")
    assert issued["fhir_base"] == world["base"] and issued["token_type"] == "Bearer"
    return page, str(issued["access_token"])


def test_no_session_no_records_and_metadata_says_what_is_served(world: dict[str, Any]
                                                                ) -> None:
    base = world["base"]
    refused = get(base, "Observation", None)
    assert refused.status_code == 401
    assert refused.json()["issue"][0]["details"]["coding"][0]["code"] == "smart/1"
    assert get(base, "Observation", "not-a-token").status_code == 401
    meta = get(base, "metadata", None)
    assert meta.status_code == 200
    body = meta.json()
    assert body["fhirVersion"] == "4.0.1" and "security" not in body["rest"][0]
    assert "AuditEvent" not in {r["type"] for r in body["rest"][0]["resource"]}


def test_fhirclient_reads_the_patients_records_from_both_vaults(world: dict[str, Any]
                                                               ) -> None:
    c: Consortium = world["c"]
    base, a, b = world["base"], world["a"], world["b"]
    page, token = logged_in(world)
    page.http.close()
    app = smart.FHIRClient(settings={"app_id": "wallet-test", "api_base": base})
    app.server.session.headers["Authorization"] = f"Bearer {token}"
    try:
        app.prepare()  # parses the wallet's CapabilityStatement with its strict models
        observations = list(SmartObservation.where(struct={"_count": "3"})
                            .perform_resources_iter(app.server))  # follows the next links
        conditions = list(SmartCondition.where(struct={}).perform_resources_iter(app.server))
    finally:
        app.server.session.close()
    assert observations and {o.subject.reference for o in observations} \
        == {f"Patient/{patient_id(a)}"}
    assert {o.id for o in observations} <= set(world["a_records"])
    pids = {o.subject.reference for o in conditions}
    assert f"Patient/{patient_id(b)}" in pids  # B's visit, under B's pseudonym
    one = get(base, f"Observation/{observations[0].id}", token)
    assert one.status_code == 200 and one.headers["etag"] == 'W/"1"'
    everything = get(base, f"Patient/{patient_id(b)}/$everything", token, _count="100")
    found = {e["resource"]["id"] for e in everything.json()["entry"]}
    assert found == set(world["b_records"])
    only_b = get(base, "Condition", token, patient=patient_id(b)).json()
    assert {e["resource"]["subject"]["reference"] for e in only_b["entry"]} \
        == {f"Patient/{patient_id(b)}"}
    included = get(base, "Observation", token, patient=patient_id(a), _count="2",
                   _include="Observation:patient", _elements="status").json()
    assert [e["search"]["mode"] for e in included["entry"]] == ["match", "match", "include"]
    assert included["entry"][2]["resource"]["id"] == patient_id(a)
    assert all(set(e["resource"]) == {"resourceType", "id", "meta", "status", "code"}
               for e in included["entry"][:2])   # _elements: the matches, SUBSETTED
    assert all(e["resource"]["meta"]["tag"][-1]["code"] == "SUBSETTED"
               for e in included["entry"][:2])
    me = get(base, f"Patient/{patient_id(a)}", token)  # A's import has a Patient
    assert me.status_code == 200 and me.json()["id"] == patient_id(a)
    assert get(base, f"Patient/{patient_id(a)}/_history/2", token).status_code == 404
    other = patient_id(P.did)
    assert get(base, f"Patient/{other}", token).status_code == 404
    assert not get(base, "Observation", token, patient=other).json().get("entry")
    assert get(base, "Observation", token, foo="1").status_code == 400
    for answer in (everything.json(), only_b):
        parses(answer)
    # every record came through its vault's audited access, as its owner pseudonym
    c.flush()
    for did, records, vault in ((a, world["a_records"], HOSPITAL_A.did),
                                (b, world["b_records"], HOSPITAL_B.did)):
        log = c.client(AUTHORITY).node.query("audit/entries", {
            "patient": did, "start": 0, "limit": 100})["value"]["entries"]
        assert len(log) >= len(records) and {e["entry"]["vault"] for e in log} == {vault}


def test_the_session_cookie_also_serves_and_logout_ends_the_token(world: dict[str, Any]
                                                                  ) -> None:
    page, token = logged_in(world)
    mine = page.http.get("fhir/Encounter")  # the session's cookie
    assert mine.status_code == 200 and mine.json()["entry"]
    parses(mine.json())
    assert page.call("DELETE", "api/session").is_success
    assert get(world["base"], "Encounter", token).status_code == 401
    assert httpx.get(world["base"] + "Encounter").status_code == 401
    page.http.close()
