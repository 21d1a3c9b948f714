"""A research dataset built from Synthea-style bundles on the in-process chain: only
matching, unrevoked, unexpired donors are in it; none of the source names, identifiers,
addresses or exact dates are; each patient's intervals survive the date shift; the
manifest is accepted on chain; every output resource is valid FHIR R4."""

from __future__ import annotations

import itertools
import json
import re
from datetime import date
from typing import Any

import pytest

from phrchain.core.errors import CodedError
from phrchain.deid import DeidError, default_config, study_pseudonym
from phrchain.deid.config import parse
from phrchain.fhir.synthetic import generate_patients, identifying_strings
from phrchain.fhir.validation import validate
from phrchain.research.vault import HeldRecord, release
from tests.researchflow import PO, ResearchWorld, oid
from tests.world import HOSPITAL_A

KEY = bytes(range(32))
N = 10
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")


def config(**parameters: Any) -> Any:
    raw = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 2, "l": 2,
                              **parameters})
    return parse(raw)


@pytest.fixture(scope="module")
def world() -> dict[str, Any]:
    """Ten donors with one bundle each at hospital A: 0, 1 DS asthma (excluded: disease),
    2 revoked, 3 with a donation that expired before the request; the rest HMB."""
    w = ResearchWorld()
    bundles = generate_patients(N, seed=17, resources_per_patient=20)
    held: list[HeldRecord] = []
    donors = [w.donor(i) for i in range(N)]
    for donor, bundle in zip(donors, bundles, strict=True):
        for entry in bundle["entry"]:
            held.append(HeldRecord(w.record(HOSPITAL_A, donor), entry["resource"]))
    for i, donor in enumerate(donors):
        if i in (0, 1):
            w.donate(donor, {"code": "DS", "disease": "MONDO:0004979"})
        elif i == 3:
            w.ok(donor, {"type": "research/donate", "permission": {"code": "HMB"},
                         "modifiers": [], "scope": {"all": True},
                         "period": {"start_ms": w.now, "end_ms": w.now + 1500}})
        else:
            w.donate(donor)
    w.ok(donors[2], {"type": "research/revoke"})
    w.study(oid("study"))
    request = w.request(oid("request"), oid("study"))
    released = release(lambda path, **data: w.query(path, **data), request["request"], held,
                       config=config(), key=KEY, dataset=oid("dataset"),
                       reference_year=2026, recorded="2026-12-07T10:00:00Z", now_ms=w.now,
                       approver=PO)
    w.ok(HOSPITAL_A, released.manifest.to_msg())
    return {"w": w, "bundles": bundles, "donors": donors, "held": held,
            "released": released, "request": request}


def _outputs(world: dict[str, Any]) -> list[dict[str, Any]]:
    return [json.loads(line) for lines in world["released"].dataset.lines.values()
            for line in lines]


def test_only_matching_unrevoked_unexpired_donors(world: dict[str, Any]) -> None:
    donors, bundles = world["donors"], world["bundles"]
    included = [i for i in range(N) if i not in (0, 1, 2, 3)]
    assert world["released"].donors == tuple(sorted(donors[i].did for i in included))
    expected = {study_pseudonym(KEY, oid("study"), "id",
                                f"Patient/{bundles[i]['entry'][0]['resource']['id']}")
                for i in included}
    assert set(world["released"].dataset.patients) == expected
    reasons = {i: world["w"].query("research/outcome", request=oid("request"),
                                   donor=donors[i].did)["reason"] for i in range(4)}
    assert reasons == {0: "disease", 1: "disease", 2: "revoked", 3: "expired"}
    manifest = world["w"].query("research/dataset", dataset=oid("dataset"))
    assert manifest["leaves"] == sum(1 for h in world["held"] if world["w"].query(
        "records/get", record=h.record)["patient"] in world["released"].donors)
    assert manifest["root"] == world["released"].dataset.root


def test_no_source_identifier_or_exact_date_survives(world: dict[str, Any]) -> None:
    text = "\n".join(line for lines in world["released"].dataset.lines.values()
                     for line in lines)
    for bundle in world["bundles"]:
        for secret in identifying_strings(bundle):
            assert secret not in text
        source_ids = [e["resource"]["id"] for e in bundle["entry"]]
        assert not any(i in text for i in source_ids)
    by_id = {(r["resourceType"], r["id"]): r for r in _outputs(world)}
    for bundle in world["bundles"]:
        for entry in bundle["entry"]:
            src = entry["resource"]
            new_id = study_pseudonym(KEY, oid("study"), "id",
                                     f"{src['resourceType']}/{src['id']}")
            out = by_id.get((src["resourceType"], new_id))
            if out is None:
                continue
            assert not set(DAY.findall(json.dumps(src))) & set(DAY.findall(json.dumps(out)))
    for r in _outputs(world):
        if r["resourceType"] != "Provenance":
            assert r["meta"]["security"][0]["code"] == "PSEUDED"
        assert "name" not in r or r["resourceType"] == "Organization"


