"""The sponsor's messages: parameters (authority), registration, amendments,
commitments, database lock, unblinding and results."""

from __future__ import annotations

from phrchain.core.module import Context
from phrchain.core.state import Overlay
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.trials import keeper, roles
from phrchain.modules.trials.errors import (
    ALREADY_EXISTS,
    ALREADY_REPORTED,
    BACKDATED,
    BAD_DATE,
    MISSING_COMMITMENT,
    NO_BASELINE,
    NOT_LOCKED,
    OVER_LIMIT,
    STALE_BASE,
    TOO_LATE,
    UNAUTHORIZED,
    UNKNOWN_SITE,
)
from phrchain.modules.trials.messages import (
    TRIALS_AMENDED,
    TRIALS_COMMITTED,
    TRIALS_LOCKED,
    TRIALS_PARAMS_SET,
    TRIALS_REGISTERED,
    TRIALS_REPORTED,
    TRIALS_UNBLINDED,
    Amend,
    Commit,
    Lock,
    Protocol,
    Register,
    Results,
    SetParams,
    Unblind,
    outcome_json,
)
from phrchain.modules.trials.outcomes import DISCREPANCIES, RULES_VERSION, Outcome, classify


def new_params(state: Overlay, m: SetParams, height: int) -> int:
    current = keeper.current_params(state)
    version = 1 if current is None else current["version"] + 1
    keeper.put_params(state, {"version": version, **m.to_json(),  # type: ignore[typeddict-item]
                              "height": height})
    return version


def set_params(ctx: Context, msg: Msg) -> None:
    m = SetParams.parse(msg)
    signer = parties.acting(ctx.state, ctx.signer)
    if signer is None or signer["kind"] != "authority":
        raise UNAUTHORIZED("only an active authority sets the trials parameters")
    version = new_params(ctx.state, m, ctx.height)
    ctx.emit(TRIALS_PARAMS_SET, version=version)


def _fits(ctx: Context, p: keeper.Params, protocol: Protocol) -> None:
    for name, count, limit in (("sites", len(protocol.sites), p["max_sites"]),
                               ("arms", len(protocol.arms), p["max_arms"]),
                               ("outcomes", len(protocol.outcomes), p["max_outcomes"])):
        if count > limit:
            raise OVER_LIMIT(f"{count} {name}; parameters version {p['version']} allow "
                             f"{limit}")
    for site in protocol.sites:
        signer = parties.acting(ctx.state, site)
        if signer is None or signer["kind"] != "organization" \
                or signer["org_type"] not in roles.SITE_ORG_TYPES:
            raise UNKNOWN_SITE(f"{site} is not an active hospital, clinic or research "
                               "institute")


def _version(ctx: Context, number: int, protocol: Protocol, reason: str | None,
             reconsent: bool) -> keeper.Version:
    return {"version": number, **protocol.to_json(),  # type: ignore[typeddict-item]
            "reason": reason, "reconsent": reconsent, "by": ctx.signer,
            "height": ctx.height, "time_ms": ctx.time_ms}


def register(ctx: Context, msg: Msg) -> None:
    m = Register.parse(msg)
    p = roles.params(ctx)
    sponsor = roles.sponsor(ctx)
    if keeper.get_trial(ctx.state, m.trial) is not None:
        raise ALREADY_EXISTS(f"trial {m.trial}")
    if m.start_ms < ctx.time_ms:
        raise BACKDATED(f"start {m.start_ms} is before the registration's block time "
                        f"{ctx.time_ms}")
    if m.start_ms > ctx.time_ms + p["start_window_ms"]:
        raise BAD_DATE(f"start {m.start_ms} is more than {p['start_window_ms']} ms after "
                       f"the block time {ctx.time_ms}")
    _fits(ctx, p, m.protocol)
    keeper.put_trial(ctx.state, {
        "trial": m.trial, "sponsor": sponsor, "registered_by": ctx.signer,
        "registered_height": ctx.height, "registered_ms": ctx.time_ms,
        "start_ms": m.start_ms, "params": p["version"], "version": 1, "baseline": None,
        "baseline_height": None, "reconsent_version": 0, "sap": None,
        "randomisation": None, "participants": 0, "locked_height": None,
        "locked_ms": None, "unblinded_height": None, "reported_height": None,
    })
    keeper.put_version(ctx.state, m.trial, _version(ctx, 1, m.protocol, None, False))
    keeper.set_sites(ctx.state, m.trial, [], list(m.protocol.sites))
    keeper.index_sponsor(ctx.state, sponsor, m.trial)
    ctx.emit(TRIALS_REGISTERED, trial=m.trial, sponsor=sponsor, version=1,
             protocol=m.protocol.protocol)


