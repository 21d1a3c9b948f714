"""Governance queries: configuration, proposals and votes, validators, parameters, rule
versions (lists paged as in ``paging``; proposal ids as decimal ``after``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult, block_of
from phrchain.core.state import Reader
from phrchain.modules.governance import keeper, keys
from phrchain.modules.governance.actions import PARAMETER_NAME_RE
from phrchain.modules.governance.schedule import rules_version
from phrchain.modules.paging import number, paging, text

STATUSES: Final = frozenset({"open", "executed", "failed", "rejected", "expired"})


def config(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    return QueryResult(keeper.config(state))


def proposal(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """One proposal with its votes so far (provable: the record's key)."""
    pid = number(data, "id")
    record = keeper.get_proposal(state, pid)
    value = None if record is None else {**record, "votes": keeper.votes(state, pid)}
    return QueryResult(value, keys.proposal_key(pid))


def proposals(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Proposals in id order, optionally only those of one ``status``."""
    limit, _ = paging({k: v for k, v in data.items() if k != "after"})
    after = number(data, "after", 0)
    status = data.get("status")
    if status is not None and (not isinstance(status, str) or status not in STATUSES):
        raise BAD_QUERY(f"'status' must be one of {sorted(STATUSES)}")
    found: list[keeper.Proposal] = []
    ids = keeper.open_proposals(state) if status == "open" else keeper.proposal_ids(state)
    for pid in ids:
        if pid <= after:
            continue
        record = keeper.get_proposal(state, pid)
        if record is None or (status is not None and record["status"] != status):
            continue
        if len(found) == limit:
            return QueryResult({"proposals": found, "next": str(found[-1]["id"])})
        found.append(record)
    return QueryResult({"proposals": found, "next": None})


def validators(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    found = keeper.validators(state)
    return QueryResult({"validators": found,
                        "total_power": sum(v["power"] for v in found)})


def _identifier(data: Mapping[str, Any], name: str) -> str:
    value = text(data, name)
    if PARAMETER_NAME_RE.fullmatch(value) is None:
        raise BAD_QUERY(f"'{name}' must be a lowercase identifier [a-z0-9_]")
    return value


def parameter(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    module, name = _identifier(data, "module"), _identifier(data, "name")
    return QueryResult(keeper.get_parameter(state, module, name), keys.param_key(module, name))


def rules(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """The rule version at ``height`` (default: the next block) and the schedule."""
    default = block_of(state)[0] + 1
    height = number(data, "height", default)
    return QueryResult({"height": height, "version": rules_version(state, height),
                        "upgrades": keeper.upgrades(state)})


QUERIES: Final[Mapping[str, Query]] = {
    "config": config, "proposal": proposal, "proposals": proposals,
    "validators": validators, "parameter": parameter, "rules": rules,
}
