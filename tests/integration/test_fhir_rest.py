"""The FHIR R4 REST facade with real, unmodified clients: fhirclient (SMART on FHIR)
and fhir.resources (pydantic R4 models). Backend services, patient launch, paging,
reads through consent, and the audit of every decision."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhirclient import client as smart
from fhirclient.models.observation import Observation as SmartObservation

from tests.consortium import HOSPITAL_B, Consortium, P, Q, running
from tests.fhirworld import (
    assertion,
    backend_token,
    base_of,
    get,
    grant,
    import_patient,
    parses,
)


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("fhirrest")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def world(c: Consortium) -> dict[str, Any]:
    p = import_patient(c, P, seed=7)
    q = import_patient(c, Q, seed=8)
    grant(c, P, HOSPITAL_B, purposes=["TREAT"])
    return {"p": p, "q": q}


def test_capability_statement_parses_in_both_clients(c: Consortium) -> None:
    base = base_of(c)
    answer = httpx.get(base + "metadata")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("application/fhir+json")
    body = answer.json()
    parses(body)
    from fhirclient.models.capabilitystatement import CapabilityStatement
    cs = CapabilityStatement(body, strict=True)
    assert cs.fhirVersion == "4.0.1" and cs.rest[0].mode == "server"
    types = {r.type: r for r in cs.rest[0].resource}
    assert {"Observation", "Patient", "AuditEvent"} <= set(types)
    assert {p.name: p.type for p in types["Observation"].searchParam}["date"] == "date"
    oauth = cs.rest[0].security.extension[0]
    uris = {e.url: e.valueUri for e in oauth.extension}
    smart_conf = httpx.get(base + ".well-known/smart-configuration").json()
    assert uris["token"] == smart_conf["token_endpoint"] == base + "auth/token"
    assert uris["authorize"] == smart_conf["authorization_endpoint"]
    assert smart_conf["code_challenge_methods_supported"] == ["S256"]


def test_backend_services_client_searches_and_pages(c: Consortium, world: dict[str, Any]
                                                    ) -> None:
    """fhirclient as a SMART backend-services client of hospital B: its token from a
    private_key_jwt signed by B's chain key; it pages a consenting patient's
    Observations over absolute next links."""
    base, pid = base_of(c), world["p"]["pid"]
    client = smart.FHIRClient(settings={
        "app_id": HOSPITAL_B.did, "api_base": base, "patient_id": pid,
        "scope": "system/Observation.rs purpose/TREAT",
        "jwt_token": assertion(HOSPITAL_B, base + "auth/token")})
    assert client.prepare() is False or client.ready is False  # not yet authorized
    client.authorize()
    assert client.ready
    search = SmartObservation.where(struct={"patient": pid, "_count": "5"})
    found = list(search.perform_resources_iter(client.server))
    expected = sum(1 for e in world["p"]["bundle"]["entry"]
                   if e["resource"]["resourceType"] == "Observation")
    assert len(found) == expected and expected > 5
    assert len({o.id for o in found}) == expected
    assert all(o.subject.reference == f"Patient/{pid}" for o in found)
    first = next(iter(search.perform_iter(client.server)))
    nxt = next(link.url for link in first.link if link.relation == "next")
    assert nxt.startswith(base + "Observation?")
    token = client.server.auth.access_token
    second = get(base, nxt, token).json()
    back = next(link["url"] for link in second["link"] if link["relation"] == "previous")
    assert back.startswith(base + "Observation?")
    again = get(base, back, token).json()
    assert [e["resource"]["id"] for e in again["entry"]] == \
        [e.resource.id for e in first.entry]
    assert not {e["resource"]["id"] for e in second["entry"]} & \
        {e.resource.id for e in first.entry}
    parses(first.as_json())


def test_read_vread_and_everything(c: Consortium, world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["p"]["pid"]
    token = backend_token(c, HOSPITAL_B, "system/*.rs")
    patient = get(base, f"Patient/{pid}", token)
    assert patient.status_code == 200, patient.text
    assert patient.json()["id"] == pid and parses(patient.json())
    page = get(base, "Condition", token, patient=pid).json()
    cond_id = page["entry"][0]["resource"]["id"]
    one = get(base, f"Condition/{cond_id}", token)
    assert one.status_code == 200 and one.json()["meta"]["versionId"] == "1"
    assert one.headers["etag"] == 'W/"1"' and one.headers["last-modified"].endswith("GMT")
    posted = httpx.post(base + "Condition/_search", data={"patient": pid},
                        headers={"Authorization": f"Bearer {token}"})
    assert posted.status_code == 200
    assert [e["resource"]["id"] for e in posted.json()["entry"]] == \
        [e["resource"]["id"] for e in page["entry"]]
    assert get(base, f"Condition/{cond_id}/_history/1", token).json() == one.json()
    assert get(base, f"Condition/{cond_id}/_history/2", token).status_code == 404
    everything = get(base, f"Patient/{pid}/$everything", token, _count="100").json()
    parses(everything)
    assert len(everything["entry"]) == sum(
        1 for e in world["p"]["bundle"]["entry"]
        if e["resource"]["resourceType"] not in ("Organization", "Practitioner"))
    kinds = {e["resource"]["resourceType"] for e in everything["entry"]}
    assert "Patient" in kinds and "Encounter" in kinds


def test_search_parameters(c: Consortium, world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["p"]["pid"]
    token = backend_token(c, HOSPITAL_B, "system/*.rs")
    observations = [e["resource"] for e in world["p"]["bundle"]["entry"]
                    if e["resource"]["resourceType"] == "Observation"]
    code = observations[0]["code"]["coding"][0]
    by_code = get(base, "Observation", token, patient=pid,
                  code=f"{code['system']}|{code['code']}").json()
    want = sum(1 for o in observations if o["code"]["coding"][0]["code"] == code["code"])
    assert len(by_code["entry"]) == want
    vital = get(base, "Observation", token, patient=pid, category="vital-signs",
                _count="100").json()
    assert 0 < len(vital["entry"]) < len(observations)
    dates = sorted(o["effectiveDateTime"] for o in observations)
    later = get(base, "Observation", token, patient=pid, date=f"gt{dates[0][:10]}",
                _count="100", _sort="-date").json()
    got = [e["resource"]["effectiveDateTime"] for e in later["entry"]]
    assert got == sorted(got, reverse=True)
    assert all(d[:10] > dates[0][:10] for d in got)
    assert len(get(base, "Observation", token, patient=pid, date=f"le{dates[-1]}",
                   _count="100").json()["entry"]) == len(observations)
    one = later["entry"][0]["resource"]["id"]
    assert [e["resource"]["id"] for e in get(base, "Observation", token, patient=pid,
                                              _id=one).json()["entry"]] == [one]
    assert len(get(base, "Observation", token, patient=pid,
                   _lastUpdated="ge2000-01-01", _count="100").json()["entry"]) \
        == len(observations)
