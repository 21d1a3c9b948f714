"""De-identification rules and release gates: k-anonymity and l-diversity agree with
pyCANON (the oracle, test extra), the gates refuse below their thresholds, the residual
scan finds source identifiers and RRN / phone / e-mail patterns, keyed pseudonyms are
not plain hashes, and the Safe Harbor + Korean rules do what they say."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pycanon import anonymity

from phrchain.deid import DeidError, default_config, deidentify, gates, groups_from_bundles
from phrchain.deid.config import parse
from phrchain.deid.export import Group
from phrchain.deid.pseudonyms import MAX_SHIFT_DAYS, date_offset_days, study_pseudonym
from phrchain.fhir.synthetic import generate_patients

KEY = bytes(range(32))
RRN_SYSTEM = "urn:oid:1.2.410.200.2.1.1"   # illustrative system uris: values are what count
NHI_SYSTEM = "urn:oid:1.2.410.200.2.1.2"


def pycanon_k_l(table: list[tuple[tuple[str, ...], str]]) -> tuple[int, int]:
    quasi = [f"q{i}" for i in range(len(table[0][0]))]
    frame = pd.DataFrame([dict(zip(quasi, q, strict=True), s=s) for q, s in table])
    return (int(anonymity.k_anonymity(frame, quasi)),
            int(anonymity.l_diversity(frame, quasi, ["s"])))


@settings(max_examples=30, deadline=None)
@given(st.lists(st.tuples(st.tuples(st.sampled_from("ab"), st.sampled_from("xyz")),
                          st.sampled_from(["c1", "c2", "c3", "c4"])), min_size=1, max_size=40))
def test_k_and_l_agree_with_pycanon_on_random_tables(
        table: list[tuple[tuple[str, str], str]]) -> None:
    assert gates.k_and_l(table) == pycanon_k_l(table)


def synthetic(n: int = 16, **parameters: Any) -> Any:
    raw = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update(parameters)
    return deidentify(groups_from_bundles(generate_patients(n, seed=5, resources_per_patient=16)),
                      parse(raw), KEY, study="s", dataset="d", reference_year=2026,
                      recorded="2026-12-07T00:00:00Z")


@pytest.mark.parametrize("quasi", [["Patient.gender"], ["Patient.gender", "Patient.address.state"],
                                   ["Patient.birthDate", "Patient.gender",
                                    "Patient.address.postalCode"]])
def test_dataset_k_and_l_agree_with_pycanon(quasi: list[str]) -> None:
    ds = synthetic(quasiIdentifiers=quasi, k=1, l=1)
    outputs = [[json.loads(x) for x in ds.lines["Patient"]],
               [json.loads(x) for x in ds.lines["Condition"]]]
    by_patient: dict[str, list[dict[str, Any]]] = {}
    for p in outputs[0]:
        by_patient[p["id"]] = [p]
    for c in outputs[1]:
        by_patient[c["subject"]["reference"].split("/")[1]].append(c)
    table = gates.rows(list(by_patient.values()), quasi, "Condition.code")
    assert (ds.report["k"]["reached"], ds.report["l"]["reached"]) == pycanon_k_l(table)
    assert ds.refusal is None


def test_gates_refuse_below_threshold() -> None:
    ds = synthetic(quasiIdentifiers=["Patient.gender"], k=1, l=1)
    k, l_reached = ds.report["k"]["reached"], ds.report["l"]["reached"]
    below_k = synthetic(quasiIdentifiers=["Patient.gender"], k=k + 1, l=1)
    assert below_k.refusal is not None and below_k.refusal.code == 4
    with pytest.raises(DeidError):
        below_k.check()
    below_l = synthetic(quasiIdentifiers=["Patient.gender"], k=1, l=l_reached + 1)
    assert below_l.refusal is not None and below_l.refusal.code == 5
    assert below_l.report["refused"]["name"] == "below_l"


@pytest.mark.parametrize(("planted", "kind"), [
    ("Aurelia123 Kessler456", "source"), ("901231-1234567", "rrn"), ("9012311234567", "rrn"),
    ("010-1234-5678", "phone"), ("+82 2-123-4567", "phone"), ("kim@example.org", "email")])
def test_residual_scan_finds_planted_identifiers(planted: str, kind: str) -> None:
    source = {"Aurelia123 Kessler456", "Aurelia123"}
    found = gates.scan([[json.dumps({"note": f"text {planted} text"})]], [source])
    assert found.get(kind, 0) >= 1
    with pytest.raises(DeidError) as err:
        gates.require(5, 5, 1, 1, found)
    assert err.value.code == 6


PHONE_ALPHABET = "0123456789--  ()+aZ\n\"\u0661\u0662"     # (Arabic-Indic digits are \d too)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(PHONE_ALPHABET, max_size=30),
                          st.sampled_from(["010-1234-5678", "+82 2-123-4567", "(02) 123-4567",
                                           "1 (800) 555-0100", "v2-0074", "-1234-5678-"])),
                max_size=12))
def test_phone_count_finds_what_findall_finds(parts: list[str]) -> None:
    """The tail-hinted count is findall's count, on texts dense in near-misses."""
    text = "".join(parts)
    phone = gates.PATTERNS["phone"]
    assert gates.count(phone, gates._PHONE_TAIL, gates.PHONE_REACH, text) == len(
        phone.findall(text))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text("0123456789--  aZ\n\"{}[],:\t\u0661\u0662", max_size=30),
                          st.sampled_from(["901231-1234567", "9012311234567", "x9012311234567",
                                           "901231-12345678", "\"901231-1234567\""])),
                max_size=12))