def amend(ctx: Context, msg: Msg) -> None:
    m = Amend.parse(msg)
    trial = roles.trial(ctx, m.trial)
    roles.sponsor(ctx, trial)
    roles.open_trial(ctx, trial)
    if m.base != trial["version"]:
        raise STALE_BASE(f"the current version is {trial['version']}, not {m.base}")
    p = keeper.get_params(ctx.state, trial["params"])
    assert p is not None  # a trial is registered under stored parameters
    if m.base + 1 > p["max_versions"]:
        raise OVER_LIMIT(f"parameters version {p['version']} allow {p['max_versions']} "
                         "protocol versions")
    _fits(ctx, p, m.protocol)
    old = keeper.get_version(ctx.state, m.trial, m.base)
    assert old is not None
    number = m.base + 1
    keeper.put_version(ctx.state, m.trial, _version(ctx, number, m.protocol, m.reason,
                                                     m.reconsent))
    keeper.set_sites(ctx.state, m.trial, old["sites"], list(m.protocol.sites))
    trial["version"] = number
    if m.reconsent:
        trial["reconsent_version"] = number
    keeper.put_trial(ctx.state, trial)
    ctx.emit(TRIALS_AMENDED, trial=m.trial, version=number, reconsent=str(m.reconsent).lower(),
             protocol=m.protocol.protocol)


def commit(ctx: Context, msg: Msg) -> None:
    m = Commit.parse(msg)
    trial = roles.trial(ctx, m.trial)
    roles.sponsor(ctx, trial)
    if m.kind == "randomisation" and trial["baseline"] is not None:
        raise TOO_LATE("the randomisation list is fixed once the first participant enrols")
    if m.kind == "sap" and trial["unblinded_height"] is not None:
        raise TOO_LATE("the statistical analysis plan is fixed once the trial is unblinded")
    seq = len(keeper.commitments(ctx.state, m.trial, m.kind)) + 1
    keeper.put_commitment(ctx.state, m.trial, {
        "kind": m.kind, "seq": seq, "commitment": m.commitment, "by": ctx.signer,
        "height": ctx.height, "time_ms": ctx.time_ms})
    trial["sap" if m.kind == "sap" else "randomisation"] = m.commitment
    keeper.put_trial(ctx.state, trial)
    ctx.emit(TRIALS_COMMITTED, trial=m.trial, kind=m.kind, seq=seq, commitment=m.commitment)


def randomised(ctx: Context, trial: keeper.Trial) -> bool:
    """Whether the trial's current version is interventional (needs a randomisation list)."""
    version = keeper.get_version(ctx.state, trial["trial"], trial["version"])
    assert version is not None
    return bool(version["registration"]["study_type"] == "interventional")


def lock(ctx: Context, msg: Msg) -> None:
    m = Lock.parse(msg)
    trial = roles.trial(ctx, m.trial)
    roles.sponsor(ctx, trial)
    roles.open_trial(ctx, trial)
    trial.update({"locked_height": ctx.height, "locked_ms": ctx.time_ms})
    keeper.put_trial(ctx.state, trial)
    ctx.emit(TRIALS_LOCKED, trial=m.trial, height=ctx.height)


def unblind(ctx: Context, msg: Msg) -> None:
    m = Unblind.parse(msg)
    trial = roles.trial(ctx, m.trial)
    roles.sponsor(ctx, trial)
    if trial["locked_height"] is None:
        raise NOT_LOCKED("unblinding comes after the database lock")
    if trial["unblinded_height"] is not None:
        raise ALREADY_EXISTS(f"unblinded at height {trial['unblinded_height']}")
    if trial["sap"] is None or (randomised(ctx, trial) and trial["randomisation"] is None):
        raise MISSING_COMMITMENT("commit the statistical analysis plan (and, for an "
                                 "interventional trial, the randomisation list) first")
    trial["unblinded_height"] = ctx.height
    keeper.put_trial(ctx.state, trial)
    ctx.emit(TRIALS_UNBLINDED, trial=m.trial, height=ctx.height)


def results(ctx: Context, msg: Msg) -> None:
    m = Results.parse(msg)
    trial = roles.trial(ctx, m.trial)
    roles.sponsor(ctx, trial)
    if trial["locked_height"] is None:
        raise NOT_LOCKED("results come after the database lock")
    if trial["baseline"] is None:
        raise NO_BASELINE("no participant was enrolled")
    if trial["reported_height"] is not None:
        raise ALREADY_REPORTED(f"reported at height {trial['reported_height']}")
    baseline = keeper.get_version(ctx.state, m.trial, trial["baseline"])
    assert baseline is not None
    labelled = classify([Outcome.of(o) for o in baseline["outcomes"]], m.outcomes)
    keeper.put_results(ctx.state, {
        "trial": m.trial, "rules": RULES_VERSION, "baseline": trial["baseline"],
        "outcomes": [outcome_json(o, reported=True) for o in m.outcomes],
        "commitment": m.commitment, "by": ctx.signer, "height": ctx.height,
        "time_ms": ctx.time_ms})
    for outcome, labels in labelled:
        keeper.put_labels(ctx.state, m.trial, outcome, labels)
    trial["reported_height"] = ctx.height
    keeper.put_trial(ctx.state, trial)
    flagged = sum(1 for _, labels in labelled if DISCREPANCIES & set(labels))
    ctx.emit(TRIALS_REPORTED, trial=m.trial, baseline=trial["baseline"], outcomes=len(labelled),
             discrepancies=flagged)
