"""Research queries: parameters, donations, studies, requests, per-donor outcomes,
datasets and leaves (single-key answers are provable: a leaf's membership proves a
donor's record is in a dataset, its non-membership that it is not), and the datasets
that used a donor's data."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.fields import is_id
from phrchain.modules.paging import MAX_LIMIT, number, object_id, page, paging, text
from phrchain.modules.records import get_record
from phrchain.modules.research import keeper, keys


def params(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A parameters version with its pinned tables (the current one without
    ``version``)."""
    if "version" in data:
        version = number(data, "version")
    else:
        current = keeper.current_params(state)
        version = 0 if current is None else current["version"]
    return QueryResult(keeper.get_params(state, version), keys.params_key(version))


def donation(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A donor's current donation, or one version of it with ``version``."""
    donor = text(data, "donor")
    if "version" in data:
        n = number(data, "version")
        return QueryResult(keeper.get_donation_version(state, donor, n),
                           keys.donation_version_key(donor, n))
    return QueryResult(keeper.get_donation(state, donor), keys.donation_key(donor))


def study(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    study_id = object_id(data, "study")
    return QueryResult(keeper.get_study(state, study_id), keys.study_key(study_id))


def request(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    request_id = object_id(data, "request")
    return QueryResult(keeper.get_request(state, request_id), keys.request_key(request_id))


def outcome(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One donor's outcome of a request (provable: included, or excluded and why)."""
    request_id, donor = object_id(data, "request"), text(data, "donor")
    return QueryResult(keeper.get_outcome(state, request_id, donor),
                       keys.outcome_key(request_id, donor))


def outcomes(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    request_id = object_id(data, "request")
    ids, after = page(paging(data), lambda a: keeper.outcomes(state, request_id, a))
    return QueryResult({"request": request_id, "donors": ids, "next": after})


def dataset(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    dataset_id = object_id(data, "dataset")
    return QueryResult(keeper.get_dataset(state, dataset_id), keys.dataset_key(dataset_id))


def leaf(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A record's leaf in a dataset, or null (with ``prove``: a membership or
    non-membership proof against the app hash)."""
    dataset_id, record = object_id(data, "dataset"), object_id(data, "record")
    return QueryResult(keeper.get_leaf(state, dataset_id, record),
                       keys.leaf_key(dataset_id, record))


def leaves(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Record ids of a dataset's leaves, in leaf order (what ``leaves_root`` is over)."""
    dataset_id = object_id(data, "dataset")
    ids, after = page(paging(data), lambda a: keeper.leaves(state, dataset_id, a))
    return QueryResult({"dataset": dataset_id, "records": ids, "next": after})


def uses(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Every dataset (and its study) that holds a donor's data."""
    donor = text(data, "donor")
    return QueryResult({"donor": donor, "datasets": keeper.uses(state, donor)})


def records(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """``{record id: its descriptor or null}`` for up to ``MAX_LIMIT`` distinct record
    ids (a list, or one comma-separated string) in one answer: a vault checking which
    of its records a manifest may name asks once per batch, not once per record
    (``records/get`` is the provable single-key form; the chain re-checks every leaf
    when the manifest arrives)."""
    ids = data.get("records")
    if isinstance(ids, str):         # comma-separated, as every GET parameter is a string
        ids = ids.split(",")
    if not isinstance(ids, list) or not 1 <= len(ids) <= MAX_LIMIT \
            or not all(isinstance(i, str) and is_id(i) for i in ids) \
            or len(set(ids)) != len(ids):
        raise BAD_QUERY(f"'records' must be 1 to {MAX_LIMIT} distinct object ids")
    return QueryResult({"records": {i: get_record(state, i) for i in ids}})


QUERIES: Final[Mapping[str, Query]] = {
    "params": params, "donation": donation, "study": study, "request": request,
    "outcome": outcome, "outcomes": outcomes, "dataset": dataset, "leaf": leaf,
    "leaves": leaves, "uses": uses, "records": records,
}
