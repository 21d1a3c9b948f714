"""What a demanding FHIR client expects, over real HTTP on loopback: ``_include`` and
``_revinclude`` (every included resource decided by consent and audited, withheld ones
only in the audit log), ``_elements`` and ``_summary=true|text|data`` on read and
search (``SUBSETTED``), the CapabilityStatement declaring them (fhirclient's strict
parser), and SMART refresh tokens for the patient launch (stored hashed, single use
with rotation, a replay revoking the family, refused ``invalid_grant`` once the consent
is revoked on chain)."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fhirclient import client as smart
from fhirclient.models.capabilitystatement import CapabilityStatement

from phrchain.fhirapi import include
from phrchain.fhirapi.refresh import DB_NAME
from phrchain.fhirapi.smart import SmartApps
from phrchain.gateway.service import wall_clock_ms
from tests.consortium import HOSPITAL_A, HOSPITAL_B, INSURER, Consortium, P, running
from tests.fhirworld import approve, backend_token, base_of, get, grant, import_patient, query_of

APP, REDIRECT = "phr-refresh-app", "http://127.0.0.1:9/callback"
TAG = ("http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "SUBSETTED")


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("fhirfeat")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def world(c: Consortium) -> dict[str, Any]:
    apps = SmartApps(c.vaults[HOSPITAL_A.did].config.directory)
    apps.register(APP, "Refresh app", [REDIRECT])
    apps.set_consent_ui("http://127.0.0.1:9/wallet")
    out = import_patient(c, P, seed=41, resources=12)
    grant(c, P, HOSPITAL_B, purposes=["TREAT"])
    out["b"] = backend_token(c, HOSPITAL_B, "system/*.rs purpose/TREAT")
    page = get(base_of(c), "Observation", out["b"], patient=out["pid"], _count="100")
    out["obs"] = sorted(e["resource"]["id"] for e in page.json()["entry"])
    assert len(out["obs"]) >= 3
    return out


def coded(answer: httpx.Response) -> tuple[int, str]:
    return answer.status_code, answer.json()["issue"][0]["details"]["coding"][0]["code"]


def modes(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    return [(e["search"]["mode"], e["resource"]["resourceType"]) for e in bundle["entry"]]


def audit(c: Consortium, pid: str, agent: str) -> list[dict[str, str]]:
    """The patient's audit entries by ``agent`` (record, outcome, reason, batch)."""
    c.flush()
    token = backend_token(c, HOSPITAL_A, "system/AuditEvent.rs")
    page = get(base_of(c), "AuditEvent", token, patient=pid, agent=agent, _count="100")
    out = []
    for e in page.json().get("entry", []):
        entity = e["resource"]["entity"][0]
        details = {d["type"]: d["valueString"] for d in entity["detail"]}
        out.append({"outcome": e["resource"]["outcome"],
                    "reason": e["resource"]["outcomeDesc"],
                    "record": entity["what"]["identifier"]["value"], **details})
    return out


def test_capability_declares_includes_and_offline(c: Consortium) -> None:
    base = base_of(c)
    body = httpx.get(base + "metadata").json()
    cs = CapabilityStatement(body, strict=True)   # fhirclient 4.4.0's strict parser
    types = {r.type: r for r in cs.rest[0].resource}
    assert "Observation:patient" in types["Observation"].searchInclude
    assert "Observation:patient" in types["Patient"].searchRevInclude
    conf = httpx.get(base + ".well-known/smart-configuration").json()
    assert "permission-offline" in conf["capabilities"]
    assert "refresh_token" in conf["grant_types_supported"]