def test_rrn_count_is_findalls_count(parts: list[str]) -> None:
    """The scan's RRN count (a search over the distinct words first) is findall's."""
    text = "".join(parts)
    rrn = gates.PATTERNS["rrn"]
    assert gates.scan([[text]], [set()]).get("rrn", 0) == len(rrn.findall(text))


def test_residual_scan_finds_one_patients_name_in_anothers_output() -> None:
    found = gates.scan([[json.dumps({"id": "x"})], [json.dumps({"note": "Kessler456"})]],
                       [{"Kessler456"}, {"Aurelia123"}])
    assert found == {"source_token": 1}


def test_residual_scan_of_a_clean_dataset_is_empty() -> None:
    assert synthetic(quasiIdentifiers=["Patient.gender"], k=1, l=1).report[
        "residual_findings"] == {}


def patient(**extra: Any) -> dict[str, Any]:
    return {"resourceType": "Patient", "id": "p1", "gender": "female",
            "birthDate": "1930-05-17",
            "identifier": [{"system": RRN_SYSTEM, "value": "300517-2345678"},
                           {"system": NHI_SYSTEM, "value": "12345678901"}],
            "name": [{"family": "김", "given": ["서연"], "text": "김서연"}],
            "address": [{"line": ["세종대로 110"], "city": "서울", "postalCode": "03154",
                         "state": "Seoul", "country": "KR"}], **extra}


def run(*resources: dict[str, Any], **parameters: Any) -> list[dict[str, Any]]:
    raw = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update({"k": 1, "l": 1, **parameters})
    ds = deidentify([Group(tuple(resources))], parse(raw), KEY, study="s", dataset="d",
                    reference_year=2026, recorded="2026-12-07T00:00:00Z")
    return [json.loads(x) for lines in ds.lines.values() for x in lines]


def test_korean_identifiers_names_and_addresses_go() -> None:
    out = next(r for r in run(patient()) if r["resourceType"] == "Patient")
    text = json.dumps(out, ensure_ascii=False)
    for secret in ("300517-2345678", "12345678901", "김서연", "서연", "세종대로", "서울",
                   "03154", "1930-05-17"):
        assert secret not in text
    assert out["address"] == [{"country": "KR", "postalCode": "031", "state": "Seoul"}]
    assert out["birthDate"] == "1936"          # 96 years old in 2026: grouped as 90+
    assert out["meta"]["security"][0]["code"] == "PSEUDED"


def test_restricted_zip3_and_ages_under_90() -> None:
    young = patient(birthDate="1980-01-02",
                    address=[{"postalCode": "03601", "country": "US"}])
    out = next(r for r in run(young) if r["resourceType"] == "Patient")
    assert out["address"][0]["postalCode"] == "000" and out["birthDate"] == "1980"


def test_keyed_pseudonyms_are_not_plain_hashes() -> None:
    one = study_pseudonym(KEY, "s", "id", "Patient/p1")
    assert one == study_pseudonym(KEY, "s", "id", "Patient/p1")
    assert one != study_pseudonym(bytes(32), "s", "id", "Patient/p1")
    assert one != study_pseudonym(KEY, "other study", "id", "Patient/p1")
    assert one not in hashlib.sha256(b"Patient/p1").hexdigest()
    offsets = {date_offset_days(KEY, "s", "d", f"p{i}") for i in range(300)}
    assert 0 not in offsets and offsets <= set(range(-MAX_SHIFT_DAYS, MAX_SHIFT_DAYS + 1))
    assert len(offsets) > 50


@pytest.mark.parametrize(("raw", "code"), [
    ({"version": "x", "fhirPathRules": [{"path": "Patient", "method": "redact"}],
      "parameters": {}}, 1),
    ({"version": "x", "fhirPathRules": [{"path": "nodesByType('Quantity')", "method": "keep"}],
      "parameters": {}}, 1),
    ({"version": "x", "fhirPathRules": [], "parameters": {"quasiIdentifiers": [], "k": 1}}, 1),
])
def test_bad_configs_are_refused(raw: dict[str, Any], code: int) -> None:
    with pytest.raises(DeidError) as err:
        parse(raw)
    assert (err.value.codespace, err.value.code) == ("deid", code)


def test_bad_inputs_are_refused() -> None:
    with pytest.raises(DeidError) as err:
        run({"resourceType": "Observation", "id": "o"})
    assert err.value.code == 7
    with pytest.raises(DeidError) as err:
        groups_from_bundles([{"resourceType": "Patient"}])
    assert err.value.code == 2
    with pytest.raises(DeidError) as err:
        deidentify([], default_config(), b"short", study="s", dataset="d",
                   reference_year=2026, recorded="2026-12-07T00:00:00Z")
    assert err.value.code == 3


def test_a_configurations_transformer_is_shared_and_changes_no_output() -> None:
    """Datasets under one configuration share its learnt rule decisions (compiled once);
    a warm transformer writes the same bytes as a fresh one, and the same changes."""
    from phrchain.deid import transform
    raw = json.loads(json.dumps(default_config().raw))
    assert transform.compiled(parse(raw)) is transform.compiled(default_config())
    raw["fhirPathRules"] = raw["fhirPathRules"][:-1]          # no dateShift
    assert transform.compiled(parse(raw)) is not transform.compiled(default_config())
    transform._COMPILED.clear()
    fresh = synthetic(quasiIdentifiers=["Patient.gender"], k=1, l=1)
    (used,) = transform._COMPILED.values()
    learnt = used.paths
    warm = synthetic(quasiIdentifiers=["Patient.gender"], k=1, l=1)
    assert transform._COMPILED == {used.config.digest: used} and used.paths == learnt > 0
    assert warm.lines == fresh.lines and warm.report == fresh.report
