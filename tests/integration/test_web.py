"""The web UI's backend over HTTP, against a running consortium (no browser): login,
the loopback/Host and CSRF defences, session expiry and logout, that no private key
ever leaves the process, and the provider flows the browser test does not drive."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from phrchain.client.records import resource_bytes
from tests.consortium import A1, B1, Consortium, P, Q, running
from tests.webui import PASSPHRASES, WALLETS, Browser, error_of, ui_server

DAY = 86_400_000
OBSERVATION = {"resourceType": "Observation", "status": "final",
               "code": {"text": "Haemoglobin"},
               "valueQuantity": {"value": 13.5, "unit": "g/dL"}}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("web")) as consortium:
        yield consortium


@pytest.fixture(scope="module")
def clock() -> Clock:
    return Clock()


@pytest.fixture(scope="module")
def base(c: Consortium, clock: Clock, tmp_path_factory: pytest.TempPathFactory
         ) -> Iterator[str]:
    with ui_server(c, tmp_path_factory.mktemp("web-ui"), clock=clock) as url:
        yield url


@pytest.fixture
def new_page(base: str) -> Iterator[Any]:
    """A factory of :class:`Browser` s, each closed after the test."""
    opened: list[Browser] = []

    def new() -> Browser:
        opened.append(Browser(base))
        return opened[-1]

    yield new
    for browser in opened:
        browser.http.close()


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def test_wrong_passphrase_is_refused(new_page: Any) -> None:
    page = new_page()
    assert error_of(page.login("patient-p", "not the passphrase")) == \
        (401, "ui", "wrong_passphrase")
    assert "set-cookie" not in page.call("POST", "api/session", {
        "wallet": "patient-p", "passphrase": "wrong"}).headers
    assert error_of(page.login("nobody", "x")) == (404, "ui", "not_found")
    assert error_of(page.call("GET", "api/patient/records")) == (401, "ui", "not_logged_in")
    answer = page.login("patient-p")
    assert answer.status_code == 200
    assert answer.json()["capabilities"] == ["claims", "export", "patient"]
    cookie = answer.headers["set-cookie"].lower()
    for attribute in ("httponly", "samesite=strict", "path=/ui"):
        assert attribute in cookie


def test_foreign_hosts_and_missing_csrf_are_refused(base: str, new_page: Any) -> None:
    port = base.rsplit(":", 1)[1]
    page = new_page()
    for host in ("evil.example", f"evil.example:{port}", f"127.0.0.1:{int(port) + 1}",
                 "127.0.0.1.nip.example", f"[::2]:{port}", ""):
        response = page.call("GET", "", headers={"Host": host})
        assert error_of(response) == (403, "ui", "bad_host"), host
    assert page.call("GET", "", headers={"Host": f"localhost:{port}"}).status_code == 200
    # login needs the token the page was given, like every state-changing request
    assert error_of(page.call("POST", "api/session", {
        "wallet": "patient-p", "passphrase": PASSPHRASES["patient-p"]}, headers={})) == \
        (403, "ui", "csrf")
    page.login("patient-p")
    grant = {"grantee": {"kind": "practitioner", "id": B1.did}, "actions": ["read"],
             "scope": {"all": True}, "purposes": ["TREAT"], "start_ms": now_ms() - 1000,
             "end_ms": now_ms() + DAY}
    for headers in ({}, {"X-CSRF-Token": "guess"},
                    {"X-CSRF-Token": page.csrf, "Origin": "http://evil.example"},
                    {"X-CSRF-Token": page.csrf, "Sec-Fetch-Site": "cross-site"}):
        assert error_of(page.call("POST", "api/patient/consents", grant,
                                  headers=headers)) == (403, "ui", "csrf"), headers
    assert page.ok("GET", "api/patient/consents")["consents"] == []  # nothing was granted
    other = new_page()
    other.login("patient-q")
    assert error_of(page.call("DELETE", "api/session",
                              headers={"X-CSRF-Token": other.csrf})) == (403, "ui", "csrf")


def test_security_headers_and_a_page_without_inline_code(new_page: Any) -> None:
    page = new_page()
    response = page.call("GET", "")
    csp = response.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self'" in csp
    assert "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    html = response.text
    assert re.search(r"<script(?![^>]*\bsrc=)", html) is None  # no inline script
    assert re.search(r"\son[a-z]+\s*=", html) is None  # no inline handler
    assert re.search(r"\sstyle\s*=|<style", html) is None
    assert "http://" not in html and "https://" not in html  # nothing from elsewhere
    for name in ("app.js", "patient.js", "provider.js", "auditor.js", "claims.js",
                 "trends.js", "style.css", "manifest.json", "i18n/en.json", "i18n/ko.json"):
        asset = page.call("GET", f"static/{name}")
        assert asset.status_code == 200 and asset.headers["cache-control"] == "no-store"
        for forbidden in (".innerHTML", ".outerHTML", "insertAdjacentHTML", "eval(", "http://",
                          "https://", "document.write"):
            assert forbidden not in asset.text, (name, forbidden)
    assert page.call("GET", "api/session").headers["cache-control"] == "no-store"
    # The vendored charting library is served from here too (its licence beside it).
    chart = page.call("GET", "static/vendor/chartjs/chart.umd.min.js")
    assert chart.status_code == 200 and "Chart.js v4.6.2" in chart.text
    assert "<script src=\"static/vendor/chartjs/chart.umd.min.js\"" in html
    assert page.call("GET", "static/vendor/chartjs/LICENSE.md").status_code == 200


def test_installable_and_the_first_language_follows_the_browser(new_page: Any) -> None:
    page = new_page()
    assert '<link rel="manifest" href="static/manifest.json">' in page.call("GET", "").text
    manifest = page.call("GET", "static/manifest.json").json()
    assert manifest["display"] == "standalone" and manifest["start_url"] == "../"
    icon = manifest["icons"][0]["src"]
    assert page.call("GET", f"static/{icon}").status_code == 200
    for header, lang in (("ko-KR,ko;q=0.9,en;q=0.8", "ko"), ("en-GB,en;q=0.9", "en"),
                         ("de-DE", "en")):
        answer = page.call("GET", "api/session", headers={"Accept-Language": header})
        assert answer.json()["lang"] == lang
    answer = page.login("patient-p")
    assert answer.json()["lang"] == "en"  # httpx sends no Accept-Language


def test_no_private_key_material_in_any_response(c: Consortium, new_page: Any) -> None:
    record = c.client(A1).records.add(resource_bytes(OBSERVATION), P.did, resource="Observation",
                                      category="laboratory")
    pages = {name: new_page() for name in ("patient-p", "b1", "ga", "ae")}
    for name, page in pages.items():
        page.ok("GET", "api/wallets")
        page.login(name)
        page.ok("GET", "api/session")
        page.ok("GET", "api/parties")
        page.ok("GET", "api/vocabulary")
    p, b1, ga, ae = pages.values()
    assert "Haemoglobin" in str(p.ok("GET", "api/patient/records"))
    consent = p.ok("POST", "api/patient/consents", {
        "grantee": {"kind": "practitioner", "id": B1.did}, "actions": ["read"],
        "scope": {"records": [record]}, "purposes": ["TREAT"], "start_ms": now_ms() - 1000,
        "end_ms": now_ms() + DAY})["consent"]
    p.ok("GET", "api/patient/consents")
    b1.ok("GET", "api/provider/patients")
    assert b1.ok("POST", "api/provider/open", {"record": record})["fhir"] == OBSERVATION
    ae.ok("POST", "api/provider/break-glass", {"record": record,
                                               "reason": "unconscious in the ER"})
    p.ok("POST", f"api/patient/consents/{consent}/revoke")
    c.flush()
    p.ok("GET", "api/patient/access-log")
    ga.ok("GET", "api/auditor/chain")
    ga.ok("GET", "api/auditor/audit", params={"patient": P.did})
    for page in pages.values():
        page.ok("DELETE", "api/session")
    secrets: dict[str, bytes] = {}
    for name, (wallet, _) in WALLETS.items():
        for what, raw in (("signing seed", wallet.signing_key.seed),
                          ("encryption secret", wallet.encryption_key.secret)):
            secrets[f"{name} {what} (hex)"] = raw.hex().encode()
            secrets[f"{name} {what} (base64)"] = base64.b64encode(raw).rstrip(b"=")
            secrets[f"{name} {what} (base64url)"] = base64.urlsafe_b64encode(raw).rstrip(b"=")
        secrets[f"{name} passphrase"] = PASSPHRASES[name].encode()
    seen = b"\n".join(b"\n".join(page.seen) for page in pages.values())
    assert len(seen) > 10_000
    leaked = [what for what, needle in secrets.items() if needle.lower() in seen.lower()]
    assert leaked == []


def test_sessions_expire_when_idle_and_logout_wipes_them(c: Consortium, base: str,
                                                         clock: Clock, new_page: Any) -> None:
    page = new_page()
    page.login("patient-p")
    page.ok("GET", "api/patient/consents")
    clock.now += 14 * 60  # idle 14 min: still alive, and the idle clock restarts
    page.ok("GET", "api/patient/consents")
    clock.now += 15 * 60 + 1
    expired = page.call("GET", "api/patient/consents")
    assert error_of(expired) == (401, "ui", "not_logged_in")
    assert page.ok("GET", "api/session")["logged_in"] is False
    page.login("patient-p")
    token = page.http.cookies["phr_ui_session"]
    page.ok("DELETE", "api/session")
    with httpx.Client(base_url=f"{base}/ui/", cookies={"phr_ui_session": token}) as stale:
        assert error_of(stale.get("api/patient/consents")) == (401, "ui", "not_logged_in")
    page.login("patient-p")
    clock.now += 8 * 3600  # past the absolute lifetime, however active
    assert error_of(page.call("GET", "api/patient/consents")) == (401, "ui", "not_logged_in")


def test_capabilities_follow_the_chain_identity(new_page: Any) -> None:
    patient, provider, auditor = new_page(), new_page(), new_page()
    patient.login("patient-p")
    provider.login("a1")
    auditor.login("ga")
    assert provider.ok("GET", "api/session")["capabilities"] == ["provider"]
    assert auditor.ok("GET", "api/session")["capabilities"] == ["auditor"]
    assert error_of(patient.call("GET", "api/provider/patients")) == \
        (403, "ui", "not_permitted")
    assert error_of(provider.call("GET", "api/patient/records")) == \
        (403, "ui", "not_permitted")
    assert error_of(provider.call("POST", "api/provider/break-glass", {
        "record": "00" * 16, "reason": "a long enough reason"})) == (403, "ui", "not_permitted")
    assert "export" in patient.ok("GET", "api/session")["capabilities"]
    assert error_of(provider.call("POST", "api/patient/export", {
        "passphrase": "a long export passphrase", "confirm": "a long export passphrase"})) \
        == (403, "ui", "not_permitted")
    assert error_of(auditor.call("GET", "api/reviewer/claims")) == (403, "ui", "not_permitted")


def test_pull_push_and_break_glass(c: Consortium, new_page: Any) -> None:
    record = c.client(A1).records.add(resource_bytes(OBSERVATION), P.did, resource="Observation",
                                      category="laboratory")
    p, b1, a1, ae = new_page(), new_page(), new_page(), new_page()
    for page, name in ((p, "patient-p"), (b1, "b1"), (a1, "a1"), (ae, "ae")):
        page.login(name)
    asked = b1.ok("POST", "api/provider/requests", {"patient": P.did,
                                                    "scope": {"records": [record]},
                                                    "purpose": "TREAT"})
    assert asked["status"] == "pending"
    inbox = p.ok("GET", "api/patient/requests")["requests"]
    assert [r["status"] for r in inbox if r["request"] == asked["request"]] == ["pending"]
    p.ok("POST", f"api/patient/requests/{asked['request']}/approve",
         {"end_ms": now_ms() + DAY})
    mine = {r["request"]: r for r in b1.ok("GET", "api/provider/requests")["requests"]}
    assert [r["record"] for r in mine[asked["request"]]["records"]] == [record]
    pulled = b1.ok("POST", "api/provider/pull", {"request": asked["request"],
                                                 "record": record})
    assert pulled["fhir"] == OBSERVATION and pulled["summary"] == \
        "Haemoglobin: 13.5 g/dL (final)"
    refused = a1.call("POST", "api/provider/push", {"record": record, "to": B1.did})
    assert error_of(refused)[:2] == (422, "exchange") and "not_permitted" in refused.text
    no_reason = ae.call("POST", "api/provider/break-glass", {"record": record, "reason": " "})
    assert error_of(no_reason) == (400, "ui", "bad_request")
    opened = ae.ok("POST", "api/provider/break-glass", {"record": record,
                                                        "reason": "unconscious in the ER"})
    assert opened["decision"]["break_glass"] is True
    c.flush()
    log = p.ok("GET", "api/patient/access-log")
    assert log["break_glass"] >= 1 and all(e["verified"] for e in log["entries"])
    assert any(e["break_glass"] and e["record"] == record for e in log["entries"])
    assert log["sealed"] == 0 and not any(e["sealed"] for e in log["entries"])
    # the regulator's auditor opens the same entries with the regulator's key (configured)
    ga = new_page()
    ga.login("ga")
    audited = ga.ok("GET", "api/auditor/audit", params={"patient": P.did})
    assert not any(e["sealed"] for e in audited["entries"])
    assert {(e["index"], e["commitment"], e.get("break_glass")) for e in audited["entries"]} \
        == {(e["index"], e["commitment"], e.get("break_glass")) for e in log["entries"]}


def test_the_ui_mounted_by_create_app_and_nothing_else_changes(c: Consortium,
                                                              base: str) -> None:
    with httpx.Client(base_url=base) as http:
        assert http.get("/v1/status").json()["chain_id"] == "phr-records"
        assert "content-security-policy" not in http.get("/v1/status").headers
        assert http.get("/ui/static/app.js").status_code == 200
        # The API answers a trailing slash with its 404, not a redirect; /ui still leads
        # to the UI (issue 13: every answer of the API is one its OpenAPI states).
        assert http.get("/ui").status_code == 307
        assert http.get("/ui").headers["location"] == "/ui/"
        assert http.get("/v1/status/").json()["error"]["name"] == "not_found"


def test_wallet_files_are_listed_without_secrets(new_page: Any) -> None:
    listed = new_page().ok("GET", "api/wallets")["wallets"]
    assert {w["name"] for w in listed} == set(WALLETS)
    assert {w["did"] for w in listed} == {w.did for w, _ in WALLETS.values()}


def test_a_grant_chosen_by_category_puts_only_record_ids_on_chain(c: Consortium,
                                                                   new_page: Any) -> None:
    """The patient chooses categories in the consent form; the chain gets the ids of
    exactly the patient's records of those categories (no category, no type), the
    consent covers exactly them, and the UI says it in the patient's words."""
    a1 = c.client(A1)

    def add(resource: str, category: str) -> str:
        return a1.records.add(resource_bytes({**OBSERVATION, "resourceType": resource}),
                              Q.did, resource=resource, category=category)

    lab, report, vital, condition = (add("Observation", "laboratory"),
                                     add("DiagnosticReport", "laboratory"),
                                     add("Observation", "vital-signs"),
                                     add("Condition", "condition"))
    page = new_page()
    page.login("patient-q")
    nothing = page.call("POST", "api/patient/consents", {
        "grantee": {"kind": "practitioner", "id": B1.did}, "actions": ["read"],
        "scope": {"categories": ["imaging"]}, "purposes": ["TREAT"],
        "start_ms": now_ms() - 1000, "end_ms": now_ms() + DAY})
    assert error_of(nothing) == (400, "ui", "bad_request") and "choose all" in nothing.text
    assert page.ok("GET", "api/patient/consents")["consents"] == []
    before = c.node.blocks.height()
    granted = page.ok("POST", "api/patient/consents", {
        "grantee": {"kind": "practitioner", "id": B1.did}, "actions": ["read"],
        "scope": {"categories": ["condition", "laboratory"]}, "purposes": ["TREAT"],
        "start_ms": now_ms() - 1000, "end_ms": now_ms() + DAY})
    consent = granted["consent"]
    assert granted["record_count"] == 3 and granted["all"] is False
    on_chain = c.query("consent/get", consent=consent)
    assert on_chain["scope"] == {"records": sorted([lab, report, condition])}
    txs = [t.raw for h in range(before + 1, c.node.blocks.height() + 1)
           for t in c.node.blocks.txs(h)]
    grant_tx = [raw for raw in txs if consent.encode() in raw]
    assert len(grant_tx) == 1
    for word in (b"laboratory", b"condition", b"Condition", b"DiagnosticReport",
                 b"Observation", b"categor", b"resource"):
        assert word not in grant_tx[0], word
        assert word not in str(on_chain).encode(), word
    for record, reason in ((lab, "consent"), (report, "consent"), (condition, "consent"),
                           (vital, "out_of_scope")):
        assert c.query("consent/decide", accessor=B1.did, action="read", record=record,
                       purpose="TREAT")["reason"] == reason, record
    later = add("Observation", "laboratory")  # registered after the grant: not covered
    assert c.query("consent/decide", accessor=B1.did, action="read", record=later,
                   purpose="TREAT")["reason"] == "out_of_scope"
    # B1 was given the keys of exactly the three, and opens them
    assert b1_opens(c, lab) and b1_opens(c, condition) and not b1_opens(c, vital)
    rows = {r["consent"]: r for r in page.ok("GET", "api/patient/consents")["consents"]}
    assert rows[consent]["chosen"] == {"categories": ["condition", "laboratory"]}
    assert rows[consent]["record_count"] == 3
    page.ok("DELETE", "api/session")
    page.login("patient-q")  # a new session remembers no choice; the count stays
    rows = {r["consent"]: r for r in page.ok("GET", "api/patient/consents")["consents"]}
    assert rows[consent]["chosen"] is None and rows[consent]["record_count"] == 3


def b1_opens(c: Consortium, record: str) -> bool:
    from phrchain.client.http import ApiError

    try:
        c.client(B1).records.open(record)
    except ApiError:
        return False
    return True
