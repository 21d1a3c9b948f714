"""The web UI in a real browser: headless Chromium (Debian's ``/usr/bin/chromium``,
driven by Playwright) against a running consortium with the UI mounted at ``/ui``.

Patient P grants provider B1 a read consent for one record; B1 opens it (the content
shows); P revokes; B1 tries again and sees the vault's reason; P's access log shows
both decisions, each marked verified; an auditor checks the chain and P's log. Then P
pays a bill on the Claims page and sees two claims decided (one paid in part, one
denied as a duplicate), and the regulator lists claims by reason code. Every
page must load without a console error (a Content-Security-Policy violation is one).
Screenshots of the main pages go to ``$PHRCHAIN_ARTIFACTS/screenshots`` (default
``artifacts/screenshots``).

Skipped, with the reason, when Playwright or Chromium is missing — unless
``PHRCHAIN_REQUIRE_BROWSER=1`` (``scripts/test.sh`` sets it when it has Chromium), which
makes a missing browser a failure.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.records import resource_bytes
from tests.claimflow import billed_visit, file_claim, itemized_bill
from tests.consortium import A1, AE, B1, INSURER, Consortium, P, Q, running
from tests.webui import PASSPHRASES, ui_server

CHROMIUM = os.environ.get("PHRCHAIN_CHROMIUM", "/usr/bin/chromium")
ROOT = Path(__file__).resolve().parents[2]
OBSERVATION = {"resourceType": "Observation", "status": "final",
               "code": {"coding": [{"system": "http://loinc.org", "code": "2339-0",
                                    "display": "Glucose"}]},
               "valueQuantity": {"value": 5.4, "unit": "mmol/L"},
               "effectiveDateTime": "2024-05-01T08:30:00Z"}
TIMEOUT_MS = 20_000


def _missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "Playwright is not installed (pip install -e '.[test]')"
    if not os.access(CHROMIUM, os.X_OK):
        return (f"no Chromium at {CHROMIUM}: scripts/test.sh installs Debian's chromium "
                "when it runs as root")
    return None


def screenshots() -> Path:
    base = Path(os.environ.get("PHRCHAIN_ARTIFACTS") or ROOT / "artifacts")
    out = base / "screenshots"
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    why = _missing()
    if why is not None:
        if os.environ.get("PHRCHAIN_REQUIRE_BROWSER") == "1":
            pytest.fail(f"the browser test must run here: {why}")
        pytest.skip(why)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("web-browser")) as consortium:
        yield consortium


DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 360, "height": 800}
IMPACTS = ("serious", "critical")


class Person:
    """One browser context (its own cookies) logged in as one wallet; ``locale`` sets
    the browser's language (its Accept-Language and navigator.languages)."""

    def __init__(self, browser: Any, base: str, wallet: str, *,
                 viewport: dict[str, int] | None = None, locale: str = "en-US") -> None:
        self.context = browser.new_context(viewport=viewport or DESKTOP, locale=locale,
                                           has_touch=viewport == PHONE,
                                           is_mobile=viewport == PHONE)
        self.page = self.context.new_page()
        self.page.set_default_timeout(TIMEOUT_MS)
        self.errors: list[str] = []
        self.refused: list[str] = []  # "<status> <path>" of every answer >= 400
        self.page.on("console", lambda m: self.errors.append(m.text)
                     if m.type == "error" and not m.text.startswith("Failed to load resource")
                     else None)
        self.page.on("response", lambda r: self.refused.append(
            f"{r.status} {r.url.removeprefix(base)}") if r.status >= 400 else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(f"{base}/ui/")
        self.page.wait_for_selector("body[data-ready=true]", state="attached")
        self.page.select_option("#wallet", wallet)
        self.page.fill("#passphrase", PASSPHRASES[wallet])
        self.page.click("#unlock")
        self.page.wait_for_selector("#nav button")

    def go(self, section: str) -> None:
        before = self.page.get_attribute("#view", "data-loaded")
        self.page.click(f"#nav button[data-section={section}]")
        self.page.wait_for_function(
            "([s, b]) => { const v = document.getElementById('view');"
            " return v.dataset.section === s && v.dataset.loaded && v.dataset.loaded !== b; }",
            arg=[section, before])

    def refresh(self) -> None:
        before = self.page.get_attribute("#view", "data-loaded")
        self.page.click("#refresh")
        self.page.wait_for_function(
            "b => document.getElementById('view').dataset.loaded !== b", arg=before)

    def shot(self, name: str, full_page: bool = True) -> None:
        self.page.screenshot(path=str(screenshots() / f"{name}.png"), full_page=full_page)

    def axe(self) -> None:
        """axe-core (WCAG 2.1 A and AA rules) on the page as it is: no serious or
        critical violation."""
        from axe_playwright_python.sync_playwright import Axe

        found = Axe().run(self.page, options={"runOnly": {"type": "tag", "values": [
            "wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}, "resultTypes": ["violations"]})
        bad = [(v["id"], v["impact"], [n["target"] for n in v["nodes"]][:3])
               for v in found.response["violations"] if v["impact"] in IMPACTS]
        assert bad == [], bad

    def close(self, refused: tuple[str, ...] = ()) -> None:
        """Only the ``refused`` answers were errors, and nothing else went wrong (a
        Content-Security-Policy violation is a console error)."""
        assert self.errors == [], f"console errors: {self.errors}"
        assert self.refused == list(refused)
        self.context.close()


def test_consent_grant_open_revoke_refuse_and_verified_log(
        browser: Any, c: Consortium, tmp_path: Path) -> None:
    record = c.client(A1).records.add(resource_bytes(OBSERVATION), P.did, resource="Observation",
                                      category="laboratory")
    with ui_server(c, tmp_path) as base:
        # P sees the record decrypted, then grants B1 a read consent for it.
        patient = Person(browser, base, "patient-p")
        row = patient.page.wait_for_selector(f"#records li[data-record='{record}']")
        assert "Glucose: 5.4 mmol/L" in row.inner_text()
        patient.axe()
        patient.shot("desktop-en-records")
        patient.go("patient-consents")
        page = patient.page
        page.select_option("#grant-kind", "practitioner")
        page.fill("#grant-grantee", B1.did)
        page.check(f"#grant-records input[value='{record}']")
        preview = page.inner_text("#consent-preview")
        assert "may read 1 chosen record(s) for treatment" in preview
        page.click("#grant-submit")
        consent_row = page.wait_for_selector("#consents li[data-status=active]")
        consent = consent_row.get_attribute("data-consent")
        assert B1.did[:14] in consent_row.inner_text()
        assert "may read 1 chosen record(s) for treatment" in consent_row.inner_text()
        patient.axe()
        patient.shot("desktop-en-consents")

        # B1 finds P among their patients and opens the record.
        provider = Person(browser, base, "b1")
        open_button = f".patient-block[data-patient='{P.did}'] li[data-record='{record}'] " \
                      "button.open"
        provider.page.click(open_button)
        card = provider.page.wait_for_selector(f"li[data-record='{record}'] .record-card")
        assert "Glucose: 5.4 mmol/L" in card.inner_text()
        assert "a consent allows it" in card.inner_text()
        provider.axe()

        # P revokes; B1's next attempt is refused with the vault's reason.
        page.click(f"#consents li[data-consent='{consent}'] button.revoke")
        page.wait_for_selector(f"#consents li[data-consent='{consent}'][data-status=revoked]")
        provider.page.click(open_button)
        refusal = provider.page.wait_for_selector(f"li[data-record='{record}'] .error")
        assert "consent_revoked" in refusal.inner_text()

        # The vaults journal decisions and flush them to the chain; then P's log shows
        # both, each verified against the anchor-signed head.
        c.flush()
        patient.go("patient-log")
        mine = f"#access-log li[data-accessor='{B1.did}'][data-verified=true]"
        deadline = time.monotonic() + 20
        while page.locator(f"{mine}[data-reason=consent_revoked]").count() == 0:
            assert time.monotonic() < deadline, "the denial never reached the log"
            c.flush()
            patient.refresh()
        permit = page.locator(f"{mine}[data-decision=permit][data-reason=consent]")
        deny = page.locator(f"{mine}[data-decision=deny][data-reason=consent_revoked]")
        assert permit.count() == 1 and deny.count() == 1
        for entry in (permit, deny):
            assert "✓ verified" in entry.inner_text()
        assert page.locator("#access-log .unverified").count() == 0
        assert page.locator("#access-log li.denied").count() >= 1  # refusals stand out
        patient.axe()
        patient.shot("desktop-en-access-log")

        # An auditor (GA, a regulator's practitioner) checks the chain and P's log.
        auditor = Person(browser, base, "ga")
        assert "✓ verified" in auditor.page.wait_for_selector("#chain").inner_text()
        auditor.axe()
        auditor.shot("auditor-chain")
        auditor.go("auditor-audit")
        auditor.page.fill("#audit-form input[name=patient]", P.did)
        auditor.page.click("#audit-form button[type=submit]")
        audit = auditor.page.wait_for_selector("#audit-result #access-log")
        assert auditor.page.locator("#audit-result .unverified").count() == 0
        assert "✓ verified" in audit.inner_text()
        auditor.axe()
        auditor.shot("auditor-audit")

        # Logging out locks the wallet: the page is back at the login form.
        patient.page.click("#logout")
        patient.page.wait_for_selector("#login-form", state="visible")
        patient.close()
        provider.close(refused=("403 /ui/api/provider/open",))
        auditor.close()
        claims_pages(browser, base, c)


def claims_pages(browser: Any, base: str, c: Consortium) -> None:
    """P pays the bill on the Claims page; two claims are filed (SDK); P sees them
    decided, with reasons; the regulator lists claims by reason code."""
    visit = billed_visit(c)
    patient = Person(browser, base, "patient-p")  # a balance and a bill: Claims shows
    patient.go("patient-claims")
    page = patient.page
    page.click(f"#bills tr[data-bill='{visit.bill}'] button.pay")
    page.wait_for_selector(f"#bills tr[data-bill='{visit.bill}'][data-status=paid]")
    first = file_claim(c, visit)["claim"]
    duplicate = file_claim(c, visit, visit.records[:1])["claim"]
    patient.refresh()
    block = page.wait_for_selector(f".claim[data-claim='{first}'][data-status=partial]")
    # KRW without decimals, in the page's language (the browser's Intl formats it)
    assert "₩200,000" in block.inner_text() and "excluded" in block.inner_text()
    page.wait_for_selector(f".claim[data-claim='{duplicate}'][data-status=denied] "
                           "button.appeal")
    page.click(f".claim[data-claim='{first}'] button.eob-button")
    assert "ExplanationOfBenefit" in page.wait_for_selector(
        f".claim[data-claim='{first}'] .eob pre").inner_text()
    patient.axe()
    patient.shot("patient-claims")

    auditor = Person(browser, base, "ga")
    auditor.go("auditor-claims")
    auditor.page.select_option("#reason-select", "duplicate_claim")
    auditor.page.click("#by-reason-form button[type=submit]")
    auditor.page.wait_for_selector(f"#claims-by-reason tr[data-claim='{duplicate}']")
    auditor.axe()
    auditor.shot("auditor-claims-by-reason")
    patient.close()
    auditor.close()


# -- patient Q on a phone, in Korean and English; the clinician's chart -------------------
LOINC = "http://loinc.org"
SUBJECT = {"reference": "Patient/q"}


def obs(code: str, value: float, unit: str, when: str, encounter: str) -> dict[str, Any]:
    """A weight (the only measure these tests plot), its display text in English."""
    return {"resourceType": "Observation", "status": "final", "subject": SUBJECT,
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/"
                                      "observation-category", "code": "vital-signs"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": "Body weight"}]},
            "valueQuantity": {"value": value, "unit": unit}, "effectiveDateTime": when,
            "encounter": {"reference": f"Encounter/{encounter}"}}


def encounter(ident: str, start: str) -> dict[str, Any]:
    return {"resourceType": "Encounter", "id": ident, "status": "finished", "subject": SUBJECT,
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB", "display": "ambulatory"},
            "type": [{"text": "Check-up"}], "period": {"start": start}}


PATIENT_Q = {"resourceType": "Patient", "id": "q", "name": [{"text": "김민지"}],
             "gender": "female", "birthDate": "1986-04-12"}
CONDITION = {"resourceType": "Condition", "subject": SUBJECT, "code": {"text": "고혈압"},
             "clinicalStatus": {"coding": [{
                 "system": "http://terminology.hl7.org/CodeSystem/condition-clinical",
                 "code": "active"}]}, "onsetDateTime": "2017-05-02"}
IMMUNIZATION = {"resourceType": "Immunization", "status": "completed", "patient": SUBJECT,
                "vaccineCode": {"text": "Influenza"}, "occurrenceDateTime": "2019-10-20"}


def q_records(c: Consortium) -> dict[str, str]:
    """Q's care: two visits at hospital A (2018 and 2026, weight each time), a problem,
    their Patient resource, and a vaccination at hospital B."""
    a, b = c.client(A1).records, c.client(B1).records
    return {
        "patient": a.add_resource(PATIENT_Q, Q.did),
        "enc_old": a.add_resource(encounter("v2018", "2018-03-01T09:00:00Z"), Q.did),
        "w_old": a.add_resource(obs("29463-7", 82.0, "kg", "2018-03-01T09:10:00Z", "v2018"),
                                Q.did),
        "enc_new": a.add_resource(encounter("v2026", "2026-01-10T10:00:00Z"), Q.did),
        "w_new": a.add_resource(obs("29463-7", 80.5, "kg", "2026-01-10T10:05:00Z", "v2026"),
                                Q.did),
        "condition": a.add_resource(CONDITION, Q.did),
        "flu": b.add_resource(IMMUNIZATION, Q.did),
    }


def epoch_ms(instant: str) -> int:
    return int(datetime.fromisoformat(instant).timestamp() * 1000)


def nav_within_two_taps(person: Person, sections: tuple[str, ...]) -> None:
    """Every patient flow is a button on the home screen (one tap; its action a second),
    visible without scrolling, at least 44 px tall; nothing is wider than the screen."""
    page = person.page
    width = page.viewport_size["width"]
    wide = page.evaluate("w => [...document.querySelectorAll('body *')].filter(e => "
                         "e.getBoundingClientRect().right > w + 0.5).map(e => e.tagName + '.' "
                         "+ e.className + ' ' + Math.round(e.getBoundingClientRect().right))"
                         ".slice(0, 5)", width)
    assert page.evaluate("document.documentElement.scrollWidth") <= width, wide
    for section in sections:
        box = page.locator(f"#nav button[data-section={section}]").bounding_box()
        assert box is not None and box["height"] >= 44 and box["width"] >= 44, section
        assert box["x"] >= 0 and box["x"] + box["width"] <= width, section
        assert box["y"] + box["height"] <= page.viewport_size["height"], section


PATIENT_FLOWS = ("patient-records", "patient-consents", "patient-requests", "patient-log",
                 "patient-claims", "patient-export")


def test_patient_on_a_phone_in_korean_and_english(browser: Any, c: Consortium,
                                                  tmp_path: Path) -> None:
    rec = q_records(c)
    with ui_server(c, tmp_path) as base:
        q = Person(browser, base, "patient-q", viewport=PHONE, locale="ko-KR")
        page = q.page
        assert page.evaluate("document.documentElement.lang") == "ko"  # Accept-Language
        assert page.inner_text("#nav button[data-section=patient-records]") == "나의 진료"
        nav_within_two_taps(q, PATIENT_FLOWS)
        page.wait_for_selector(f"#records li[data-record='{rec['flu']}']")

        # The timeline: visits newest first, each visit's records together.
        visits = page.eval_on_selector_all("#records > li.visit", "v => v.map(x => "
                                           "[...x.querySelectorAll('li.entry')]"
                                           ".map(e => e.dataset.record))")
        assert visits == [[rec["w_new"], rec["enc_new"]], [rec["flu"]],
                          [rec["w_old"], rec["enc_old"]], [rec["condition"]],
                          [rec["patient"]]]
        text = page.inner_text("#records")
        assert "2026년 1월 10일" in text and "2026-01-10" not in text  # no raw ISO dates
        # Filters: an institution, then a date range.
        hospital_b = c.client(B1).session.identity(B1.did)["organization"]
        page.select_option("#filter-custodian", hospital_b)
        page.wait_for_selector("#records[data-shown='1']")
        assert page.locator("#records li.entry:not([hidden])").get_attribute(
            "data-record") == rec["flu"]
        page.select_option("#filter-custodian", "")
        page.fill("#filter-from", "2025-01-01")
        page.wait_for_selector("#records[data-shown='2']")
        shown = page.eval_on_selector_all("#records li.entry:not([hidden])",
                                          "e => e.map(x => x.dataset.record)")
        assert shown == [rec["w_new"], rec["enc_new"]]
        # The weight trend: Chart.js has exactly the decrypted values, at their dates.
        points = page.evaluate("() => Chart.getChart(document.querySelector("
                               "'figure[data-group=weight] canvas')).data.datasets[0].data")
        assert points == [{"x": epoch_ms("2018-03-01T09:10:00Z"), "y": 82},
                          {"x": epoch_ms("2026-01-10T10:05:00Z"), "y": 80.5}]
        assert page.locator("figure[data-group=weight] tr[data-record]").count() == 2
        q.axe()
        q.shot("phone-ko-records")

        # Consent, said as a sentence before signing, then revoked.
        q.go("patient-consents")
        page.select_option("#grant-kind", "practitioner")
        page.fill("#grant-grantee", B1.did)
        page.select_option("#grant-scope", "categories")
        page.check("#grant-form input[name=category][value=vital-signs]")
        preview = page.inner_text("#consent-preview")
        # the chosen category and the records it matches now (the two weights)
        assert "지금 가진 활력 징후 기록 2건을(를) 읽을 수 있습니다" in preview \
            and "치료 목적으로" in preview
        assert "나의 모든 기록" in page.inner_text("#grant-scope-help")
        q.axe()
        q.shot("phone-ko-consent")
        page.click("#grant-submit")
        granted = page.wait_for_selector("#consents li[data-status=active]")
        assert "치료 목적으로" in granted.inner_text()
        assert "활력 징후 기록 2건" in granted.inner_text()
        # on chain: the two weights' ids, no category
        consent = granted.get_attribute("data-consent")
        assert c.query("consent/get", consent=consent)["scope"] == {
            "records": sorted([rec["w_old"], rec["w_new"]])}
        page.click("#consents li[data-status=active] button.revoke")
        page.wait_for_selector("#consents li[data-status=revoked]")

        # A Pull request approved on the phone.
        request = c.client(B1).exchange.request_pull(Q.did, {"records": [rec["w_new"]]},
                                                    "TREAT")
        q.go("patient-requests")
        card = page.wait_for_selector(f"#requests li[data-request='{request}']")
        assert "사본을 요청합니다" in card.inner_text()
        q.axe()
        q.shot("phone-ko-requests")
        page.click(f"#requests li[data-request='{request}'] button.approve")
        page.wait_for_selector(f"#requests li[data-request='{request}'][data-status=approved]")

        # An emergency read by AE; the access log, the claims page and the export.
        c.client(AE).records.open(rec["condition"], action="break_glass", purpose="ETREAT",
                                  reason="unconscious on arrival")
        c.flush()
        q.go("patient-log")
        deadline = time.monotonic() + 20
        while page.locator("#access-log li.break-glass").count() == 0:
            assert time.monotonic() < deadline, "the emergency access never reached the log"
            c.flush()
            q.refresh()
        assert "응급 열람: 1회" in page.inner_text("#break-glass-notice")
        assert page.get_attribute("#access-log li.break-glass", "data-accessor") == AE.did
        assert "허용" in page.inner_text("#access-log")
        q.axe()
        q.shot("phone-ko-access-log")
        q.shot("phone-ko-home", full_page=False)
        q.go("patient-claims")
        q.axe()
        q.go("patient-export")
        page.fill("#export-passphrase", "a long export passphrase")
        page.fill("#export-confirm", "a long export passphrase")
        with page.expect_download():
            page.click("#export")
        page.wait_for_selector("#export-counts")
        q.axe()
        q.shot("phone-ko-export")

        # Switch to English: the page changes and remembers it after a reload.
        page.click("#lang")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        assert page.inner_text("#nav button[data-section=patient-records]") == "My care"
        page.reload()
        page.wait_for_selector("body[data-ready=true]", state="attached")
        page.wait_for_selector("#nav button")
        assert page.evaluate("document.documentElement.lang") == "en"
        nav_within_two_taps(q, PATIENT_FLOWS)
        q.go("patient-records")
        assert "January 10, 2026" in page.inner_text("#records")
        q.axe()
        q.shot("phone-en-records")
        q.close()


@pytest.mark.parametrize(("viewport", "locale", "words"), [
    (PHONE, "en-US", ("Approve", "asks to copy")),
    (DESKTOP, "ko-KR", ("승인", "사본을 요청합니다")),
])
def test_every_patient_flow_at_the_other_size_and_language(
        browser: Any, c: Consortium, tmp_path: Path, viewport: dict[str, int], locale: str,
        words: tuple[str, str]) -> None:
    """The flows the phone-in-Korean test walks, at the other screen size in the other
    language: each section one tap from home, a Pull approved, the export, axe-core."""
    record = c.client(A1).records.add_resource(IMMUNIZATION, Q.did)
    request = c.client(B1).exchange.request_pull(Q.did, {"records": [record]}, "TREAT")
    with ui_server(c, tmp_path) as base:
        q = Person(browser, base, "patient-q", viewport=viewport, locale=locale)
        page = q.page
        assert page.evaluate("document.documentElement.lang") == locale[:2]
        nav_within_two_taps(q, PATIENT_FLOWS)
        page.wait_for_selector(f"#records li[data-record='{record}']")
        q.axe()
        for section in ("patient-consents", "patient-log", "patient-claims"):
            q.go(section)
            q.axe()
        q.go("patient-requests")
        card = page.wait_for_selector(f"#requests li[data-request='{request}']")
        assert words[1] in card.inner_text()
        assert page.inner_text(f"#requests li[data-request='{request}'] button.approve") \
            == words[0]
        page.click(f"#requests li[data-request='{request}'] button.approve")
        page.wait_for_selector(f"#requests li[data-request='{request}'][data-status=approved]")
        q.axe()
        q.go("patient-export")
        page.fill("#export-passphrase", "a long export passphrase")
        page.fill("#export-confirm", "a long export passphrase")
        with page.expect_download() as download:
            page.click("#export")
        assert download.value.suggested_filename == "phrchain-record.phr"
        page.wait_for_selector("#export-counts")
        q.axe()
        q.close()


def test_the_clinician_sees_the_name_only_from_a_readable_patient_resource(
        browser: Any, c: Consortium, tmp_path: Path) -> None:
    rec = q_records(c)
    now = int(time.time() * 1000)
    patient = c.client(Q).consent
    only_weight = patient.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                                scope={"records": sorted([rec["w_old"], rec["w_new"]])},
                                purposes=["TREAT"], start_ms=now - 1000,
                                end_ms=now + 86_400_000)
    with ui_server(c, tmp_path) as base:
        doctor = Person(browser, base, "b1", locale="ko-KR")
        page = doctor.page
        block = f".patient-block[data-patient='{Q.did}']"
        page.click(f"{block} button.open-chart")
        page.wait_for_selector(f"{block} figure[data-group=weight]")
        banner = page.inner_text(f"{block} .patient-banner")
        assert page.get_attribute(f"{block} .patient-banner", "data-banner") == "pseudonym"
        assert "김민지" not in page.inner_text(block) and "가명 환자" in banner
        doctor.axe()

        # The patient lets B1 read everything: the banner names the patient.
        patient.revoke(only_weight)
        patient.grant({"kind": "practitioner", "id": B1.did}, actions=["read"],
                      scope={"all": True}, purposes=["TREAT"], start_ms=now - 1000,
                      end_ms=now + 86_400_000)
        doctor.refresh()
        page.click(f"{block} button.open-chart")
        page.wait_for_selector(f"{block} .patient-banner[data-banner=named]")
        banner = page.inner_text(f"{block} .patient-banner")
        assert "김민지" in banner and "1986년 4월 12일 출생" in banner and "여성" in banner
        assert "고혈압" in page.inner_text(f"{block} .summary-list[data-kind=problems]")
        assert "모든 기록을(를) 읽을 수 있습니다" in page.inner_text(block)
        doctor.axe()
        doctor.shot("clinician-ko-chart")
        page.click("#lang")
        page.wait_for_function("() => document.documentElement.lang === 'en'")
        page.click(f"{block} button.open-chart")
        page.wait_for_selector(f"{block} .patient-banner[data-banner=named]")
        assert "born April 12, 1986" in page.inner_text(f"{block} .patient-banner")
        doctor.axe()
        doctor.shot("clinician-en-chart")
        doctor.close()


# -- the patient files a claim by picking records (Kyobo Life's flow) ----------------------
KO_CLAIM = ("시술·수술", "(병원)", "보험금 지급 목적으로만 아래 기록 2건", "일부 지급")
EN_CLAIM = ("Procedure", "(hospital)", "may read these 2 records for insurance payment only",
            "partly paid")


@pytest.mark.parametrize(("viewport", "locale", "words", "shot"), [
    (PHONE, "ko-KR", KO_CLAIM, "phone-ko-claim"),
    (DESKTOP, "en-US", EN_CLAIM, "desktop-en-claim"),
    (PHONE, "en-US", EN_CLAIM, "phone-en-claim"),
    (DESKTOP, "ko-KR", KO_CLAIM, "desktop-ko-claim"),
])
def test_patient_files_a_claim_by_picking_records(
        browser: Any, c: Consortium, tmp_path: Path, viewport: dict[str, int], locale: str,
        words: tuple[str, str, str, str], shot: str) -> None:
    """Claims (one tap), File a claim (two): P picks the paid bill, the product whose key
    the insurer gave them and two of the visit's three records; the page says, before
    signing, that the insurer may read exactly those for payment; the claim is decided
    (partly paid, ₩200,000) and names exactly the picked records on chain."""
    visit = billed_visit(c)
    key_file = tmp_path / "dasom.key"
    visit.key.save(key_file)
    item = itemized_bill(c, visit)
    picked = visit.records[1:]  # the Procedure and the Condition, not the Encounter
    with ui_server(c, tmp_path, product_keys={"patient-p": (key_file,)}) as base:
        p = Person(browser, base, "patient-p", viewport=viewport, locale=locale)
        page = p.page
        assert page.evaluate("document.documentElement.lang") == locale[:2]
        nav_within_two_taps(p, PATIENT_FLOWS)
        p.go("patient-claims")
        page.click("#file-claim-open")
        page.wait_for_selector("#claim-form")
        page.select_option("#claim-bill", item.bill)
        assert "Colonoscopy (procedure)" in page.inner_text("#claim-lines")  # the record's text
        page.select_option("#claim-product", f"{INSURER.did}|{visit.product}")
        assert page.is_disabled("#claim-submit")  # nothing picked: nothing to sign
        for record in picked:
            page.check(f"#claim-records input[value='{record}']")
        label = page.inner_text(f"#claim-preview li[data-record='{picked[0]}']")
        assert words[0] in label and words[1] in label
        assert (label.count("년") == 1) == (locale == "ko-KR")  # a date, in the language
        assert sorted(page.eval_on_selector_all(
            "#claim-preview li", "e => e.map(x => x.dataset.record)")) == sorted(picked)
        # The records are offered as on the timeline: today's visit first, together.
        offered = page.eval_on_selector_all("#claim-records input",
                                            "e => e.map(x => x.value)")
        assert sorted(offered[:3]) == sorted(visit.records)
        assert words[2] in page.inner_text("#claim-preview")
        p.axe()
        p.shot(shot)
        page.click("#claim-submit")
        outcome = page.wait_for_selector("#claim-outcome[data-status=partial]")
        assert words[3] in outcome.inner_text() and "₩200,000" in outcome.inner_text()
        claim = str(outcome.get_attribute("data-claim"))
        on_chain = c.client(P).claims.claim(claim)
        assert sorted(r["record"] for r in on_chain["records"]) == sorted(picked)
        assert on_chain["bill"] == item.bill
        page.wait_for_selector(f"#claims .claim[data-claim='{claim}'][data-status=partial]")
        p.axe()
        p.shot(f"{shot}-filed")
        p.close()


def test_a_patient_with_pseudonyms(browser: Any, c: Consortium, tmp_path: Path) -> None:
    """Issue 14: a wallet whose pseudonyms at hospitals A and B act. Both institutions'
    records on one page, each naming its pseudonym; the emergency card; a consent over
    "all" records kept at B, granted by the B-pseudonym after choosing the institution."""
    from phrchain.api.server import BackgroundServer, create_app
    from phrchain.client.patient import PatientWallet
    from phrchain.client.wallet import Wallet
    from phrchain.web import UiConfig, WalletEntry, create_ui_app
    from tests.consortium import AUTHORITY, CHAIN, HOSPITAL_A, HOSPITAL_B, VALIDATOR
    from tests.webui import CHEAP_KDF

    secret = PASSPHRASES.setdefault("patient-r", "r's long passphrase")
    wallet, path = Wallet.create("patient R"), tmp_path / "r.wallet"
    wallet.save(path, secret, CHEAP_KDF)
    me = PatientWallet(c.client(AUTHORITY).node, wallet, c.directory,
                       save=lambda w: w.save_over(path, secret, CHEAP_KDF))
    a, b = me.at(HOSPITAL_A.did).wallet.did, me.at(HOSPITAL_B.did).wallet.did
    at_a = c.client(A1).records.add(resource_bytes(OBSERVATION), a, resource="Observation",
                                    category="laboratory")
    at_b = c.client(B1).records.add(resource_bytes(OBSERVATION), b, resource="Observation",
                                    category="laboratory")
    ui = create_ui_app(UiConfig(c.api_url, c.directory,
                                {"patient-r": WalletEntry(path, "patient")},
                                trust_anchor=VALIDATOR.did, chain_id=CHAIN))
    try:
        with BackgroundServer(create_app(c.node, ui=ui)) as base:
            patient = Person(browser, base, "patient-r")
            page = patient.page
            for record, owner in ((at_a, a), (at_b, b)):
                row = page.wait_for_selector(f"#records li[data-record='{record}']")
                assert "Glucose: 5.4 mmol/L" in row.inner_text()
                assert "as your pseudonym" in row.inner_text() and owner[:14] in \
                    row.inner_text()
            patient.go("patient-card")
            card = page.wait_for_selector("#emergency-card")
            kept = {li.get_attribute("data-custodian")
                    for li in page.query_selector_all("#emergency-card li")}
            assert kept == {HOSPITAL_A.did, HOSPITAL_B.did}
            assert a in card.inner_text() and b in card.inner_text()
            patient.axe()
            patient.shot("patient-emergency-card")
            patient.go("patient-consents")
            page.select_option("#grant-custodian", HOSPITAL_B.did)
            page.select_option("#grant-kind", "organization")
            page.fill("#grant-grantee", HOSPITAL_A.did)
            page.select_option("#grant-scope", "all")
            page.click("#grant-submit")
            row = page.wait_for_selector("#consents li[data-status=active]")
            consent = row.get_attribute("data-consent")
            assert c.query("consent/get", consent=consent)["patient"] == b
            patient.axe()
            patient.close()
    finally:
        ui.state.ui.sessions.close()
        me.close()
