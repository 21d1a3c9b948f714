"""Governance messages (stateless checks): propose an action, vote on a proposal."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.modules import fields
from phrchain.modules.governance.actions import Action, parse_action
from phrchain.modules.governance.errors import INVALID_FIELD

PROPOSE: Final = "governance/propose"
VOTE: Final = "governance/vote"

YES: Final = "yes"
NO: Final = "no"
OPTIONS: Final = frozenset({YES, NO})

# Events (``Event.type``), for clients that filter events. The first two come from txs;
# the others from the end-block hook of the block where a vote closes.
GOVERNANCE_PROPOSED: Final = "governance.proposed"
GOVERNANCE_VOTED: Final = "governance.voted"
GOVERNANCE_EXECUTED: Final = "governance.executed"
GOVERNANCE_FAILED: Final = "governance.failed"
GOVERNANCE_REJECTED: Final = "governance.rejected"
GOVERNANCE_EXPIRED: Final = "governance.expired"
GOVERNANCE_VALIDATOR: Final = "governance.validator"
GOVERNANCE_UPGRADED: Final = "governance.upgraded"
EVENTS: Final = frozenset({GOVERNANCE_PROPOSED, GOVERNANCE_VOTED, GOVERNANCE_EXECUTED,
                           GOVERNANCE_FAILED, GOVERNANCE_REJECTED, GOVERNANCE_EXPIRED,
                           GOVERNANCE_VALIDATOR, GOVERNANCE_UPGRADED})


@dataclass(frozen=True, slots=True)
class Propose:
    """``governance/propose``: an authority puts ``action`` to the council's vote (and
    votes yes on it: README "Voting")."""

    action: Action

    TYPE: ClassVar[str] = PROPOSE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Propose:
        fields.exact(msg, INVALID_FIELD, ("action",))
        return cls(parse_action(msg["action"]))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "action": self.action.to_json()}


@dataclass(frozen=True, slots=True)
class Vote:
    proposal: int
    option: str

    TYPE: ClassVar[str] = VOTE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Vote:
        fields.exact(msg, INVALID_FIELD, ("proposal", "option"))
        return cls(fields.integer(msg, "proposal", INVALID_FIELD, 1),
                   fields.choice(msg, "option", OPTIONS, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "proposal": self.proposal, "option": self.option}
