"""The patient's Research page through the HTTP app (issue 17): its donation and every
study that used its data, after a vault released a dataset holding its records; both
catalogues carry the page's strings."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.client import builder
from phrchain.deid import default_config
from phrchain.deid.config import parse
from phrchain.fhir.synthetic import generate_bundle
from phrchain.research import terms
from phrchain.research.vault import HeldRecord, release
from tests.consortium import A2, AUTHORITY, HOSPITAL_A, RR, P, Q, running
from tests.integration.test_research_e2e import register_msg
from tests.researchflow import oid, study_msg
from tests.webui import Browser, ui_server

STATIC = Path(__file__).resolve().parents[2] / "src" / "phrchain" / "web" / "static"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    tmp = tmp_path_factory.mktemp("web-research")
    with running(tmp / "c") as c:
        admin = c.client(AUTHORITY)
        admin.node.send(AUTHORITY, [{"type": "research/set_params",
                                     **terms.params(min_k=1, min_l=1)}])
        admin.node.send(HOSPITAL_A, [builder.set_roles(A2.did, ["auditor", "physician"])])
        held = []
        for who, seed in ((P, 1), (Q, 2)):
            for entry in generate_bundle(seed, resources=5, bundle_type="collection")["entry"]:
                msg = register_msg(who)
                admin.node.send(who, [msg])
                held.append(HeldRecord(msg["record"], entry["resource"]))
            c.client(who).research.donate({"code": "GRU"}, [], {"all": True}, now_ms(),
                                          now_ms() + 86_400_000)
        c.client(Q).research.revoke()
        study = study_msg(oid("web study"), irb=False, k=1, l=1)
        c.client(RR).research.register_study(study)
        request = c.client(RR).research.request(study.study)
        raw = json.loads(json.dumps(default_config().raw))
        raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 1, "l": 1})
        vault = c.client(HOSPITAL_A)
        released = release(lambda path, **data: vault.session.q(path, **data),
                           request["request"], held, config=parse(raw), key=bytes(32),
                           dataset=oid("web dataset"), reference_year=2026,
                           recorded="2026-12-07T10:00:00Z", now_ms=now_ms(),
                           approver=A2.signing_key)
        vault.research.release(released.manifest)
        with ui_server(c, tmp) as base:
            yield base


@pytest.fixture
def page(url: str) -> Iterator[Browser]:
    browser = Browser(url)
    yield browser
    browser.http.close()


def test_patient_sees_the_studies_that_used_its_data(page: Browser) -> None:
    assert page.login("patient-p").is_success
    found = page.ok("GET", "api/patient/research")["identities"]
    assert [i["pseudonym"] for i in found] == [P.did]
    me = found[0]
    assert me["donation"]["permission"] == {"code": "GRU"}
    assert [u["study"] for u in me["uses"]] == [oid("web study")]
    use = me["uses"][0]
    assert use["dataset"] == oid("web dataset") and use["k"] >= 1
    assert use["custodian"]["did"] == HOSPITAL_A.did and not use["key_destroyed"]


def test_a_revoked_donor_sees_no_use(page: Browser) -> None:
    assert page.login("patient-q").is_success
    me = page.ok("GET", "api/patient/research")["identities"][0]
    assert me["donation"]["status"] == "revoked" and me["uses"] == []


def test_the_page_strings_are_in_both_languages() -> None:
    catalogues = {lang: json.loads((STATIC / "i18n" / f"{lang}.json").read_text("utf-8"))
                  for lang in ("en", "ko")}
    used = set(re.findall(r'"((?:research|nav)\.[a-z_]+)"',
                                        (STATIC / "research.js").read_text("utf-8")))
    assert used and all(k in catalogues["en"] and k in catalogues["ko"] for k in used)
    assert catalogues["ko"]["nav.research"] != catalogues["en"]["nav.research"]


def test_the_page_script_is_served_and_needs_a_patient_session(page: Browser) -> None:
    assert page.call("GET", "api/patient/research").status_code == 401
    assert page.http.get("static/research.js").status_code == 200
