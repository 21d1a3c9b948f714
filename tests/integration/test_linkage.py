"""Issue 14's linkage test: an insurer that runs a validator, given every chain byte and
its own enrolment data, links to each enrollee no record at an institution the enrollee
never named in a claim to it, and learns no resource type, category or author of any
record the claims did not name (``tests/linkage_scenario.py``, ``docs/privacy.md``).

The same linker told every pseudonym of each enrollee (one DID per person across
institutions, the design before issue 14) attributes every record: the control that the
linker is not blind on this chain. Figures are printed for the closing note; the bench
(``bench/linkage.py``) runs the larger population.
"""

from __future__ import annotations

from pathlib import Path

from tests.linkage_scenario import measure


def test_an_insurer_links_nothing_its_enrollees_did_not_name(tmp_path: Path) -> None:
    m = measure(tmp_path / "home", patients=6, resources=6, named=2, seed=11)
    f = m.figures
    print(f"linkage: {f} control={m.control}")
    assert f["enrollees"] == 3 and f["named"] == 6
    # the linker works: the named records are attributed to the right enrollee
    assert f["linked"] >= f["named"] > 0
    assert f["linked_wrong_patient"] == 0 and f["merged_components"] == 0
    # nothing at an institution the enrollee never named (hospital B)
    assert f["linked_at_unnamed_institution"] == 0
    assert f["linked_at_b"] == 0
    # nothing about a record the claims did not name: no type, category or practitioner
    assert f["not_named_with_type"] == 0
    assert f["not_named_with_category"] == 0
    assert f["not_named_author_learned"] == 0
    # a practitioner seen with an unnamed record is one the patient chose (a push's
    # recipient, a pull's requester), never its author: at most the one pushed and the
    # one pulled record of the scenario
    assert f["not_named_with_author"] <= 2
    assert f["not_named_with_second_practitioner"] == 0
    # the records module's chain bytes hold no type, category or practitioner at all
    assert m.record_documents_with_words == 0
    assert m.record_documents_with_practitioner == 0
    # control: knowing every pseudonym, the same linker attributes every record
    assert m.control["enrollee_records"] > f["named"]
    assert m.control["linked"] == m.control["enrollee_records"]
