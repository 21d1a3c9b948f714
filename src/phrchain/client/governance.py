"""The governance module from the client side (``modules/governance``): an authority of
the consortium council proposes an action and votes; anyone reads proposals, the
validator set, parameters and the rule schedule.

    gov = GovernanceClient(session)             # the session's wallet is an authority
    proposal = gov.propose(AddValidator(pub_key, 10, hospital_did))
    GovernanceClient(other_session).vote(proposal, "yes")   # a second authority
    gov.proposal(proposal)["status"]            # "executed" once the threshold is met

Every message is built by ``to_msg()`` of the module's dataclasses.
"""

from __future__ import annotations

from typing import Any

from phrchain.client.session import RecordsError, Session
from phrchain.client.wallet import Wallet
from phrchain.modules.governance.actions import Action, AdmitAuthority
from phrchain.modules.governance.messages import GOVERNANCE_PROPOSED, Propose, Vote
from phrchain.modules.identity import admission_bytes, council

__all__ = ["GovernanceClient", "council_admission"]


def council_admission(joining: Wallet, chain_id: str, name: str) -> AdmitAuthority:
    """The ``admit_authority`` action for ``joining``, with its proof of possession:
    made by the new member's own wallet, then handed to a proposer."""
    pop = joining.signing_key.sign(admission_bytes(chain_id, council.COUNCIL, joining.did,
                                                   joining.enc_key))
    return AdmitAuthority(joining.did, joining.enc_key, name, pop)


class GovernanceClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    # -- the council -------------------------------------------------------------------
    def propose(self, action: Action) -> int:
        """Put ``action`` to the council's vote (with the proposer's own yes); the id."""
        answer = self.session.send([Propose(action).to_msg()])
        for event in answer.get("result", {}).get("events", []):
            if event["type"] == GOVERNANCE_PROPOSED:
                return int(dict(event["attributes"])["proposal"])
        raise RecordsError("the node's answer names no proposal")

    def vote(self, proposal: int, option: str = "yes") -> None:
        self.session.send([Vote(proposal, option).to_msg()])

    # -- reads -------------------------------------------------------------------------
    def proposal(self, proposal: int) -> dict[str, Any]:
        found = self.session.q("governance/proposal", id=proposal)
        if found is None:
            raise RecordsError(f"no proposal {proposal}")
        return dict(found)

    def proposals(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every proposal (of one ``status``), in id order, across pages."""
        out: list[dict[str, Any]] = []
        after = 0
        while True:
            data: dict[str, Any] = {"after": after, "limit": 1000}
            if status is not None:
                data["status"] = status
            page = self.session.q("governance/proposals", **data)
            out += page["proposals"]
            if page["next"] is None:
                return out
            after = int(page["next"])

    def validators(self) -> dict[str, Any]:
        return dict(self.session.q("governance/validators"))

    def parameter(self, module: str, name: str) -> dict[str, Any] | None:
        found = self.session.q("governance/parameter", module=module, name=name)
        return None if found is None else dict(found)

    def rules(self, height: int | None = None) -> dict[str, Any]:
        data = {} if height is None else {"height": height}
        return dict(self.session.q("governance/rules", **data))

    def config(self) -> dict[str, Any]:
        return dict(self.session.q("governance/config"))
