"""The participant's messages, signed by its trial pseudonym (a patient DID the wallet
derives for counterpart = the trial, kind "trial"): enrolment with a research consent
bound to the protocol version, re-consent, withdrawal."""

from __future__ import annotations

from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.identity import parties
from phrchain.modules.trials import keeper, roles
from phrchain.modules.trials.errors import (
    ALREADY_EXISTS,
    MISSING_COMMITMENT,
    NOT_PARTICIPANT,
    NOT_STARTED,
    PROTOCOL_MISMATCH,
    PSEUDONYM_REUSED,
    STALE_VERSION,
    UNAUTHORIZED,
    UNKNOWN_SITE,
    WITHDRAWN,
)
from phrchain.modules.trials.messages import (
    TRIALS_BASELINE_FROZEN,
    TRIALS_ENROLLED,
    TRIALS_RECONSENTED,
    TRIALS_WITHDRAWN,
    Enrol,
    Reconsent,
    Withdraw,
)
from phrchain.modules.trials.sponsor import randomised

ACTIVE = "active"
WITHDRAWN_STATUS = "withdrawn"


def _current(ctx: Context, trial: keeper.Trial, version: int, protocol: str
             ) -> keeper.Version:
    """The trial's current version, which the consent must name with its commitment."""
    if version != trial["version"]:
        raise STALE_VERSION(f"the current protocol version is {trial['version']}")
    found = keeper.get_version(ctx.state, trial["trial"], version)
    assert found is not None
    if protocol != found["protocol"]:
        raise PROTOCOL_MISMATCH(f"version {version}'s protocol commitment is another")
    return found


def _consent(ctx: Context, trial: str, version: keeper.Version) -> None:
    keeper.put_consent(ctx.state, trial, ctx.signer, {
        "version": version["version"], "protocol": version["protocol"], "purpose": "HRESCH",
        "height": ctx.height, "time_ms": ctx.time_ms})


def enrol(ctx: Context, msg: Msg) -> None:
    m = Enrol.parse(msg)
    if not parties.active_patient(ctx.state, ctx.signer):
        raise UNAUTHORIZED("only a patient (its trial pseudonym) enrols")
    trial = roles.trial(ctx, m.trial)
    roles.open_trial(ctx, trial)
    if ctx.time_ms < trial["start_ms"]:
        raise NOT_STARTED(f"enrolment opens at {trial['start_ms']}")
    version = _current(ctx, trial, m.version, m.protocol)
    if not keeper.is_site(ctx.state, m.trial, m.site):
        raise UNKNOWN_SITE(f"{m.site} is not a site of version {m.version}")
    if trial["sap"] is None or (randomised(ctx, trial) and trial["randomisation"] is None):
        raise MISSING_COMMITMENT("the sponsor has not committed the statistical analysis "
                                 "plan (and randomisation list) yet")
    bound = keeper.trial_of_pseudonym(ctx.state, ctx.signer)
    if bound == m.trial:
        raise ALREADY_EXISTS("this pseudonym is already a participant")
    if bound is not None:
        raise PSEUDONYM_REUSED("a trial pseudonym serves one trial only")
    if trial["baseline"] is None:
        # The version in force at first enrolment is the pre-specified baseline.
        trial.update({"baseline": m.version, "baseline_height": ctx.height})
        ctx.emit(TRIALS_BASELINE_FROZEN, trial=m.trial, version=m.version)
    trial["participants"] += 1
    keeper.put_trial(ctx.state, trial)
    keeper.put_participant(ctx.state, m.trial, {
        "participant": ctx.signer, "site": m.site, "consent_version": m.version,
        "protocol": m.protocol, "enrolled_height": ctx.height, "enrolled_ms": ctx.time_ms,
        "status": ACTIVE, "withdrawn_height": None, "withdrawal": None})
    keeper.bind_pseudonym(ctx.state, ctx.signer, m.trial)
    _consent(ctx, m.trial, version)
    ctx.emit(TRIALS_ENROLLED, trial=m.trial, participant=ctx.signer, site=m.site,
             version=m.version)


def active_participant(ctx: Context, trial: str, pseudonym: str) -> keeper.Participant:
    found = keeper.get_participant(ctx.state, trial, pseudonym)
    if found is None:
        raise NOT_PARTICIPANT(f"{pseudonym} is not a participant of trial {trial}")
    if found["status"] != ACTIVE:
        raise WITHDRAWN(f"withdrew at height {found['withdrawn_height']}")
    return found


def reconsent(ctx: Context, msg: Msg) -> None:
    m = Reconsent.parse(msg)
    trial = roles.trial(ctx, m.trial)
    roles.open_trial(ctx, trial)
    participant = active_participant(ctx, m.trial, ctx.signer)
    version = _current(ctx, trial, m.version, m.protocol)
    if participant["consent_version"] == m.version:
        raise ALREADY_EXISTS(f"already consented to version {m.version}")
    participant.update({"consent_version": m.version, "protocol": m.protocol})
    keeper.put_participant(ctx.state, m.trial, participant)
    _consent(ctx, m.trial, version)
    ctx.emit(TRIALS_RECONSENTED, trial=m.trial, participant=ctx.signer, version=m.version)


def withdraw(ctx: Context, msg: Msg) -> None:
    m = Withdraw.parse(msg)
    trial = roles.trial(ctx, m.trial)
    participant = active_participant(ctx, m.trial, ctx.signer)
    version = keeper.get_version(ctx.state, m.trial, trial["version"])
    assert version is not None
    # The protocol in force says what happens to the data already collected.
    participant.update({"status": WITHDRAWN_STATUS, "withdrawn_height": ctx.height,
                        "withdrawal": version["withdrawal"]})
    keeper.put_participant(ctx.state, m.trial, participant)
    ctx.emit(TRIALS_WITHDRAWN, trial=m.trial, participant=ctx.signer,
             withdrawal=version["withdrawal"])
