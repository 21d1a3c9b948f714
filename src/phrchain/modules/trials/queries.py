"""Trials queries: parameters, trials, versions, participants (by pseudonym), entries,
results and labels (single-key answers are provable), and the regulator's trail."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.paging import number, object_id, page, paging, text
from phrchain.modules.trials import keeper, keys
from phrchain.modules.trials.messages import COMMIT_KINDS
from phrchain.modules.trials.outcomes import DISCREPANCIES


def params(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A parameters version (the current one without ``version``)."""
    if "version" in data:
        version = number(data, "version")
    else:
        current = keeper.current_params(state)
        version = 0 if current is None else current["version"]
    return QueryResult(keeper.get_params(state, version), keys.params_key(version))


def trial(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    trial_id = object_id(data, "trial")
    return QueryResult(keeper.get_trial(state, trial_id), keys.trial_key(trial_id))


def version(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    trial_id, n = object_id(data, "trial"), number(data, "version")
    return QueryResult(keeper.get_version(state, trial_id, n), keys.version_key(trial_id, n))


def of_sponsor(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    sponsor = text(data, "sponsor")
    ids, after = page(paging(data), lambda a: keeper.trials_of(state, sponsor, a))
    return QueryResult({"sponsor": sponsor, "trials": ids, "next": after})


def every(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Every registered trial id (the registry's list)."""
    ids, after = page(paging(data), lambda a: keeper.all_trials(state, a))
    return QueryResult({"trials": ids, "next": after})


def commitments(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    trial_id, kind = object_id(data, "trial"), text(data, "kind")
    if kind not in COMMIT_KINDS:
        raise BAD_QUERY(f"'kind' must be one of {sorted(COMMIT_KINDS)}")
    return QueryResult({"trial": trial_id, "kind": kind,
                        "commitments": keeper.commitments(state, trial_id, kind)})


def participant(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A participant by its trial pseudonym (nothing else names it)."""
    trial_id, pseudonym = object_id(data, "trial"), text(data, "participant")
    return QueryResult(keeper.get_participant(state, trial_id, pseudonym),
                       keys.participant_key(trial_id, pseudonym))


def participants(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    trial_id = object_id(data, "trial")
    ids, after = page(paging(data), lambda a: keeper.participants(state, trial_id, a))
    return QueryResult({"trial": trial_id, "participants": ids, "next": after})


def entry(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    trial_id, entry_id = object_id(data, "trial"), object_id(data, "entry")
    return QueryResult(keeper.get_entry(state, trial_id, entry_id),
                       keys.entry_key(trial_id, entry_id))


def entries(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Entry ids of a trial, or of one participant (then ``excluded`` says whether the
    participant withdrew under a protocol that excludes its collected data)."""
    trial_id, pg = object_id(data, "trial"), paging(data)
    if "participant" not in data:
        ids, after = page(pg, lambda a: keeper.entries(state, trial_id, a))
        return QueryResult({"trial": trial_id, "entries": ids, "next": after})
    pseudonym = text(data, "participant")
    found = keeper.get_participant(state, trial_id, pseudonym)
    ids, after = page(pg, lambda a: keeper.entries_of(state, trial_id, pseudonym, a))
    return QueryResult({"trial": trial_id, "participant": pseudonym, "entries": ids,
                        "excluded": found is not None and found["withdrawal"] == "exclude",
                        "next": after})


def history(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """An entry with its signatures and the entries that correct it."""
    trial_id, entry_id = object_id(data, "trial"), object_id(data, "entry")
    return QueryResult({"entry": keeper.get_entry(state, trial_id, entry_id),
                        "signatures": keeper.signatures(state, trial_id, entry_id),
                        "corrected_by": keeper.corrections_of(state, trial_id, entry_id)})


def results(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    trial_id = object_id(data, "trial")
    return QueryResult(keeper.get_results(state, trial_id), keys.results_key(trial_id))


def labels(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One outcome's labels (provable)."""
    trial_id, outcome = object_id(data, "trial"), text(data, "outcome")
    return QueryResult(keeper.get_labels(state, trial_id, outcome),
                       keys.label_key(trial_id, outcome))


def report(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """The outcome-switch report: every outcome's labels and those with an undeclared
    discrepancy against the frozen baseline."""
    trial_id = object_id(data, "trial")
    found = keeper.get_trial(state, trial_id)
    every = keeper.labels(state, trial_id)
    return QueryResult({
        "trial": trial_id, "baseline": None if found is None else found["baseline"],
        "labels": every,
        "discrepancies": sorted(o for o, ls in every.items() if DISCREPANCIES & set(ls))})


def trail(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """The regulator's trail: the state keys of a trial, in key order (each is provable by
    the ``key`` query of the SDK's audit export)."""
    trial_id, pg = object_id(data, "trial"), paging(data)
    limit, after = pg
    out: list[str] = []
    for name in sorted(k.decode() for k, _ in keeper.trail(state, trial_id)):
        if after is not None and name <= after:
            continue
        if len(out) == limit:
            return QueryResult({"trial": trial_id, "keys": out, "next": out[-1]})
        out.append(name)
    return QueryResult({"trial": trial_id, "keys": out, "next": None})


def key(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One ``trials/`` state entry by its key (provable): what the audit export proves."""
    name = data.get("key")
    if not isinstance(name, str) or not name.startswith("trials/") or len(name) > 512:
        raise BAD_QUERY("'key' must be a trials/ state key")
    raw = state.get(name.encode())
    return QueryResult(None if raw is None else encoding.decode(raw), name.encode())


QUERIES: Final[Mapping[str, Query]] = {
    "params": params, "trial": trial, "version": version, "all": every,
    "of_sponsor": of_sponsor,
    "commitments": commitments, "participant": participant, "participants": participants,
    "entry": entry, "entries": entries, "history": history, "results": results,
    "labels": labels, "report": report, "trail": trail, "key": key,
}
