"""Who acts for a trial: its sponsor, its site investigators, its participants."""

from __future__ import annotations

from typing import Final

from phrchain.core.module import Context
from phrchain.modules.identity import parties
from phrchain.modules.trials import keeper
from phrchain.modules.trials.errors import (
    LOCKED,
    NOT_ENABLED,
    NOT_INVESTIGATOR,
    NOT_REGISTERED,
    UNAUTHORIZED,
)

SPONSOR_ORG_TYPES: Final = frozenset({"research_institute", "hospital"})
SITE_ORG_TYPES: Final = frozenset({"hospital", "clinic", "research_institute"})
SPONSOR_ROLE: Final = "researcher"
INVESTIGATOR_ROLES: Final = frozenset({"physician", "researcher"})


def params(ctx: Context) -> keeper.Params:
    found = keeper.current_params(ctx.state)
    if found is None:
        raise NOT_ENABLED("this chain's genesis set no trials parameters")
    return found


def sponsor(ctx: Context, trial: keeper.Trial | None = None) -> str:
    """The organization the signer sponsors for: an active research institute or
    hospital itself, or its staff with role ``researcher``; with ``trial``, its sponsor."""
    signer = parties.acting(ctx.state, ctx.signer)
    org = None if signer is None else parties.organization_of(signer)
    if signer is None or org is None \
            or parties.org_type(ctx.state, org) not in SPONSOR_ORG_TYPES \
            or (signer["kind"] == "practitioner" and not parties.has_role(signer, SPONSOR_ROLE)) \
            or (trial is not None and org != trial["sponsor"]):
        whose = "a research institute or hospital" if trial is None else "the trial's sponsor"
        raise UNAUTHORIZED(f"only {whose} or its staff with role {SPONSOR_ROLE} may do this")
    return org


def investigator(ctx: Context, trial: str) -> str:
    """The site organization of the signer: an active practitioner with role physician
    or researcher of an organization that is a site of the trial's current version."""
    signer = parties.acting(ctx.state, ctx.signer)
    org = None if signer is None else parties.organization_of(signer)
    if signer is None or org is None or signer["kind"] != "practitioner" \
            or not any(parties.has_role(signer, r) for r in INVESTIGATOR_ROLES) \
            or not keeper.is_site(ctx.state, trial, org):
        raise NOT_INVESTIGATOR(f"{ctx.signer} is not a physician or researcher of a site "
                               "of this trial")
    return org


def trial(ctx: Context, trial_id: str) -> keeper.Trial:
    found = keeper.get_trial(ctx.state, trial_id)
    if found is None:
        raise NOT_REGISTERED(f"no trial {trial_id} is registered (as of this block)")
    return found


def open_trial(ctx: Context, found: keeper.Trial) -> None:
    if found["locked_height"] is not None:
        raise LOCKED(f"the database was locked at height {found['locked_height']}")
