"""Governance handlers: validate → change state → emit events; and the end-block hook
that closes votes and executes their outcome (README "Voting", "Outcomes")."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from phrchain.core.errors import TxError
from phrchain.core.module import Context, Handler, ValidatorUpdate
from phrchain.core.state import Overlay, Reader
from phrchain.core.tx import Msg
from phrchain.modules import identity
from phrchain.modules.governance import keeper, rules
from phrchain.modules.governance.actions import RemoveAuthority, parse_action
from phrchain.modules.governance.errors import (
    ALREADY_VOTED,
    INTERESTED_PARTY,
    NOT_FOUND,
    TOO_MANY_PROPOSALS,
    UNAUTHORIZED,
    VOTING_CLOSED,
)
from phrchain.modules.governance.messages import (
    GOVERNANCE_EXECUTED,
    GOVERNANCE_EXPIRED,
    GOVERNANCE_FAILED,
    GOVERNANCE_PROPOSED,
    GOVERNANCE_REJECTED,
    GOVERNANCE_UPGRADED,
    GOVERNANCE_VOTED,
    PROPOSE,
    VOTE,
    YES,
    Propose,
    Vote,
)

OPEN: Final = "open"
EXECUTED: Final = "executed"
FAILED: Final = "failed"
REJECTED: Final = "rejected"
EXPIRED: Final = "expired"
# Open proposals one authority may have at once: each is tallied in every block.
MAX_OPEN_PER_PROPOSER: Final = 8


def _council_member(ctx: Context) -> None:
    signer = identity.acting(ctx.state, ctx.signer)
    if signer is None or signer["kind"] != "authority":
        raise UNAUTHORIZED(f"{ctx.signer} is not an active authority")


def _target(action: object) -> str | None:
    """The authority a proposal would remove: it has no say in it."""
    return action.did if isinstance(action, RemoveAuthority) else None


def propose(ctx: Context, msg: Msg) -> None:
    m = Propose.parse(msg)
    _council_member(ctx)
    if _target(m.action) == ctx.signer:
        raise INTERESTED_PARTY("an authority's own removal is proposed by the others")
    mine = sum(1 for p in keeper.open_proposals(ctx.state)
               if (r := keeper.get_proposal(ctx.state, p)) is not None
               and r["proposer"] == ctx.signer)
    if mine >= MAX_OPEN_PER_PROPOSER:
        raise TOO_MANY_PROPOSALS(f"{mine} open")
    voting_end = ctx.height + keeper.config(ctx.state)["voting_period"]
    rules.check(ctx, m.action, voting_end, ctx.signer)
    proposal = keeper.take_id(ctx.state)
    keeper.put_proposal(ctx.state, {
        "id": proposal, "kind": m.action.KIND, "action": m.action.to_json(),
        "proposer": ctx.signer, "status": OPEN, "submitted": ctx.height,
        "voting_end": voting_end, "closed_at": None, "yes": 0, "no": 0, "eligible": 0,
        "failure": None})
    keeper.put_vote(ctx.state, proposal, ctx.signer, YES)
    ctx.emit(GOVERNANCE_PROPOSED, proposal=proposal, kind=m.action.KIND,
             proposer=ctx.signer, voting_end=voting_end)
    ctx.emit(GOVERNANCE_VOTED, proposal=proposal, voter=ctx.signer, option=YES)


def vote(ctx: Context, msg: Msg) -> None:
    m = Vote.parse(msg)
    _council_member(ctx)
    record = keeper.get_proposal(ctx.state, m.proposal)
    if record is None:
        raise NOT_FOUND(str(m.proposal))
    # Closed at the end of its last voting block (or earlier, once decided).
    if record["status"] != OPEN or ctx.height > record["voting_end"]:
        raise VOTING_CLOSED(f"proposal {m.proposal} is {record['status']}")
    if _target(parse_action(record["action"])) == ctx.signer:
        raise INTERESTED_PARTY("an authority does not vote on its own removal")
    if keeper.get_vote(ctx.state, m.proposal, ctx.signer) is not None:
        raise ALREADY_VOTED(str(m.proposal))
    keeper.put_vote(ctx.state, m.proposal, ctx.signer, m.option)
    ctx.emit(GOVERNANCE_VOTED, proposal=m.proposal, voter=ctx.signer, option=m.option)


HANDLERS: Final[Mapping[str, Handler]] = {PROPOSE: propose, VOTE: vote}


# -- closing votes ---------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class Tally:
    yes: int
    no: int
    eligible: int   # active authorities, without the one a proposal would remove
    needed: int     # yes votes that pass it: the threshold, and never fewer than two

    def passed(self) -> bool:
        return self.yes >= self.needed

    def hopeless(self) -> bool:
        """Even if every eligible authority that has not voted voted yes, too few."""
        return self.eligible - self.no < self.needed


def tally(state: Reader, record: keeper.Proposal) -> Tally:
    cfg = keeper.config(state)
    target = _target(parse_action(record["action"]))
    council = [did for did in identity.authorities(state) if did != target]
    cast = keeper.votes(state, record["id"])
    yes = sum(1 for did in council if cast.get(did) == YES)
    no = sum(1 for did in council if did in cast and cast[did] != YES)
    threshold = -(-cfg["numerator"] * len(council) // cfg["denominator"])  # ceiling
    return Tally(yes, no, len(council), max(rules.MIN_AUTHORITIES, threshold))


def end_block(ctx: Context) -> list[ValidatorUpdate]:
    """Close every vote that is decided or at its last block, in proposal order, and
    execute those that passed. Writes nothing when no vote closes."""
    upgrade = keeper.upgrade_at(ctx.state, ctx.height)
    if upgrade is not None:
        ctx.emit(GOVERNANCE_UPGRADED, version=upgrade["version"], height=ctx.height,
                 name=upgrade["name"])
    updates: list[ValidatorUpdate] = []
    for proposal in keeper.open_proposals(ctx.state):
        record = keeper.get_proposal(ctx.state, proposal)
        if record is None:  # an open mark always has its record
            raise AssertionError(f"open proposal {proposal} has no record")
        result = tally(ctx.state, record)
        if result.passed():
            updates += _execute(ctx, record, result)
        elif result.hopeless():
            _close(ctx.state, record, REJECTED, ctx.height, result)
            ctx.emit(GOVERNANCE_REJECTED, proposal=proposal, kind=record["kind"],
                     yes=result.yes, no=result.no, needed=result.needed)
        elif ctx.height >= record["voting_end"]:
            _close(ctx.state, record, EXPIRED, ctx.height, result)
            ctx.emit(GOVERNANCE_EXPIRED, proposal=proposal, kind=record["kind"],
                     yes=result.yes, no=result.no, needed=result.needed)
    return updates


def _close(state: Overlay, record: keeper.Proposal, status: str, height: int,
           result: Tally) -> None:
    record.update({"status": status, "closed_at": height, "yes": result.yes,
                   "no": result.no, "eligible": result.eligible})
    keeper.put_proposal(state, record)


def _execute(ctx: Context, record: keeper.Proposal, result: Tally) -> list[ValidatorUpdate]:
    """Run the action in its own buffer: all of it, or (refused) none of it."""
    action = parse_action(record["action"])
    scratch = Context(ctx.chain_id, ctx.height, ctx.time_ms, "", Overlay(ctx.state))
    try:
        rules.check(scratch, action, record["voting_end"], None)
        updates = rules.apply(scratch, action, record["id"])
    except TxError as exc:
        record["failure"] = {"codespace": exc.codespace, "code": exc.code,
                             "name": exc.error.name}
        _close(ctx.state, record, FAILED, ctx.height, result)
        ctx.emit(GOVERNANCE_FAILED, proposal=record["id"], kind=record["kind"],
                 codespace=exc.codespace, code=exc.code)
        return []
    scratch.state.flush(ctx.state)
    _close(ctx.state, record, EXECUTED, ctx.height, result)
    ctx.emit(GOVERNANCE_EXECUTED, proposal=record["id"], kind=record["kind"],
             yes=result.yes, needed=result.needed)
    ctx.events.extend(scratch.events)
    return updates
