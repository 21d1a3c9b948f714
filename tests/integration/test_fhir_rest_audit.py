"""The FHIR facade's audit entries say exactly what each answer released: a search
page's permits are the resources on that page (its ``next`` look-ahead writes no entry),
``_summary=count`` permits are marked released ``count``, every decision of a page has
its own entry (the chain keeps one per request) naming the page as its ``batch``, and a
patient app's reads name the app (``client``) and its consent (``grant``), its own
records outside that consent denied ``out_of_scope`` in the log too. Read back as FHIR
AuditEvents through hospital A's own token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirclient import client as smart

from phrchain.fhirapi.smart import SmartApps
from phrchain.gateway.service import wall_clock_ms
from tests.consortium import HOSPITAL_A, HOSPITAL_B, Consortium, P, running
from tests.fhirworld import approve, backend_token, base_of, get, grant, import_patient, query_of
from tests.webui import Browser, ui_server

APP, REDIRECT = "phr-audit-app", "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("fhiraudit")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def world(c: Consortium) -> dict[str, Any]:
    apps = SmartApps(c.vaults[HOSPITAL_A.did].config.directory)
    apps.register(APP, "Audit app", [REDIRECT])
    apps.set_consent_ui("http://127.0.0.1:9/wallet")
    return import_patient(c, P, seed=31, resources=14)


def entries(c: Consortium, pid: str, agent: str) -> list[dict[str, Any]]:
    """The patient's audit entries by ``agent``: outcome, reason, record, and the
    optional details (client, grant, batch, released)."""
    c.flush()
    token = backend_token(c, HOSPITAL_A, "system/AuditEvent.rs")
    page = get(base_of(c), "AuditEvent", token, patient=pid, agent=agent, _count="100")
    assert page.status_code == 200, page.text
    out = []
    for e in page.json().get("entry", []):
        event = e["resource"]
        record = event["entity"][0]
        details = {d["type"]: d["valueString"] for d in record["detail"]}
        out.append({"outcome": event["outcome"], "reason": event["outcomeDesc"],
                    "record": record["what"]["identifier"]["value"], **details})
    return out


def obs_ids(world: dict[str, Any], c: Consortium) -> list[str]:
    """The patient's Observation ids, as the custodian itself finds them."""
    token = backend_token(c, HOSPITAL_A, "system/Observation.rs")
    page = get(base_of(c), "Observation", token, patient=world["pid"], _count="100")
    return [e["resource"]["id"] for e in page.json()["entry"]]


def test_pages_and_counts_audit_only_what_they_release(c: Consortium,
                                                       world: dict[str, Any]) -> None:
    base, pid = base_of(c), world["pid"]
    observations = sorted(obs_ids(world, c))
    assert len(observations) >= 4
    # B may read every Observation but the first two: withheld ones among the candidates
    grant(c, P, HOSPITAL_B, purposes=["TREAT"],
          scope={"records": sorted(set(world["records"]) - set(observations[:2]))})
    token = backend_token(c, HOSPITAL_B, "system/Observation.rs purpose/TREAT")
    first = get(base, "Observation", token, patient=pid, _count="2").json()
    page1 = [e["resource"]["id"] for e in first["entry"]]
    assert len(page1) == 2
    assert any(link["relation"] == "next" for link in first["link"])
    logged = entries(c, pid, HOSPITAL_B.did)
    assert sorted(e["record"] for e in logged if e["outcome"] == "0") == sorted(page1)
    assert all(e["reason"] == "out_of_scope" and e["record"] in observations[:2]
               for e in logged if e["outcome"] != "0")
    batches = {e["batch"] for e in logged}
    assert len(batches) == 1 and len({e["request_sha256"] for e in logged}) == len(logged)
    nxt = next(link["url"] for link in first["link"] if link["relation"] == "next")
    second = get(base, nxt, token).json()
    page2 = [e["resource"]["id"] for e in second["entry"]]
    assert page2 and not set(page2) & set(page1)
    logged = entries(c, pid, HOSPITAL_B.did)
    assert sorted(e["record"] for e in logged if e["outcome"] == "0") \
        == sorted(page1 + page2)
    assert "released" not in str(logged)
    counting = get(base, "Observation", token, patient=pid, _summary="count")
    assert counting.status_code == 200, counting.text
    total = counting.json()["total"]
    assert total == len(observations) - 2
    counted = [e for e in entries(c, pid, HOSPITAL_B.did) if e.get("released") == "count"]
    assert len(counted) == total and all(e["outcome"] == "0" for e in counted)


def test_a_patient_app_is_named_and_its_out_of_scope_reads_denied(
        c: Consortium, world: dict[str, Any], tmp_path: Path) -> None:
    base, pid = base_of(c), world["pid"]
    observations = sorted(obs_ids(world, c))
    app = smart.FHIRClient(settings={"app_id": APP, "api_base": base,
                                     "redirect_uri": REDIRECT,
                                     "scope": "patient/Observation.rs"})
    screen = httpx.get(app.authorize_url).headers["location"]
    pending = query_of(screen)["smart_request"]
    now = wall_clock_ms()
    consent = c.client(P).consent.grant(
        {"kind": "organization", "id": HOSPITAL_A.did}, actions=["read"],
        scope={"records": observations[1:]}, purposes=["PATRQT"], start_ms=now - 1000,
        end_ms=now + 3_600_000, share_existing=False)
    approved = approve(c, P, base, pending, consent)
    assert approved.status_code == 200, approved.text
    app.handle_callback(approved.json()["redirect"])
    token = app.server.auth.access_token
    assert get(base, f"Observation/{observations[1]}", token).status_code == 200
    outside = get(base, f"Observation/{observations[0]}", token)
    assert outside.status_code == 403
    found = get(base, "Observation", token, _count="100").json()
    assert sorted(e["resource"]["id"] for e in found["entry"]) == observations[1:]
    logged = entries(c, pid, P.did)
    assert logged and all(e["client"] == APP and e["grant"] == consent for e in logged)
    denied = [e for e in logged if e["outcome"] != "0"]
    assert [(e["record"], e["reason"]) for e in denied] \
        == [(observations[0], "out_of_scope")] * 2   # the read and the search
    assert all(e["reason"] == "owner" for e in logged if e["outcome"] == "0")
    # the patient's own wallet shows which app read, under which consent
    with ui_server(c, tmp_path) as url:
        page = Browser(url)
        assert page.login("patient-p").is_success
        seen = page.ok("GET", "api/patient/access-log")["entries"]
        page.http.close()
    via = [e for e in seen if e.get("client") == APP]
    assert via and all(e["grant"] == consent for e in via)
    assert (observations[0], "out_of_scope") in {(e["record"], e["reason"]) for e in via}


def test_a_search_page_journals_its_decisions_in_one_commit(c: Consortium,
                                                             world: dict[str, Any]) -> None:
    """Every decision of a page is journaled (durably, before the page is answered) in
    one transaction: one fsync per page, not one per resource."""
    journal = c.vaults[HOSPITAL_A.did].journal
    token = backend_token(c, HOSPITAL_A, "system/Observation.rs")
    c.flush()
    commits, backlog = journal.commits, journal.backlog()
    page = get(base_of(c), "Observation", token, patient=world["pid"], _count="4")
    assert page.status_code == 200, page.text
    assert len(page.json()["entry"]) == 4
    assert journal.commits == commits + 1
    assert journal.backlog() - backlog in (0, 4)  # all four, or already sent and settled
