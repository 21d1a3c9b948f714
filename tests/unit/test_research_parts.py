"""Dataset continuation (``research/release_part``): one dataset id released in several
parts by the same custodian, each part gated and approved, the leaves of every part
provable, ``parts_root`` the RFC 9162 root over the parts' roots; refusals change
nothing."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.modules.research.messages import DestroyKey, parts_root
from tests.researchflow import PO, ResearchWorld, digest, oid
from tests.unit.test_research import scenario
from tests.world import HOSPITAL_A, HOSPITAL_B


@pytest.fixture
def w() -> ResearchWorld:
    return ResearchWorld()


def part_msg(w: ResearchWorld, dataset: str, part: int, records: list[str], *,
             k: int = 2, signer_config: str | None = None) -> dict[str, Any]:
    return w.part_msg(dataset, part, records, k=k, config=signer_config)


def test_parts_extend_one_dataset(w: ResearchWorld) -> None:
    s = scenario(w)
    request, records = s["request"]["request"], s["records"]
    dataset = oid("parted")
    w.ok(HOSPITAL_A, w.release_msg(dataset, request, records[0]).to_msg())
    first = w.query("research/dataset", dataset=dataset)
    assert "parts_root" not in first            # a one-part dataset is as before
    w.ok(HOSPITAL_A, part_msg(w, dataset, 2, [records[1][0]]))
    manifest = w.query("research/dataset", dataset=dataset)
    assert manifest["leaves"] == 3 and manifest["resources"] == first["resources"] + 7
    assert manifest["part_roots"] == [first["root"], digest(f"resources of {dataset} part 2")]
    assert manifest["parts_root"] == parts_root(manifest["part_roots"])
    assert manifest["parts_root"] != parts_root(manifest["part_roots"][::-1])
    for record in (*records[0], records[1][0]):
        assert w.query("research/leaf", dataset=dataset, record=record) is not None
    assert w.query("research/uses", donor=s["donors"][1].did)["datasets"] == {
        dataset: s["study"]}


def test_part_refusals_change_nothing(w: ResearchWorld) -> None:
    s = scenario(w)
    request, records = s["request"]["request"], s["records"]
    dataset = oid("parted")
    assert w.fails(HOSPITAL_A, {"type": "research/release_part"}) == ("research", 2)
    w.ok(HOSPITAL_A, w.release_msg(dataset, request, [records[0][0]]).to_msg())
    before = w.query("research/dataset", dataset=dataset)
    cases = [
        (HOSPITAL_A, part_msg(w, dataset, 3, [records[0][1]]), ("research", 2)),  # gap
        (HOSPITAL_B, part_msg(w, dataset, 2, [records[0][1]]), ("research", 1)),
        (HOSPITAL_A, part_msg(w, dataset, 2, [records[0][0]]), ("research", 13)),  # twice
        (HOSPITAL_A, part_msg(w, dataset, 2, [records[2][0]]), ("research", 13)),  # excl.
        (HOSPITAL_A, part_msg(w, dataset, 2, [records[0][1]], k=1), ("research", 15)),
        (HOSPITAL_A, part_msg(w, dataset, 2, [records[0][1]], signer_config=digest("x")),
         ("research", 9)),
        (HOSPITAL_A, {**part_msg(w, dataset, 2, [records[0][1]]), "dataset": oid("nope")},
         ("research", 17)),
    ]
    for signer, msg, code in cases:
        assert w.fails(signer, msg) == code, code
    assert w.query("research/dataset", dataset=dataset) == before
    w.ok(HOSPITAL_A, DestroyKey(dataset).to_msg())
    assert w.fails(HOSPITAL_A, part_msg(w, dataset, 2, [records[0][1]])) == ("research", 18)


def test_the_vault_releases_a_dataset_in_parts(w: ResearchWorld) -> None:
    """The vault library: part 1 from some donors, part 2 from the rest (records already
    released are left out), one key: the Patient pseudonyms of part 2 are the ones the
    same key gives, and every leaf of both parts is in the dataset."""
    import json

    from phrchain.deid import default_config, study_pseudonym
    from phrchain.deid.config import parse
    from phrchain.fhir.synthetic import generate_patients
    from phrchain.research.vault import HeldRecord, release

    raw = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update({"quasiIdentifiers": ["Patient.active"], "k": 2, "l": 1})
    config, key = parse(raw), bytes(range(32))
    donors = [w.donor(i) for i in range(6)]
    held = [[HeldRecord(w.record(HOSPITAL_A, d), e["resource"]) for e in b["entry"]]
            for d, b in zip(donors, generate_patients(6, seed=17, resources_per_patient=20),
                            strict=True)]
    for d in donors:
        w.donate(d)
    w.study(oid("parts study"))
    request = w.request(oid("parts request"), oid("parts study"))["request"]

    def query(path: str, **data: Any) -> Any:
        return w.query(path, **data)

    dataset = oid("parts dataset")
    common = dict(config=config, key=key, dataset=dataset, reference_year=2026,
                  recorded="2026-12-07T10:00:00Z", approver=PO)
    one = release(query, request, [h for hs in held[:3] for h in hs], now_ms=w.now,
                  **common)
    w.ok(HOSPITAL_A, one.manifest.to_msg())
    two = release(query, request, [h for hs in held for h in hs], now_ms=w.now, part=2,
                  **common)
    assert set(two.donors) == {d.did for d in donors[3:]}     # part 1's records left out
    w.ok(HOSPITAL_A, two.manifest.to_msg())
    manifest = w.query("research/dataset", dataset=dataset)
    assert manifest["leaves"] == sum(len(hs) for hs in held)
    assert manifest["parts_root"] == parts_root([one.dataset.root, two.dataset.root])
    patients = [json.loads(x)["id"] for x in two.dataset.lines["Patient"]]
    sources = [hs[0].resource["id"] for hs in held[3:]]
    assert sorted(patients) == sorted(study_pseudonym(key, oid("parts study"), "id",
                                                      f"Patient/{s}") for s in sources)
