"""The public reads of governance state that other modules and the app use: the rule
version of a height, the parameter store, the validator set (re-exported from the
package's ``__init__``)."""

from __future__ import annotations

from typing import Any

from phrchain.core.state import Reader
from phrchain.modules.governance import keeper


def rules_version(state: Reader, height: int) -> int:
    """The rule version block ``height`` runs: that of the last upgrade scheduled at or
    below it, else 1."""
    version = 1
    for upgrade in keeper.upgrades(state):
        if upgrade["height"] > height:
            break
        version = upgrade["version"]
    return version


def parameter(state: Reader, module: str, name: str, default: Any = None) -> Any:
    """The council's value for ``module``/``name``, or ``default`` if it never set one
    (or set it to null)."""
    found = keeper.get_parameter(state, module, name)
    return default if found is None else found["value"]


def parameter_version(state: Reader, module: str, name: str) -> int:
    """How many times the council set ``module``/``name`` (0: never)."""
    return keeper.last_parameter_version(state, module, name)


def validators(state: Reader) -> list[keeper.Validator]:
    """The governed validator set, in consensus-key order (empty if genesis named none)."""
    return keeper.validators(state)
