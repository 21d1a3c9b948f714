"""The only code that reads or writes the ``governance/`` key prefix.

State layout (values canonical JSON)::

    governance/config                    -> Config (absent: DEFAULT_CONFIG)
    governance/next                      -> the next proposal id (absent: 1)
    governance/p/<id:016x>               -> Proposal
    governance/v/<id:016x>/<did>         -> "yes" | "no"   one vote per authority
    governance/open/<id:016x>            -> b"1"   proposals whose vote is open
    governance/val/<pub_key hex>         -> Validator   the consensus validator set
    governance/param/<module>/<name>     -> Parameter   the current value
    governance/ph/<module>/<name>/<v:08x> -> Parameter  every version ever set
    governance/up/<height:016x>          -> Upgrade     scheduled rule versions
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypedDict

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader
from phrchain.modules.governance.keys import (
    CONFIG,
    NEXT_ID,
    OPEN,
    UPGRADE,
    VALIDATOR,
    open_key,
    param_history_key,
    param_key,
    proposal_key,
    upgrade_key,
    validator_key,
    vote_key,
    vote_prefix,
)
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"


class Config(TypedDict):
    """Set in genesis (README "Genesis"); never changed by a proposal."""

    numerator: int          # a proposal passes with yes votes >= numerator/denominator
    denominator: int        # of the eligible authorities (and at least two)
    voting_period: int      # blocks after the proposal's block in which votes count
    min_validators: int


DEFAULT_CONFIG: Final[Config] = {"numerator": 2, "denominator": 3, "voting_period": 100,
                                 "min_validators": 1}


class Failure(TypedDict):
    codespace: str
    code: int
    name: str


class Proposal(TypedDict):
    id: int
    kind: str
    action: dict[str, Any]
    proposer: str
    status: str               # open | executed | failed | rejected | expired
    submitted: int            # height
    voting_end: int           # last height whose votes count
    closed_at: int | None
    yes: int                  # the tally when the vote closed (0 while open)
    no: int
    eligible: int
    failure: Failure | None   # why a passed proposal could not be executed


class Validator(TypedDict):
    pub_key: str              # Ed25519, hex
    power: int
    organization: str
    since: int                # height of the change that set this entry


class Parameter(TypedDict):
    module: str
    name: str
    value: Any
    version: int              # 1 for the first value, +1 for each change
    height: int
    proposal: int


class Upgrade(TypedDict):
    version: int
    height: int
    name: str
    proposal: int


def config(state: Reader) -> Config:
    found: Config | None = json_get(state, CONFIG)
    return DEFAULT_CONFIG if found is None else found


def put_config(state: Overlay, value: Config) -> None:
    json_put(state, CONFIG, value)


def take_id(state: Overlay) -> int:
    raw = state.get(NEXT_ID)
    proposal = 1 if raw is None else int(raw)
    state.set(NEXT_ID, str(proposal + 1).encode())
    return proposal


def get_proposal(state: Reader, proposal: int) -> Proposal | None:
    found: Proposal | None = json_get(state, proposal_key(proposal))
    return found


def put_proposal(state: Overlay, record: Proposal) -> None:
    json_put(state, proposal_key(record["id"]), record)
    if record["status"] == "open":
        state.set(open_key(record["id"]), _MARK)
    else:
        state.delete(open_key(record["id"]))


def open_proposals(state: Reader) -> list[int]:
    """Ids of the proposals whose vote is open, ascending."""
    return [int(key[len(OPEN):], 16) for key, _ in state.iterate(OPEN)]


def proposal_ids(state: Reader, after: int = 0) -> Iterator[int]:
    """Every proposal id after ``after``, ascending (ids are 1, 2, ... without gaps)."""
    raw = state.get(NEXT_ID)
    return iter(range(after + 1, 1 if raw is None else int(raw)))


def get_vote(state: Reader, proposal: int, did: str) -> str | None:
    raw = state.get(vote_key(proposal, did))
    return None if raw is None else raw.decode()


def put_vote(state: Overlay, proposal: int, did: str, option: str) -> None:
    state.set(vote_key(proposal, did), option.encode())


def votes(state: Reader, proposal: int) -> dict[str, str]:
    prefix = vote_prefix(proposal)
    return {key[len(prefix):].decode(): raw.decode() for key, raw in state.iterate(prefix)}


def validators(state: Reader) -> list[Validator]:
    """The validator set, in consensus-key order."""
    return [encoding.decode(raw) for _, raw in state.iterate(VALIDATOR)]


def get_validator(state: Reader, pub_key: bytes) -> Validator | None:
    found: Validator | None = json_get(state, validator_key(pub_key))
    return found


def put_validator(state: Overlay, record: Validator) -> None:
    json_put(state, validator_key(bytes.fromhex(record["pub_key"])), record)


def delete_validator(state: Overlay, pub_key: bytes) -> None:
    state.delete(validator_key(pub_key))


def get_parameter(state: Reader, module: str, name: str) -> Parameter | None:
    found: Parameter | None = json_get(state, param_key(module, name))
    return found


def put_parameter(state: Overlay, record: Parameter) -> None:
    """The new current value, also kept under its version (a ``None`` value deletes
    the current entry; its version stays in the history)."""
    module, name = record["module"], record["name"]
    json_put(state, param_history_key(module, name, record["version"]), record)
    if record["value"] is None:
        state.delete(param_key(module, name))
    else:
        json_put(state, param_key(module, name), record)


def last_parameter_version(state: Reader, module: str, name: str) -> int:
    prefix = param_history_key(module, name, 0)[:-8]
    last = 0
    for key, _ in state.iterate(prefix):
        last = int(key[len(prefix):], 16)
    return last


def upgrades(state: Reader) -> list[Upgrade]:
    """Every scheduled rule version, by height."""
    return [encoding.decode(raw) for _, raw in state.iterate(UPGRADE)]


def upgrade_at(state: Reader, height: int) -> Upgrade | None:
    found: Upgrade | None = json_get(state, upgrade_key(height))
    return found


def put_upgrade(state: Overlay, record: Upgrade) -> None:
    json_put(state, upgrade_key(record["height"]), record)
