"""Rule versions (py-evm's fork classes, by height): the message handlers of every
version a code base implements, built once from the modules' declarations.

Version 1 is each module's ``handlers()``; a module that changes a rule declares the
handlers a version replaces or adds (``VersionedRules.rule_changes``: a message type new
at version v is ``tx/10 unknown_message_type`` below it); version v is version v-1 with
every change declared at v. Old versions stay, so a block replays with the rules
of its height (``RuleSchedule``, the governance module's upgrade schedule).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from phrchain.core.errors import PhrError
from phrchain.core.module import Handler, Module, VersionedRules


class UpgradeRequired(PhrError):
    """The block's height runs a rule version this code base does not implement: the
    node must stop (as Cosmos nodes do at an upgrade height) until a release that has
    it is installed; it then replays from here with the same result as every node."""


def rule_tables(modules: Sequence[Module], base: Mapping[str, Handler]
                ) -> dict[int, Mapping[str, Handler]]:
    """Every rule version's handler table, ``{1: base, 2: ..., latest: ...}``."""
    changes: dict[int, dict[str, Handler]] = {}
    for module in modules:
        if not isinstance(module, VersionedRules):
            continue
        for version, table in module.rule_changes().items():
            if version < 2:
                raise ValueError(f"{module.name}: rule changes start at version 2")
            for msg_type, handler in table.items():
                if not msg_type.startswith(module.name + "/"):
                    raise ValueError(f"{module.name} may not change {msg_type}")
                changes.setdefault(version, {})[msg_type] = handler
    tables: dict[int, Mapping[str, Handler]] = {1: base}
    for version in range(2, max(changes, default=1) + 1):
        tables[version] = {**tables[version - 1], **changes.get(version, {})}
    return tables