def test_intervals_between_a_patients_events_survive(world: dict[str, Any]) -> None:
    by_id = {(r["resourceType"], r["id"]): r for r in _outputs(world)}
    checked = 0
    for bundle in world["bundles"]:
        pairs = []
        for entry in bundle["entry"]:
            src = entry["resource"]
            if src["resourceType"] != "Encounter":
                continue
            out = by_id.get(("Encounter", study_pseudonym(KEY, oid("study"), "id",
                                                          f"Encounter/{src['id']}")))
            if out is not None:
                pairs.append((date.fromisoformat(src["period"]["start"][:10]),
                              date.fromisoformat(out["period"]["start"][:10])))
        for (a_src, a_out), (b_src, b_out) in itertools.pairwise(pairs):
            assert (b_src - a_src) == (b_out - a_out)
            checked += 1
        if pairs:
            assert pairs[0][0] != pairs[0][1]   # the dates did move
    assert checked > 0


def test_references_are_rewritten_consistently(world: dict[str, Any]) -> None:
    outputs = _outputs(world)
    ids = {f"{r['resourceType']}/{r['id']}" for r in outputs}
    refs = re.findall(r'"reference":"([^"]+)"', "\n".join(json.dumps(r, separators=(
        ",", ":")) for r in outputs))
    assert refs and all(ref in ids for ref in refs)


def test_every_output_resource_is_valid_fhir(world: dict[str, Any]) -> None:
    for resource in _outputs(world):
        validate(resource)
    provenance = [r for r in _outputs(world) if r["resourceType"] == "Provenance"]
    assert len(provenance) == 1
    assert len(provenance[0]["target"]) == len(world["released"].dataset.patients)


def test_release_refused_below_threshold(world: dict[str, Any]) -> None:
    w = world["w"]
    with pytest.raises(DeidError) as err:
        release(lambda path, **data: w.query(path, **data), oid("request"), world["held"],
                config=config(k=1000), key=KEY, dataset=oid("dataset 2"),
                reference_year=2026, recorded="2026-12-07T10:00:00Z", now_ms=w.now,
                approver=PO)
    assert (err.value.codespace, err.value.code) == ("deid", 4)


def test_the_studys_thresholds_gate_too(world: dict[str, Any]) -> None:
    w = world["w"]
    w.study(oid("strict study"), k=50, l=2)
    request = w.request(oid("strict request"), oid("strict study"))
    with pytest.raises(DeidError) as err:
        release(lambda path, **data: w.query(path, **data), request["request"],
                world["held"], config=config(), key=KEY, dataset=oid("dataset 3"),
                reference_year=2026, recorded="2026-12-07T10:00:00Z", now_ms=w.now,
                approver=PO)
    assert (err.value.codespace, err.value.code) == ("deid", 4)


def test_descriptors_in_one_query_equal_one_query_per_record(world: dict[str, Any]) -> None:
    """research/records (what the release checks its held records with) answers what
    records/get answers for each id, null for an unknown one, as a list or a string."""
    w = world["w"]
    ids = [h.record for h in world["held"][:7]] + [oid("never registered")]
    one_by_one = {i: w.query("records/get", record=i) for i in ids}
    assert one_by_one[oid("never registered")] is None
    assert w.query("research/records", records=ids)["records"] == one_by_one
    assert w.query("research/records", records=",".join(ids))["records"] == one_by_one
    assert list(w.query("research/records", records=ids[::-1])["records"]) == ids[::-1]


@pytest.mark.parametrize("records", [None, [], "", 7, [oid("a"), oid("a")], ["XYZ"],
                                     f"{oid('a')},", [oid(str(i)) for i in range(1001)]])
def test_descriptors_query_refuses_bad_input(world: dict[str, Any], records: Any) -> None:
    with pytest.raises(CodedError) as err:
        world["w"].chain.app.query("research/records", {"records": records})
    assert (err.value.codespace, err.value.error.name) == ("query", "bad_query")
