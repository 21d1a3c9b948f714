"""The patient's Genome page over HTTP, on a running consortium: a practitioner seals a
bgzipped VCF for patient P; the page lists it with who holds a key and who read which
region, permitted or refused (the vault's read log); the page's words exist in Korean
and English."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.client.http import ApiError
from phrchain.genome import bgzf, vcf
from tests.consortium import A1, B1, HOSPITAL_A, Consortium, P, running
from tests.webui import Browser, ui_server

STATIC = Path(__file__).parents[2] / "src" / "phrchain" / "web" / "static"


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("web-genome")) as consortium:
        yield consortium


def test_the_patient_sees_who_read_which_region(c: Consortium,
                                                tmp_path_factory: pytest.TempPathFactory
                                                ) -> None:
    sink = io.BytesIO()
    vcf.write_bgzf(vcf.synthetic(per_chrom=500), sink)
    obj = c.client(A1).genome.seal(io.BytesIO(sink.getvalue()), P.did,
                                   custodian=HOSPITAL_A.did)
    c.flush()
    region = bgzf.Region.parse("chr1:100-300")
    assert len(c.client(A1).genome.region(HOSPITAL_A.did, obj.id, region)) == 20  # 101..291
    with pytest.raises(ApiError):
        c.client(B1).genome.region(HOSPITAL_A.did, obj.id, region)
    with ui_server(c, tmp_path_factory.mktemp("web-genome-ui")) as base:
        p = Browser(base)
        try:
            assert p.login("patient-p").is_success
            page = p.ok("GET", "api/patient/genome")
            records = p.call("GET", "api/patient/records")
        finally:
            p.http.close()
    (mine,) = [o for o in page["objects"] if o["id"] == obj.id]
    assert mine["record"] == obj.record and mine["custodian"]["did"] == HOSPITAL_A.did
    assert {r["did"] for r in mine["readers"]} == {P.did, A1.did, HOSPITAL_A.did}
    reads = [(r["reader"]["did"], r["what"], r["decision"]) for r in mine["reads"]]
    assert (A1.did, "htsget chr1:100-300", "permit:author") in reads
    assert (B1.did, "htsget chr1:100-300", "deny:no_consent") in reads
    assert all(r["at_ms"] > 0 for r in mine["reads"])
    # the patient's records page still works; the object is listed as a record whose
    # reading goes through DRS/htsget (decided and audited like any other first)
    assert records.status_code == 200, records.text
    (listed,) = [r for r in records.json()["records"] if r["record"] == obj.record]
    assert "c4gh/22 genomic_object" in listed["problem"] and obj.id in listed["problem"]


def test_the_pages_words_are_in_both_catalogues() -> None:
    en = json.loads((STATIC / "i18n" / "en.json").read_text(encoding="utf-8"))
    ko = json.loads((STATIC / "i18n" / "ko.json").read_text(encoding="utf-8"))
    script = (STATIC / "genome.js").read_text(encoding="utf-8")
    keys = {k for k in en if k.startswith("genome.")} | {"nav.genome"}
    assert keys <= set(ko) and all(ko[k] != en[k] for k in keys)
    for key in keys - {"nav.genome"}:
        assert f'"{key}"' in script, key
