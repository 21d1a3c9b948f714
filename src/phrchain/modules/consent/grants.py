"""Writing a consent: shared by ``consent/grant`` and the other modules that grant one
(exchange approving a pull request, claims filing a claim). Public: re-exported from
``phrchain.modules.consent``."""

from __future__ import annotations

from phrchain.core.module import Context
from phrchain.modules.consent import keeper
from phrchain.modules.consent.errors import (
    ALREADY_EXISTS,
    BAD_PERIOD,
    UNAUTHORIZED,
    UNKNOWN_GRANTEE,
)
from phrchain.modules.consent.messages import CONSENT_GRANTED, Grant, Grantee
from phrchain.modules.identity import parties


def _check_grantee(ctx: Context, grantee: Grantee) -> None:
    if grantee.kind == "role":
        if grantee.organization is not None \
                and parties.org_type(ctx.state, grantee.organization) is None:
            raise UNKNOWN_GRANTEE(f"{grantee.organization} is not an organization")
        return
    identity = parties.acting(ctx.state, grantee.id)
    if identity is None or identity["kind"] != grantee.kind:
        raise UNKNOWN_GRANTEE(f"{grantee.id} is not an active {grantee.kind}")


def store_consent(ctx: Context, g: Grant) -> None:
    """Write a consent of the signing patient and emit ``consent.granted``: the one way a
    consent comes into being, for ``consent/grant`` and for the modules whose messages
    grant one as a side effect (``exchange/approve``, ``claims/file``). The caller has
    checked who the signer is (:func:`require_patient` or its own rule)."""
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
    """Refuse unless the signer is an active patient (who alone grants and answers)."""
    if not parties.active_patient(ctx.state, ctx.signer):
        raise UNAUTHORIZED("only an active patient grants, revokes or answers requests")
