"""The research institute's messages: study registration, data requests and the
deterministic matching of every donor against a request, in batches."""

from __future__ import annotations

from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.research import duo, keeper, roles
from phrchain.modules.research.donors import known_terms
from phrchain.modules.research.errors import (
    ALREADY_EXISTS,
    BELOW_THRESHOLD,
    MATCH_DONE,
    UNAUTHORIZED,
    UNKNOWN_REQUEST,
    UNKNOWN_STUDY,
)
from phrchain.modules.research.messages import (
    RESEARCH_MATCHED,
    RESEARCH_REQUESTED,
    RESEARCH_STUDY_REGISTERED,
    Match,
    RegisterStudy,
    Request,
    irb_bytes,
)


def register_study(ctx: Context, msg: Msg) -> None:
    m = RegisterStudy.parse(msg)
    p = roles.params(ctx)
    org = roles.institute(ctx)
    if keeper.get_study(ctx.state, m.study) is not None:
        raise ALREADY_EXISTS(f"study {m.study}")
    known_terms(p, [m.purpose["code"]], m.purpose.get("disease"))
    if m.k < p["min_k"] or m.l < p["min_l"]:
        raise BELOW_THRESHOLD(f"the chain requires k >= {p['min_k']} and l >= {p['min_l']}")
    if m.irb is not None:
        roles.approve(ctx, m.irb.approver, m.irb.sig,
                      irb_bytes(m.study, m.irb.reference, m.protocol))
    keeper.put_study(ctx.state, {**m.to_json(),  # type: ignore[typeddict-item]
                                 "institute": org, "registered_by": ctx.signer,
                                 "height": ctx.height, "time_ms": ctx.time_ms})
    ctx.emit(RESEARCH_STUDY_REGISTERED, study=m.study, institute=org)


def request(ctx: Context, msg: Msg) -> None:
    m = Request.parse(msg)
    p = roles.params(ctx)
    study = _own_study(ctx, m.study)
    if keeper.get_request(ctx.state, m.request) is not None:
        raise ALREADY_EXISTS(f"request {m.request}")
    found: keeper.Request = {
        "request": m.request, "study": study["study"], "by": ctx.signer,
        "height": ctx.height, "time_ms": ctx.time_ms, "cursor": None, "done": False,
        "matched_height": None, "included": 0, "excluded": 0}
    ctx.emit(RESEARCH_REQUESTED, request=m.request, study=m.study)
    _batch(ctx, p, study, found)


def match(ctx: Context, msg: Msg) -> None:
    m = Match.parse(msg)
    p = roles.params(ctx)
    found = keeper.get_request(ctx.state, m.request)
    if found is None:
        raise UNKNOWN_REQUEST(f"request {m.request}")
    study = _own_study(ctx, found["study"])
    if found["done"]:
        raise MATCH_DONE(f"matched at height {found['matched_height']}")
    _batch(ctx, p, study, found)


def _own_study(ctx: Context, study_id: str) -> keeper.Study:
    org = roles.institute(ctx)
    study = keeper.get_study(ctx.state, study_id)
    if study is None:
        raise UNKNOWN_STUDY(f"study {study_id}")
    if study["institute"] != org:
        raise UNAUTHORIZED("only the study's institute requests its data")
    return study


def _batch(ctx: Context, p: keeper.Params, study: keeper.Study,
           found: keeper.Request) -> None:
    """Match up to ``match_batch`` donors after the cursor, as of the request's time."""
    donors = keeper.donors(ctx.state, found["cursor"])
    for _ in range(p["match_batch"]):
        donor = next(donors, None)
        if donor is None:
            break
        donation = keeper.get_donation(ctx.state, donor)
        assert donation is not None
        pinned = keeper.get_params(ctx.state, donation["params"])
        assert pinned is not None
        reason = duo.outcome(pinned["terms"], pinned["diseases"], donation, study,
                             found["time_ms"])
        keeper.put_outcome(ctx.state, found["request"], donor, {
            "outcome": "included" if reason is None else "excluded", "reason": reason,
            "donation": donation["version"]})
        found["included" if reason is None else "excluded"] += 1
        found["cursor"] = donor
    if next(donors, None) is None:
        found.update({"done": True, "matched_height": ctx.height})
    keeper.put_request(ctx.state, found)
    ctx.emit(RESEARCH_MATCHED, request=found["request"], included=found["included"],
             excluded=found["excluded"], done=str(found["done"]).lower())
