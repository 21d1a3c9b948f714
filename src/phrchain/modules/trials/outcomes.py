"""Outcome classification v1: the COMPare labels (Goldacre et al., Trials 2019;20:118) of
every registered and every reported outcome, against the frozen pre-specified baseline.

Pure and deterministic: the chain runs it on ``trials/results`` and stores the labels;
``phrchain trials classify`` runs the same function for journals and reviewers.

Rules (README "Classification"), for a registered outcome ``r`` of the baseline and the
reported outcome ``p`` with the same id:

- no ``p``                                  → ``not_reported``
- ``p`` with another measure, undeclared    → ``not_reported`` and ``added_silent``
  (a different outcome under a reused id)
- else                                      → ``reported``, plus, when the change is not
  declared, ``timeframe_changed`` if the time frames differ and
  ``switched_primary_secondary`` if exactly one of the two is primary
  (a declared change counts as correct: it is reported, with no change label)

A reported id that the baseline does not have → ``added_declared`` or ``added_silent``.
Measures and time frames compare after collapsing runs of whitespace; nothing else is
normalised (no case folding: its tables differ between Unicode versions).

A rule change that must replay the same is ``outcomes_v2.py``, selected by the results'
``rules`` version, never an edit of this file (STYLE "versioned rules").
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

RULES_VERSION: Final = 1
PRIMARY: Final = "primary"
KINDS: Final = ("primary", "secondary", "other")

REPORTED: Final = "reported"
NOT_REPORTED: Final = "not_reported"
ADDED_DECLARED: Final = "added_declared"
ADDED_SILENT: Final = "added_silent"
TIMEFRAME_CHANGED: Final = "timeframe_changed"
SWITCHED: Final = "switched_primary_secondary"
# Labels in this order inside every label list (one spelling per set).
LABELS: Final = (REPORTED, NOT_REPORTED, ADDED_DECLARED, ADDED_SILENT, TIMEFRAME_CHANGED,
                 SWITCHED)
# Labels that show an undeclared discrepancy with the baseline (the outcome-switch report).
DISCREPANCIES: Final = frozenset({NOT_REPORTED, ADDED_SILENT, TIMEFRAME_CHANGED, SWITCHED})


@dataclass(frozen=True, slots=True)
class Outcome:
    """A registered (``declared_change`` False) or reported outcome."""

    id: str
    measure: str
    time_frame: str
    kind: str
    declared_change: bool = False

    @classmethod
    def of(cls, value: Mapping[str, Any]) -> Outcome:
        return cls(str(value["id"]), str(value["measure"]), str(value["time_frame"]),
                   str(value["kind"]), bool(value.get("declared_change", False)))


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()) == " ".join(b.split())


def _ordered(labels: Iterable[str]) -> list[str]:
    found = set(labels)
    return [label for label in LABELS if label in found]


def _registered(r: Outcome, p: Outcome | None) -> list[str]:
    if p is None:
        return [NOT_REPORTED]
    if not p.declared_change and not _same(r.measure, p.measure):
        return [NOT_REPORTED, ADDED_SILENT]
    labels = [REPORTED]
    if not p.declared_change:
        if not _same(r.time_frame, p.time_frame):
            labels.append(TIMEFRAME_CHANGED)
        if (r.kind == PRIMARY) != (p.kind == PRIMARY):
            labels.append(SWITCHED)
    return labels


def classify(registered: Sequence[Outcome], reported: Sequence[Outcome]
             ) -> list[tuple[str, list[str]]]:
    """``(id, labels)`` for every registered outcome (in the baseline's order), then for
    every reported id the baseline does not have (in the report's order). Ids must be
    unique within each list (the message checks see to it on chain; ``ValueError``
    here)."""
    for name, outcomes in (("registered", registered), ("reported", reported)):
        if len({o.id for o in outcomes}) != len(outcomes):
            raise ValueError(f"{name} outcome ids must be unique")
    by_id = {p.id: p for p in reported}
    baseline = {r.id for r in registered}
    out = [(r.id, _ordered(_registered(r, by_id.get(r.id)))) for r in registered]
    out += [(p.id, [ADDED_DECLARED if p.declared_change else ADDED_SILENT])
            for p in reported if p.id not in baseline]
    return out