def test_include_decides_each_included_resource(c: Consortium, world: dict[str, Any]
                                                ) -> None:
    base, pid, token = base_of(c), world["pid"], world["b"]
    page = get(base, "Observation", token, patient=pid, _count="2",
               _include="Observation:patient").json()
    assert modes(page) == [("match", "Observation")] * 2 + [("include", "Patient")]
    assert page["entry"][2]["fullUrl"] == f"{base}Patient/{pid}"
    assert page["entry"][2]["resource"]["id"] == pid
    assert "_include=Observation%3Apatient" in page["link"][1]["url"]  # kept in next
    twice = httpx.get(base + "Observation", params=[
        ("patient", pid), ("_count", "3"), ("_include", "Observation:subject"),
        ("_include", "*")], headers={"Authorization": f"Bearer {token}"}).json()
    assert [m for m, _ in modes(twice)].count("include") == 1   # de-duplicated
    for kind in ("Encounter", "MedicationRequest", "Condition"):
        found = get(base, kind, token, patient=pid, _include=f"{kind}:patient").json()
        if found.get("entry"):
            assert modes(found)[-1] == ("include", "Patient")
    rev = get(base, "Patient", token, _id=pid, _revinclude="Observation:patient").json()
    assert modes(rev)[0] == ("match", "Patient")
    assert sorted(e["resource"]["id"] for e in rev["entry"][1:]) == world["obs"]
    assert {m for m, _ in modes(rev)[1:]} == {"include"}


def test_a_withheld_include_is_only_in_the_audit_log(c: Consortium,
                                                     world: dict[str, Any]) -> None:
    """The insurer may read two Observations, not the Patient: the include is left out
    of the answer and its denial is audited in the page's batch."""
    base, pid = base_of(c), world["pid"]
    grant(c, P, INSURER, purposes=["HPAYMT"], scope={"records": world["obs"][:2]})
    token = backend_token(c, INSURER, "system/*.rs purpose/HPAYMT")
    page = get(base, "Observation", token, patient=pid,
               _include="Observation:patient").json()
    assert modes(page) == [("match", "Observation")] * 2
    logged = audit(c, pid, INSURER.did)
    permits = [e for e in logged if e["outcome"] == "0"]
    assert sorted(e["record"] for e in permits) == world["obs"][:2]
    batch = permits[0]["batch"]
    denied = [e for e in logged if e["outcome"] != "0" and e["batch"] == batch
              and e["record"] not in world["obs"]]
    assert len(denied) == 1 and denied[0]["reason"] == "out_of_scope"  # the Patient


