"""The donor's messages, signed by the patient pseudonym that owns the donated records,
and the authority's parameters."""

from __future__ import annotations

from phrchain.core.module import Context
from phrchain.core.state import Overlay
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.records import get_record
from phrchain.modules.research import keeper, roles
from phrchain.modules.research.errors import (
    BAD_PERIOD,
    NO_DONATION,
    NOT_OWNER,
    UNAUTHORIZED,
    UNKNOWN_TERM,
)
from phrchain.modules.research.messages import (
    RESEARCH_DONATED,
    RESEARCH_PARAMS_SET,
    RESEARCH_REVOKED,
    Donate,
    Revoke,
    SetParams,
)

ACTIVE = "active"
REVOKED = "revoked"


def new_params(state: Overlay, m: SetParams, height: int) -> int:
    current = keeper.current_params(state)
    version = 1 if current is None else current["version"] + 1
    keeper.put_params(state, {"version": version, "match_batch": m.match_batch,
                              "max_leaves": m.max_leaves, "min_k": m.min_k, "min_l": m.min_l,
                              "terms": m.terms, "diseases": m.diseases, "height": height})
    return version


def set_params(ctx: Context, msg: Msg) -> None:
    m = SetParams.parse(msg)
    signer = parties.acting(ctx.state, ctx.signer)
    if signer is None or signer["kind"] != "authority":
        raise UNAUTHORIZED("only an active authority sets the research parameters")
    ctx.emit(RESEARCH_PARAMS_SET, version=new_params(ctx.state, m, ctx.height))


def known_terms(p: keeper.Params, codes: list[str], disease: str | None) -> None:
    """Refuse a DUO code or a disease the pinned tables of ``p`` do not list."""
    for code in codes:
        if code not in p["terms"]["codes"]:
            raise UNKNOWN_TERM(f"{code} is not in {p['terms']['release']}")
    if disease is not None and disease not in p["diseases"]["labels"]:
        raise UNKNOWN_TERM(f"{disease} is not in {p['diseases']['release']}")


def donate(ctx: Context, msg: Msg) -> None:
    m = Donate.parse(msg)
    if not parties.active_patient(ctx.state, ctx.signer):
        raise UNAUTHORIZED("only a patient (the pseudonym that owns the records) donates")
    p = roles.params(ctx)
    known_terms(p, [m.permission["code"], *(x["code"] for x in m.modifiers)],
                m.permission.get("disease"))
    if m.end_ms <= m.start_ms or m.end_ms <= ctx.time_ms:
        raise BAD_PERIOD(f"the period ends at {m.end_ms}")
    for record in m.scope.get("records", ()):
        found = get_record(ctx.state, record)
        if found is None or found["status"] != ACTIVE or found["patient"] != ctx.signer:
            raise NOT_OWNER(f"record {record}")
    previous = keeper.get_donation(ctx.state, ctx.signer)
    version = 1 if previous is None else previous["version"] + 1
    keeper.put_donation(ctx.state, {
        "donor": ctx.signer, "version": version, "params": p["version"],
        "permission": m.permission, "modifiers": m.modifiers, "scope": m.scope,
        "period": {"start_ms": m.start_ms, "end_ms": m.end_ms}, "status": ACTIVE,
        "height": ctx.height, "time_ms": ctx.time_ms, "revoked_height": None})
    ctx.emit(RESEARCH_DONATED, donor=ctx.signer, version=version)


def revoke(ctx: Context, msg: Msg) -> None:
    Revoke.parse(msg)
    found = keeper.get_donation(ctx.state, ctx.signer)
    if found is None or found["status"] != ACTIVE:
        raise NO_DONATION("there is no active donation to revoke")
    found.update({"status": REVOKED, "revoked_height": ctx.height})
    keeper.put_donation(ctx.state, found)
    ctx.emit(RESEARCH_REVOKED, donor=ctx.signer, version=found["version"])
