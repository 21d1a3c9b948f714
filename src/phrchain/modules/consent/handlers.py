"""Consent handlers: validate → change state → emit events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules import parties
from phrchain.modules.consent import keeper
from phrchain.modules.consent.errors import (
    ALREADY_EXISTS,
    ALREADY_REVOKED,
    BAD_PERIOD,
    NOT_FOUND,
    UNAUTHORIZED,
    UNKNOWN_GRANTEE,
)
from phrchain.modules.consent.messages import (
    CONSENT_GRANTED,
    CONSENT_REVOKED,
    GRANT,
    REVOKE,
    Grant,
    Grantee,
    Revoke,
)


def _check_grantee(ctx: Context, grantee: Grantee) -> None:
    if grantee.kind == "role":
        if grantee.organization is not None \
                and parties.org_type(ctx.state, grantee.organization) is None:
            raise UNKNOWN_GRANTEE(f"{grantee.organization} is not an organization")
        return
    identity = parties.acting(ctx.state, grantee.id)
    if identity is None or identity["kind"] != grantee.kind:
        raise UNKNOWN_GRANTEE(f"{grantee.id} is not an active {grantee.kind}")


def store(ctx: Context, g: Grant) -> None:
    """Write a consent of the signing patient (also used by exchange/approve)."""
    if keeper.get(ctx.state, g.consent) is not None:
        raise ALREADY_EXISTS(g.consent)
    if not g.start_ms < g.end_ms or g.end_ms <= ctx.time_ms:
        raise BAD_PERIOD(f"period [{g.start_ms}, {g.end_ms}) at block time {ctx.time_ms}")
    _check_grantee(ctx, g.grantee)
    consent: keeper.Consent = {
        "consent": g.consent, "patient": ctx.signer, "grantee": g.grantee.to_json(),
        "actions": list(g.actions), "scope": g.scope.to_json(),
        "purposes": list(g.purposes),
        "period": {"start_ms": g.start_ms, "end_ms": g.end_ms},
        "status": "active", "granted_height": ctx.height, "revoked_height": None,
    }
    keeper.put(ctx.state, consent)
    keeper.index(ctx.state, consent, g.grantee.index_key())
    ctx.emit(CONSENT_GRANTED, consent=g.consent, patient=ctx.signer,
             grantee=g.grantee.index_key())


def require_patient(ctx: Context) -> None:
    if not parties.active_patient(ctx.state, ctx.signer):
        raise UNAUTHORIZED("only an active patient grants, revokes or answers requests")


def grant(ctx: Context, msg: Msg) -> None:
    g = Grant.parse(msg)
    require_patient(ctx)
    store(ctx, g)


def revoke(ctx: Context, msg: Msg) -> None:
    m = Revoke.parse(msg)
    consent = keeper.get(ctx.state, m.consent)
    if consent is None:
        raise NOT_FOUND(m.consent)
    if consent["patient"] != ctx.signer:
        raise UNAUTHORIZED("only the patient who granted a consent may revoke it")
    if consent["status"] != "active":
        raise ALREADY_REVOKED(m.consent)
    consent["status"], consent["revoked_height"] = "revoked", ctx.height
    keeper.put(ctx.state, consent)
    ctx.emit(CONSENT_REVOKED, consent=m.consent, patient=ctx.signer,
             grantee=Grantee.parse(consent["grantee"]).index_key())


HANDLERS: Final[Mapping[str, Handler]] = {GRANT: grant, REVOKE: revoke}
