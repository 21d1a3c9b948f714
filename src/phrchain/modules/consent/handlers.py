"""Consent handlers: validate → change state → emit events."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules.consent import keeper
from phrchain.modules.consent.errors import ALREADY_REVOKED, NOT_FOUND, UNAUTHORIZED
from phrchain.modules.consent.grants import require_patient, store_consent
from phrchain.modules.consent.messages import (
    CONSENT_REVOKED,
    GRANT,
    REVOKE,
    Grant,
    Grantee,
    Revoke,
)


def grant(ctx: Context, msg: Msg) -> None:
    g = Grant.parse(msg)
    require_patient(ctx)
    store_consent(ctx, g)


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