def test_revinclude_is_capped_with_an_outcome(c: Consortium, world: dict[str, Any],
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(include, "MAX_INCLUDED", 2)   # the gateway runs in this process
    base, pid, token = base_of(c), world["pid"], world["b"]
    rev = get(base, "Patient", token, _id=pid, _revinclude="Observation:patient").json()
    assert modes(rev) == [("match", "Patient"), ("include", "Observation"),
                          ("include", "Observation"), ("outcome", "OperationOutcome")]


def test_include_refusals(c: Consortium, world: dict[str, Any]) -> None:
    base, pid, token = base_of(c), world["pid"], world["b"]
    assert coded(get(base, "Observation", token, patient=pid,
                     _include="Observation:performer")) == (400, "fhirapi/16")
    assert coded(get(base, "Observation", token, patient=pid,
                     _include="Encounter:patient")) == (400, "fhirapi/16")
    assert coded(get(base, "Observation", token, patient=pid,
                     _revinclude="Observation:patient")) == (400, "fhirapi/16")
    assert coded(get(base, "Observation", token, patient=pid,
                     **{"_include:iterate": "Observation:patient"})) == (400, "fhirapi/16")
    assert coded(get(base, f"Patient/{pid}/$everything", token,
                     _include="Observation:patient")) == (400, "fhirapi/16")
    narrow = backend_token(c, HOSPITAL_B, "system/Observation.rs purpose/TREAT")
    assert coded(get(base, "Observation", narrow, patient=pid,
                     _include="Observation:patient")) == (403, "smart/2")


def _tagged(resource: dict[str, Any]) -> bool:
    return any((t.get("system"), t.get("code")) == TAG for t in resource["meta"].get("tag", []))


def test_elements_and_summary(c: Consortium, world: dict[str, Any]) -> None:
    base, pid, token = base_of(c), world["pid"], world["b"]
    one = world["obs"][0]
    full = get(base, f"Observation/{one}", token).json()
    cut = get(base, f"Observation/{one}", token, _elements="effective").json()
    assert set(cut) == {"resourceType", "id", "meta", "status", "code"} | \
        {k for k in full if k.startswith("effective")}
    assert _tagged(cut) and not _tagged(full)
    assert cut["meta"]["versionId"] == "1"
    page = get(base, "Observation", token, patient=pid, _elements="status",
               _include="Observation:patient").json()
    matches = [e["resource"] for e in page["entry"] if e["search"]["mode"] == "match"]
    assert matches and all(set(r) == {"resourceType", "id", "meta", "status", "code"}
                           and _tagged(r) for r in matches)
    included = [e["resource"] for e in page["entry"] if e["search"]["mode"] == "include"]
    assert included and not _tagged(included[0])    # _elements: the matches only
    patient = get(base, f"Patient/{pid}", token).json()
    summary = get(base, f"Patient/{pid}", token, _summary="true").json()
    assert _tagged(summary) and "name" in summary and "gender" in summary
    assert set(summary) < set(patient) | {"meta"}
    assert not {"text", "communication", "maritalStatus"} & set(summary)
    data = get(base, "Observation", token, patient=pid, _summary="data").json()
    assert all("text" not in e["resource"] and _tagged(e["resource"])
               for e in data["entry"])
    text = get(base, f"Observation/{one}", token, _summary="text").json()
    assert set(text) <= {"resourceType", "id", "meta", "text", "status", "code"}
    for bad in ({"_elements": "status!"}, {"_elements": "status", "_summary": "true"},
                {"_summary": "count", "_elements": "status"}):
        assert coded(get(base, "Observation", token, patient=pid, **bad)) \
            == (400, "fhirapi/17")
    assert coded(get(base, f"Observation/{one}", token, _summary="count")) \
        == (400, "fhirapi/17")


def _launch(c: Consortium, scope: str) -> tuple[smart.FHIRClient, str, dict[str, Any]]:
    """A fhirclient patient launch approved by P's on-chain consent: the app, the
    consent, and the raw token response."""
    base = base_of(c)
    app = smart.FHIRClient(settings={"app_id": APP, "api_base": base,
                                     "redirect_uri": REDIRECT, "scope": scope})
    pending = query_of(httpx.get(app.authorize_url).headers["location"])["smart_request"]
    now = wall_clock_ms()
    consent = c.client(P).consent.grant(
        {"kind": "organization", "id": HOSPITAL_A.did}, actions=["read"],
        scope={"all": True}, purposes=["PATRQT"], start_ms=now - 1000,
        end_ms=now + 3_600_000, share_existing=False)
    approved = approve(c, P, base, pending, consent)
    assert approved.status_code == 200, approved.text
    app.handle_callback(approved.json()["redirect"])
    return app, consent, app.server.auth.__dict__


def _refresh(c: Consortium, token: str) -> httpx.Response:
    return httpx.post(base_of(c) + "auth/token", data={
        "grant_type": "refresh_token", "refresh_token": token, "client_id": APP})


def test_refresh_tokens_rotate_and_end_with_the_consent(c: Consortium,
                                                        world: dict[str, Any]) -> None:
    base = base_of(c)
    app, _, _ = _launch(c, "patient/*.rs")
    assert app.server.auth.refresh_token is None   # no offline/online access asked
    app, consent, _ = _launch(c, "patient/*.rs offline_access")
    first = app.server.auth.refresh_token
    assert first
    db = c.vaults[HOSPITAL_A.did].config.directory / DB_NAME
    on_disk = b"".join(f.read_bytes() for f in db.parent.glob(DB_NAME + "*"))
    assert first.encode() not in on_disk       # kept as its SHA-256 only
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT * FROM refresh").fetchall()
    assert [r for r in rows if r[0] == hashlib.sha256(first.encode()).hexdigest()]
    app.reauthorize()                          # fhirclient's own refresh request
    second = app.server.auth.refresh_token
    assert second and second != first
    assert get(base, f"Observation/{world['obs'][0]}",
               app.server.auth.access_token).status_code == 200
    replay = _refresh(c, first)                # spent: the family is revoked
    assert replay.status_code == 400 and replay.json()["error"] == "invalid_grant"
    assert _refresh(c, second).json()["error"] == "invalid_grant"
    app, consent, _ = _launch(c, "patient/*.rs online_access")
    third = app.server.auth.refresh_token
    rotated = _refresh(c, third)
    assert rotated.status_code == 200, rotated.text
    fourth = rotated.json()["refresh_token"]
    assert rotated.json()["patient"] == world["pid"]
    c.client(P).consent.revoke(consent)
    refused = _refresh(c, fourth)
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_grant"
    assert "consent_revoked" in refused.json()["error_description"]
    assert get(base, "Observation", rotated.json()["access_token"]).status_code == 403
