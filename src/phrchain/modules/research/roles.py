"""Who acts in research: donors (patient pseudonyms), research institutes, custodian
organizations releasing datasets, and the approvers whose signatures the chain checks."""

from __future__ import annotations

from typing import Final

from phrchain.core import keys
from phrchain.core.errors import CryptoError
from phrchain.core.module import Context
from phrchain.modules.identity import parties
from phrchain.modules.research import keeper
from phrchain.modules.research.errors import BAD_APPROVAL, NOT_ENABLED, UNAUTHORIZED

INSTITUTE_ORG_TYPE: Final = "research_institute"
RESEARCHER: Final = "researcher"
# A data review board / IRB member, and a custodian's release approver (privacy officer).
APPROVER_ROLES: Final = frozenset({"researcher", "auditor"})
IRB_ORG_TYPES: Final = frozenset({"hospital", "research_institute"})


def params(ctx: Context) -> keeper.Params:
    found = keeper.current_params(ctx.state)
    if found is None:
        raise NOT_ENABLED("this chain's genesis set no research parameters")
    return found


def institute(ctx: Context) -> str:
    """The research institute the signer acts for: an active research institute itself,
    or its practitioner with role researcher."""
    signer = parties.acting(ctx.state, ctx.signer)
    org = None if signer is None else parties.organization_of(signer)
    if signer is None or org is None or parties.org_type(ctx.state, org) != INSTITUTE_ORG_TYPE \
            or (signer["kind"] == "practitioner" and not parties.has_role(signer, RESEARCHER)):
        raise UNAUTHORIZED("only an admitted research institute or its researcher may do this")
    return org


def custodian(ctx: Context) -> str:
    """The signer as a custodian: an active care organization (its vault releases)."""
    signer = parties.acting(ctx.state, ctx.signer)
    if signer is None or signer["kind"] != "organization" \
            or signer["org_type"] not in parties.CARE_ORG_TYPES | {"research_institute"}:
        raise UNAUTHORIZED("only a custodian organization releases a dataset")
    return ctx.signer


def approve(ctx: Context, approver: str, sig: bytes, message: bytes,
            org: str | None = None) -> None:
    """Check ``approver`` may approve (of ``org`` when given, else of a hospital or
    research institute) and that ``sig`` is its signature of ``message``."""
    who = parties.acting(ctx.state, approver)
    where = None if who is None else parties.organization_of(who)
    if who is None or where is None or approver == ctx.signer \
            or not any(parties.has_role(who, r) for r in APPROVER_ROLES) \
            or (org is not None and where != org) \
            or (org is None and parties.org_type(ctx.state, where) not in IRB_ORG_TYPES):
        raise BAD_APPROVAL(f"{approver} is not an active {'/'.join(sorted(APPROVER_ROLES))} "
                           "eligible to approve this")
    try:
        keys.verify(bytes.fromhex(who["signing_key"]), sig, message)
    except CryptoError:
        raise BAD_APPROVAL(f"the signature of {approver} does not verify") from None
