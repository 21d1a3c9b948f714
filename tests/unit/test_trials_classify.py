"""Outcome classification v1 (``modules/trials/outcomes.py``): every COMPare label at its
boundary, against a deliberately naive reference written from the README's table."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrchain.modules.trials.outcomes import LABELS, Outcome, classify

R = (Outcome("a", "Death", "12 months", "primary"),
     Outcome("b", "Pain", "6 weeks", "secondary"),
     Outcome("c", "Cost", "1 year", "other"))


def one(reported: list[Outcome], oid: str) -> list[str]:
    return dict(classify(R, reported))[oid]


def test_reported_as_registered() -> None:
    assert classify(R, list(R)) == [("a", ["reported"]), ("b", ["reported"]),
                                    ("c", ["reported"])]


def test_not_reported() -> None:
    assert one([R[1], R[2]], "a") == ["not_reported"]


@pytest.mark.parametrize(("declared", "labels"), [(False, ["added_silent"]),
                                                  (True, ["added_declared"])])
def test_added_outcomes(declared: bool, labels: list[str]) -> None:
    new = Outcome("z", "Falls", "1 year", "secondary", declared)
    assert classify(R, [*R, new])[-1] == ("z", labels)


def test_timeframe_change_undeclared_and_declared() -> None:
    assert one([Outcome("a", "Death", "24 months", "primary")], "a") == \
        ["reported", "timeframe_changed"]
    assert one([Outcome("a", "Death", "24 months", "primary", True)], "a") == ["reported"]
    # whitespace is not a change; case is
    assert one([Outcome("a", " Death ", "12   months", "primary")], "a") == ["reported"]
    assert one([Outcome("a", "Death", "12 Months", "primary")], "a") == \
        ["reported", "timeframe_changed"]


@pytest.mark.parametrize(("registered", "reported", "switched"), [
    ("a", "secondary", True), ("a", "other", True), ("b", "primary", True),
    ("b", "other", False), ("c", "secondary", False), ("c", "primary", True)])
def test_switched_primary_secondary(registered: str, reported: str, switched: bool) -> None:
    r = next(o for o in R if o.id == registered)
    got = one([Outcome(r.id, r.measure, r.time_frame, reported)], registered)
    assert got == (["reported", "switched_primary_secondary"] if switched else ["reported"])
    declared = Outcome(r.id, r.measure, r.time_frame, reported, True)
    assert one([declared], registered) == ["reported"]


def test_a_reused_id_for_another_measure() -> None:
    assert one([Outcome("a", "Stroke", "12 months", "primary")], "a") == \
        ["not_reported", "added_silent"]
    assert one([Outcome("a", "Stroke", "12 months", "primary", True)], "a") == ["reported"]


def test_every_change_at_once() -> None:
    assert one([Outcome("a", "Death", "2 years", "secondary")], "a") == \
        ["reported", "timeframe_changed", "switched_primary_secondary"]


def test_duplicate_ids_are_refused() -> None:
    with pytest.raises(ValueError):
        classify(R, [R[0], R[0]])


# -- the naive reference ------------------------------------------------------------------
def reference(registered: list[Outcome], reported: list[Outcome]) -> dict[str, set[str]]:
    def norm(s: str) -> str:
        return " ".join(s.split())

    out: dict[str, set[str]] = {}
    for r in registered:
        match = [p for p in reported if p.id == r.id]
        if not match:
            out[r.id] = {"not_reported"}
            continue
        p = match[0]
        if p.declared_change:
            out[r.id] = {"reported"}
        elif norm(p.measure) != norm(r.measure):
            out[r.id] = {"not_reported", "added_silent"}
        else:
            out[r.id] = {"reported"}
            if norm(p.time_frame) != norm(r.time_frame):
                out[r.id].add("timeframe_changed")
            if (p.kind == "primary") != (r.kind == "primary"):
                out[r.id].add("switched_primary_secondary")
    for p in reported:
        if all(r.id != p.id for r in registered):
            out[p.id] = {"added_declared" if p.declared_change else "added_silent"}
    return out


_outcomes = st.builds(Outcome, st.sampled_from("abcdef"), st.sampled_from(["X", "Y", " X"]),
                      st.sampled_from(["1 y", "2 y", "1  y"]),
                      st.sampled_from(["primary", "secondary", "other"]), st.booleans())


@settings(max_examples=300, deadline=None)
@given(st.lists(_outcomes, max_size=6, unique_by=lambda o: o.id),
       st.lists(_outcomes, max_size=6, unique_by=lambda o: o.id))
def test_classify_agrees_with_the_naive_reference(registered: list[Outcome],
                                                  reported: list[Outcome]) -> None:
    registered = [Outcome(o.id, o.measure, o.time_frame, o.kind) for o in registered]
    got = classify(registered, reported)
    assert {oid: set(ls) for oid, ls in got} == reference(registered, reported)
    for _, ls in got:
        assert ls == [label for label in LABELS if label in ls]   # canonical order
    assert [oid for oid, _ in got][:len(registered)] == [o.id for o in registered]
