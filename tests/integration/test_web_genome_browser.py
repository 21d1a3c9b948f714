"""The patient's Genome page in a real browser (Debian's Chromium via Playwright, axe for
accessibility): a practitioner seals a bgzipped VCF for patient P and reads a region; an
unconsented provider is refused; P's Genome section shows the object, who holds a key,
and both reads — permitted and refused — in English, then in Korean on a phone, with no
console error and no serious or critical axe violation."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.http import ApiError
from phrchain.genome import bgzf, vcf
from tests.consortium import A1, B1, HOSPITAL_A, Consortium, P, running
from tests.integration.test_web_browser import PHONE, Person, browser  # noqa: F401
from tests.webui import ui_server

STATIC = Path(__file__).parents[2] / "src" / "phrchain" / "web" / "static"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("genome-browser")) as consortium:
        yield consortium


def test_the_patient_sees_the_genome_reads_in_a_browser(
        browser: Any, c: Consortium, tmp_path: Path) -> None:  # noqa: F811
    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(per_chrom=400), sink)
    obj = c.client(A1).genome.seal(io.BytesIO(sink.getvalue()), P.did,
                                   custodian=HOSPITAL_A.did)
    c.flush()
    region = bgzf.Region.parse("chr1:100-300")
    assert c.client(A1).genome.region(HOSPITAL_A.did, obj.id, region)
    with pytest.raises(ApiError):
        c.client(B1).genome.region(HOSPITAL_A.did, obj.id, region)
    with ui_server(c, tmp_path) as ui:
        patient = Person(browser, ui, "patient-p")
        patient.go("patient-genome")
        card = patient.page.locator(".card.genome", has_text=obj.id[:16])
        card.wait_for()
        text = card.inner_text()
        assert "htsget chr1:100-300" in text and "no consent" in text.lower()
        # A1: the ticket and the proven range it points at; B1: the refused ticket
        assert card.locator("tbody tr").count() == 3 and "bytes 0-" in text
        readers = card.locator("p.readers").inner_text()  # each holder apart, not run on
        assert readers.count(", ") == 2 and "hospital A (hospital) did:key:" in readers
        assert card.locator("tbody tr.denied").count() == 1  # the refusal stands out
        patient.axe()
        patient.shot("genome-patient")
        patient.close()

        korean = Person(browser, ui, "patient-p", viewport=PHONE, locale="ko-KR")
        korean.go("patient-genome")
        card = korean.page.locator(".card.genome", has_text=obj.id[:16])
        card.wait_for()
        assert korean.page.locator("html").get_attribute("lang") == "ko"
        ko = json.loads((STATIC / "i18n" / "ko.json").read_text(encoding="utf-8"))
        text = card.inner_text()  # the chain's reasons in the page's language
        assert ko["reason.no_consent"] in text and "no_consent" not in text
        heading = korean.page.locator("#nav button[data-section=patient-genome]").inner_text()
        assert heading.strip() and heading.strip() != "Genome"
        korean.axe()
        korean.shot("genome-patient-phone-ko")
        korean.close()
