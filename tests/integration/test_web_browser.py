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
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.records import resource_bytes
from tests.claimflow import billed_visit, file_claim
from tests.consortium import A1, B1, Consortium, P, running
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


class Person:
    """One browser context (its own cookies) logged in as one wallet."""

    def __init__(self, browser: Any, base: str, wallet: str) -> None:
        self.context = browser.new_context(viewport={"width": 1280, "height": 900})
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

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(screenshots() / f"{name}.png"), full_page=True)

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
        row = patient.page.wait_for_selector(f"#records tr[data-record='{record}']")
        assert "Glucose: 5.4 mmol/L" in row.inner_text()
        patient.shot("patient-records")
        patient.go("patient-consents")
        page = patient.page
        page.select_option("#grant-kind", "practitioner")
        page.fill("#grant-grantee", B1.did)
        page.check(f"#grant-records input[value='{record}']")
        page.click("#grant-submit")
        consent_row = page.wait_for_selector("#consents tr[data-status=active]")
        consent = consent_row.get_attribute("data-consent")
        assert B1.did[:14] in consent_row.inner_text()
        patient.shot("patient-consents")

        # B1 finds P among their patients and opens the record.
        provider = Person(browser, base, "b1")
        open_button = f".patient-block[data-patient='{P.did}'] tr[data-record='{record}'] " \
                      "button.open"
        provider.page.click(open_button)
        card = provider.page.wait_for_selector(f"tr[data-record='{record}'] .record-card")
        assert "Glucose: 5.4 mmol/L" in card.inner_text()
        assert "consent" in card.inner_text()
        provider.shot("provider")

        # P revokes; B1's next attempt is refused with the vault's reason.
        page.click(f"#consents tr[data-consent='{consent}'] button.revoke")
        page.wait_for_selector(f"#consents tr[data-consent='{consent}'][data-status=revoked]")
        provider.page.click(open_button)
        refusal = provider.page.wait_for_selector(f"tr[data-record='{record}'] .error")
        assert "consent_revoked" in refusal.inner_text()
        provider.shot("provider-refused")

        # The vaults journal decisions and flush them to the chain; then P's log shows
        # both, each verified against the anchor-signed head.
        c.flush()
        patient.go("patient-log")
        mine = f"#access-log tr[data-accessor='{B1.did}'][data-verified=true]"
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
        patient.shot("patient-access-log")

        # An auditor (GA, a regulator's practitioner) checks the chain and P's log.
        auditor = Person(browser, base, "ga")
        assert "✓ verified" in auditor.page.wait_for_selector("#chain").inner_text()
        auditor.shot("auditor-chain")
        auditor.go("auditor-audit")
        auditor.page.fill("#audit-form input[name=patient]", P.did)
        auditor.page.click("#audit-form button[type=submit]")
        audit = auditor.page.wait_for_selector("#audit-result #access-log")
        assert auditor.page.locator("#audit-result .unverified").count() == 0
        assert "✓ verified" in audit.inner_text()
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
    assert "200,000 KRW" in block.inner_text() and "excluded" in block.inner_text()
    page.wait_for_selector(f".claim[data-claim='{duplicate}'][data-status=denied] "
                           "button.appeal")
    page.click(f".claim[data-claim='{first}'] button.eob-button")
    assert "ExplanationOfBenefit" in page.wait_for_selector(
        f".claim[data-claim='{first}'] .eob pre").inner_text()
    patient.shot("patient-claims")

    auditor = Person(browser, base, "ga")
    auditor.go("auditor-claims")
    auditor.page.select_option("#reason-select", "duplicate_claim")
    auditor.page.click("#by-reason-form button[type=submit]")
    auditor.page.wait_for_selector(f"#claims-by-reason tr[data-claim='{duplicate}']")
    auditor.shot("auditor-claims-by-reason")
    patient.close()
    auditor.close()
