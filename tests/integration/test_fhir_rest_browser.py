"""The SMART consent screen in a real browser (Debian's Chromium via Playwright, axe
for accessibility): an unmodified fhirclient app's authorize request lands the patient
on the wallet UI's consent screen; approving signs the consent on chain and returns the
browser to the app with a code, with which the app reads the patient's records; in
Korean, denying returns ``access_denied``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fhirclient import client as smart

from phrchain.fhirapi.smart import SmartApps
from tests.consortium import HOSPITAL_A, Consortium, P, running
from tests.fhirworld import base_of, import_patient
from tests.integration.test_web_browser import Person, browser  # noqa: F401  (fixture)
from tests.webui import ui_server

APP, REDIRECT = "phr-browser-app", "http://127.0.0.1:9/callback"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("fhir-browser")) as consortium:
        yield consortium


def _app(base: str, extra: str = "") -> smart.FHIRClient:
    return smart.FHIRClient(settings={"app_id": APP, "api_base": base,
                                      "redirect_uri": REDIRECT,
                                      "scope": "patient/Observation.rs patient/Patient.rs"
                                               + extra})


def _screen(app: smart.FHIRClient) -> str:
    answer = httpx.get(app.authorize_url)
    assert answer.status_code == 302
    return answer.headers["location"]


def test_consent_screen_approve_then_deny_in_korean(
        browser: Any, c: Consortium, tmp_path: Path) -> None:  # noqa: F811
    world = import_patient(c, P, seed=31, resources=6)
    base = base_of(c)
    apps = SmartApps(c.vaults[HOSPITAL_A.did].config.directory)
    apps.register(APP, "Glucose diary", [REDIRECT])
    consents_before = len(c.query("consent/patient", patient=P.did)["consents"])
    with ui_server(c, tmp_path) as ui:
        apps.set_consent_ui(f"{ui}/ui")
        app = _app(base)
        patient = Person(browser, ui, "patient-p")
        page = patient.page
        page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(
            status=200, body="app", content_type="text/plain"))
        page.goto(_screen(app))
        page.wait_for_selector("#smart-approve")
        assert "Glucose diary" in page.inner_text("#smart-app")
        assert "Observation" in page.inner_text("#smart-what")
        assert "the patient's own request" in page.inner_text("#smart-what")
        assert not page.query_selector("#smart-stays")   # no refresh token asked
        patient.axe()
        patient.shot("desktop-en-smart-consent")
        page.click("#smart-approve")
        page.wait_for_url(REDIRECT + "?*")
        app.handle_callback(page.url)
        assert app.ready and app.patient_id == world["pid"]
        assert app.patient is not None and app.patient.id == world["pid"]
        consents = c.query("consent/patient", patient=P.did)["consents"]
        assert len(consents) == consents_before + 1
        patient.close()

        korean = Person(browser, ui, "patient-p", locale="ko-KR")
        korean.page.route("http://127.0.0.1:9/**", lambda route: route.fulfill(
            status=200, body="app", content_type="text/plain"))
        korean.page.goto(_screen(_app(base, " offline_access")))
        korean.page.wait_for_selector("#smart-deny")
        assert "열람" in korean.page.inner_text("#smart-app")
        assert "연결 유지" in korean.page.inner_text("#smart-what")   # offline_access
        assert "30일" in korean.page.inner_text("#smart-stays")
        korean.axe()
        korean.shot("desktop-ko-smart-consent")
        korean.page.click("#smart-deny")
        korean.page.wait_for_url(REDIRECT + "?*")
        assert "error=access_denied" in korean.page.url
        korean.close()
    assert len(c.query("consent/patient", patient=P.did)["consents"]) == consents_before + 1
