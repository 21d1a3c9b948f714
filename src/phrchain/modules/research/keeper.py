"""The only code that reads or writes the ``research/`` key prefix.

State layout (values canonical JSON; ``<v>`` is 6 zero-padded digits)::

    research/params/<v>                  parameters version v, with the pinned DUO and
                                         disease tables (never rewritten)
    research/pcur                        current parameters version (integer)
    research/d/<donor>                   the donor pseudonym's current donation
    research/dv/<donor>/<v>              donation version v (rewritten once: revoked)
    research/s/<study>                   study
    research/q/<request>                 data request (with its matching cursor)
    research/o/<request>/<donor>         per-donor outcome of a request
    research/ds/<dataset>                dataset manifest
    research/l/<dataset>/<record>        leaf: the record's commitment, donation version
    research/u/<donor>/<dataset>         study id: datasets that used a donor's data
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes
from phrchain.modules.research import keys
from phrchain.modules.table import json_get, json_put


class Params(TypedDict):
    version: int
    match_batch: int
    max_leaves: int
    min_k: int
    min_l: int
    terms: dict[str, Any]
    diseases: dict[str, Any]
    height: int


class Donation(TypedDict):
    donor: str
    version: int
    params: int                      # the parameters version (DUO release) it is pinned to
    permission: dict[str, Any]
    modifiers: list[dict[str, Any]]
    scope: dict[str, Any]
    period: dict[str, int]
    status: str                      # active | revoked
    height: int
    time_ms: int
    revoked_height: int | None


class Study(TypedDict):
    study: str
    institute: str
    registered_by: str
    purpose: dict[str, Any]
    for_profit: bool
    commercial: bool
    country: str
    genetic: bool
    publish: bool
    returns: bool
    methods: bool
    clinical_care: bool
    publication_ms: int
    duration_months: int
    collaborators: list[str]
    users: list[str]
    protocol: str
    k: int
    l: int  # noqa: E741  (the l of l-diversity)
    irb: dict[str, Any] | None
    height: int
    time_ms: int


class Request(TypedDict):
    request: str
    study: str
    by: str
    height: int
    time_ms: int                     # the time every donor is matched as of
    cursor: str | None               # last donor matched
    done: bool
    matched_height: int | None
    included: int
    excluded: int


class Outcome(TypedDict):
    outcome: str                     # included | excluded
    reason: str | None
    donation: int                    # the donation version matched


class Dataset(TypedDict):
    dataset: str
    study: str
    request: str
    custodian: str
    root: str
    resources: int
    leaves: int
    leaves_root: str
    config: str
    k: int
    l: int  # noqa: E741  (the l of l-diversity)
    key: str
    approver: str
    approval: str
    height: int
    time_ms: int
    key_destroyed_height: int | None
    key_destroyed_ms: int | None


class Leaf(TypedDict):
    commitment: str
    donation: int


def current_params(state: Reader) -> Params | None:
    version = json_get(state, keys.PARAMS_CURRENT)
    return None if version is None else get_params(state, int(version))


def get_params(state: Reader, version: int) -> Params | None:
    found: Params | None = json_get(state, keys.params_key(version))
    return found


def put_params(state: Overlay, params: Params) -> None:
    json_put(state, keys.params_key(params["version"]), params)
    json_put(state, keys.PARAMS_CURRENT, params["version"])


def get_donation(state: Reader, donor: str) -> Donation | None:
    found: Donation | None = json_get(state, keys.donation_key(donor))
    return found


def get_donation_version(state: Reader, donor: str, version: int) -> Donation | None:
    found: Donation | None = json_get(state, keys.donation_version_key(donor, version))
    return found


def put_donation(state: Overlay, donation: Donation) -> None:
    json_put(state, keys.donation_key(donation["donor"]), donation)
    json_put(state, keys.donation_version_key(donation["donor"], donation["version"]),
             donation)


def donors(state: Reader, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.DONATION, after)


def get_study(state: Reader, study: str) -> Study | None:
    found: Study | None = json_get(state, keys.study_key(study))
    return found


def put_study(state: Overlay, study: Study) -> None:
    json_put(state, keys.study_key(study["study"]), study)


def get_request(state: Reader, request: str) -> Request | None:
    found: Request | None = json_get(state, keys.request_key(request))
    return found


def put_request(state: Overlay, request: Request) -> None:
    json_put(state, keys.request_key(request["request"]), request)


def get_outcome(state: Reader, request: str, donor: str) -> Outcome | None:
    found: Outcome | None = json_get(state, keys.outcome_key(request, donor))
    return found


def put_outcome(state: Overlay, request: str, donor: str, outcome: Outcome) -> None:
    json_put(state, keys.outcome_key(request, donor), outcome)


def outcomes(state: Reader, request: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.prefix(keys.OUTCOME, request), after)


def get_dataset(state: Reader, dataset: str) -> Dataset | None:
    found: Dataset | None = json_get(state, keys.dataset_key(dataset))
    return found


def put_dataset(state: Overlay, dataset: Dataset) -> None:
    json_put(state, keys.dataset_key(dataset["dataset"]), dataset)


def get_leaf(state: Reader, dataset: str, record: str) -> Leaf | None:
    found: Leaf | None = json_get(state, keys.leaf_key(dataset, record))
    return found


def put_leaf(state: Overlay, dataset: str, record: str, leaf: Leaf) -> None:
    json_put(state, keys.leaf_key(dataset, record), leaf)


def leaves(state: Reader, dataset: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.prefix(keys.LEAF, dataset), after)


def note_use(state: Overlay, donor: str, dataset: str, study: str) -> None:
    json_put(state, keys.use_key(donor, dataset), study)


def uses(state: Reader, donor: str) -> dict[str, str]:
    """``{dataset: study}`` of every dataset that holds the donor's data."""
    base = keys.prefix(keys.USE, donor)
    return {key[len(base):].decode(): str(json_get(state, key))
            for key, _ in state.iterate(base)}
