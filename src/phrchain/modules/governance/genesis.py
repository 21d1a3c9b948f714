"""Governance genesis: the council's voting rules and the initial validator set.

::

    {"threshold": {"numerator": 2, "denominator": 3},   # of the eligible authorities
     "voting_period": 100,                               # blocks
     "min_validators": 1,
     "validators": [{"pub_key": hex, "power": int, "organization": did}]}

Every field is optional; an absent or empty section writes nothing (the defaults of
``keeper.DEFAULT_CONFIG`` apply and the chain has no governed validator set, so the app
hash of a chain without governance is what it always was). Validators' organizations
must be genesis organizations of the identity module (which runs first). The genesis
set is not held to the one-third rule (a 1-3 validator test network could not start);
every later change is (README "Validators").
"""

from __future__ import annotations

from typing import Any, Final

from phrchain.core.errors import TxError
from phrchain.core.module import Context
from phrchain.modules import identity
from phrchain.modules.governance import keeper
from phrchain.modules.governance.actions import MAX_VALIDATORS, AddValidator

_FIELDS: Final = frozenset({"threshold", "voting_period", "min_validators", "validators"})
MAX_VOTING_PERIOD: Final = 1_000_000


def _integer(value: Any, what: str, low: int, high: int) -> int:
    if type(value) is not int or not low <= value <= high:
        raise ValueError(f"governance genesis {what} must be an integer from {low} to {high}")
    return value


def config_of(section: dict[str, Any]) -> keeper.Config:
    default = keeper.DEFAULT_CONFIG
    threshold = section.get("threshold", {"numerator": default["numerator"],
                                          "denominator": default["denominator"]})
    if not isinstance(threshold, dict) or set(threshold) != {"numerator", "denominator"}:
        raise ValueError("governance genesis threshold: {numerator, denominator}")
    denominator = _integer(threshold["denominator"], "threshold.denominator", 1, 100)
    numerator = _integer(threshold["numerator"], "threshold.numerator", 1, denominator)
    return {"numerator": numerator, "denominator": denominator,
            "voting_period": _integer(section.get("voting_period", default["voting_period"]),
                                      "voting_period", 1, MAX_VOTING_PERIOD),
            "min_validators": _integer(section.get("min_validators",
                                                   default["min_validators"]),
                                       "min_validators", 1, MAX_VALIDATORS)}


def init_genesis(ctx: Context, section: Any) -> None:
    if not section:
        return
    if not isinstance(section, dict) or not set(section) <= _FIELDS:
        raise ValueError(f"governance genesis: an object with fields among {sorted(_FIELDS)}")
    config = config_of(section)
    entries = section.get("validators", [])
    if not isinstance(entries, list) or len(entries) > MAX_VALIDATORS:
        raise ValueError(f"governance genesis validators: a list of at most {MAX_VALIDATORS}")
    if entries and len(entries) < config["min_validators"]:
        raise ValueError("governance genesis: fewer validators than min_validators")
    keeper.put_config(ctx.state, config)
    for entry in entries:
        if not isinstance(entry, dict) or set(entry) != {"pub_key", "power", "organization"}:
            raise ValueError("governance genesis validators: objects with exactly pub_key, "
                             "power and organization")
        try:
            validator = AddValidator.parse({"kind": AddValidator.KIND, **entry})
        except TxError as exc:
            raise ValueError(f"invalid governance genesis validator: {exc}") from exc
        org = identity.parties.get(ctx.state, validator.organization)
        if org is None or org["kind"] != "organization":
            raise ValueError(f"governance genesis validator of {validator.organization}: "
                             "not a genesis organization")
        if keeper.get_validator(ctx.state, validator.pub_key) is not None:
            raise ValueError(f"governance genesis: validator {validator.pub_key.hex()} twice")
        keeper.put_validator(ctx.state, {"pub_key": validator.pub_key.hex(),
                                         "power": validator.power,
                                         "organization": validator.organization, "since": 0})
