"""Case-report data: entries anchored by site investigators (authorship), corrections
that never obscure what was recorded, and signatures with their meaning (review,
approval)."""

from __future__ import annotations

from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.trials import keeper, roles
from phrchain.modules.trials.errors import (
    ALREADY_EXISTS,
    RECONSENT_REQUIRED,
    UNKNOWN_ENTRY,
    WRONG_SITE,
)
from phrchain.modules.trials.messages import TRIALS_ENTERED, TRIALS_SIGNED, Entry, Sign
from phrchain.modules.trials.participants import active_participant

AUTHORSHIP = "authorship"


def entry(ctx: Context, msg: Msg) -> None:
    m = Entry.parse(msg)
    trial = roles.trial(ctx, m.trial)
    site = roles.investigator(ctx, m.trial)
    roles.open_trial(ctx, trial)
    participant = active_participant(ctx, m.trial, m.participant)
    if participant["site"] != site:
        raise WRONG_SITE(f"the participant is enrolled at {participant['site']}")
    if participant["consent_version"] < trial["reconsent_version"]:
        raise RECONSENT_REQUIRED(f"version {trial['reconsent_version']} needs the "
                                 "participant's consent")
    if keeper.entry_exists(ctx.state, m.trial, m.entry):
        raise ALREADY_EXISTS(f"entry {m.entry}")
    if m.corrects is not None:
        corrected = keeper.get_entry(ctx.state, m.trial, m.corrects)
        if corrected is None or corrected["participant"] != m.participant:
            raise UNKNOWN_ENTRY(f"no entry {m.corrects} of this participant to correct")
    keeper.put_entry(ctx.state, m.trial, {
        "entry": m.entry, "participant": m.participant, "commitment": m.commitment,
        "signer": ctx.signer, "site": site, "meaning": AUTHORSHIP, "corrects": m.corrects,
        "reason": m.reason, "height": ctx.height, "time_ms": ctx.time_ms})
    ctx.emit(TRIALS_ENTERED, trial=m.trial, entry=m.entry, participant=m.participant,
             site=site, corrects=m.corrects or "")


def sign(ctx: Context, msg: Msg) -> None:
    m = Sign.parse(msg)
    trial = roles.trial(ctx, m.trial)
    site = roles.investigator(ctx, m.trial)
    roles.open_trial(ctx, trial)
    found = keeper.get_entry(ctx.state, m.trial, m.entry)
    if found is None:
        raise UNKNOWN_ENTRY(f"no entry {m.entry} in this trial")
    if found["site"] != site:
        raise WRONG_SITE(f"the entry was recorded at {found['site']}")
    if keeper.get_signature(ctx.state, m.trial, m.entry, m.meaning, ctx.signer) is not None:
        raise ALREADY_EXISTS(f"{m.meaning} of {m.entry} by this signer")
    keeper.put_signature(ctx.state, m.trial, {
        "entry": m.entry, "signer": ctx.signer, "meaning": m.meaning, "height": ctx.height,
        "time_ms": ctx.time_ms})
    ctx.emit(TRIALS_SIGNED, trial=m.trial, entry=m.entry, signer=ctx.signer,
             meaning=m.meaning)
