"""Exchange handlers: Push, and Pull (request → approve/deny or standing consent →
receipt). View needs no message: the vault's audit entry is its trace."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules import records
from phrchain.modules.consent import (
    consents_of_patient,
    decide,
    get_consent,
    grantee_matches,
    require_patient,
    store_consent,
)
from phrchain.modules.consent.messages import Grant, Grantee, Scope
from phrchain.modules.exchange import keeper
from phrchain.modules.exchange.errors import (
    ALREADY_EXISTS,
    NOT_APPROVED,
    NOT_FOUND,
    NOT_PENDING,
    NOT_PERMITTED,
    OUT_OF_SCOPE,
    UNAUTHORIZED,
)
from phrchain.modules.exchange.messages import (
    APPROVE,
    DENY,
    EXCHANGE_APPROVED,
    EXCHANGE_DENIED,
    EXCHANGE_PUSHED,
    EXCHANGE_RECEIVED,
    EXCHANGE_REQUESTED,
    PUSH,
    RECEIVED,
    REQUEST,
    Answer,
    Approve,
    Push,
    Received,
    Request,
)
from phrchain.modules.identity import parties

_PROVIDERS: Final = frozenset({"practitioner", "organization"})


def _provider(ctx: Context, did: str, what: str) -> parties.Identity:
    identity = parties.acting(ctx.state, did)
    if identity is None or identity["kind"] not in _PROVIDERS:
        raise UNAUTHORIZED(f"{what} {did} is not an active practitioner or organization")
    return identity


def push(ctx: Context, msg: Msg) -> None:
    m = Push.parse(msg)
    _provider(ctx, ctx.signer, "sender")
    recipient = _provider(ctx, m.to, "recipient")
    sender_may = decide(ctx.state, ctx.signer, "read", m.record, m.purpose, ctx.time_ms)
    if not sender_may.permit:
        raise NOT_PERMITTED(f"the sender may not read the record ({sender_may.reason})")
    received = decide(ctx.state, m.to, "push", m.record, m.purpose, ctx.time_ms)
    if not received.permit:
        raise NOT_PERMITTED(f"the patient has not consented to this push ({received.reason})")
    org = parties.organization_of(recipient)
    assert org is not None
    records.add_holder(ctx.state, m.record, org)
    record = records.get_record(ctx.state, m.record)
    assert record is not None
    ctx.emit(EXCHANGE_PUSHED, record=m.record, patient=record["patient"], to=m.to,
             vault=org, consent=received.consent or "")


def _standing_consent(ctx: Context, requester: parties.Identity, m: Request) -> str | None:
    """A consent that already permits this whole pull, if the patient has one."""
    for consent_id in consents_of_patient(ctx.state, m.patient):
        c = get_consent(ctx.state, consent_id)
        assert c is not None
        if c["status"] == "active" and "pull" in c["actions"] \
                and m.purpose in c["purposes"] \
                and c["period"]["start_ms"] <= ctx.time_ms < c["period"]["end_ms"] \
                and grantee_matches(Grantee.parse(c["grantee"]), requester) \
                and Scope.stored(c["scope"]).contains(m.scope):
            return consent_id
    return None


def request(ctx: Context, msg: Msg) -> None:
    m = Request.parse(msg)
    requester = _provider(ctx, ctx.signer, "requester")
    if not parties.active_patient(ctx.state, m.patient):
        raise NOT_FOUND(f"{m.patient} is not an active patient")
    if keeper.get(ctx.state, m.request) is not None:
        raise ALREADY_EXISTS(m.request)
    standing = _standing_consent(ctx, requester, m)
    status = "pending" if standing is None else "approved"
    req: keeper.Request = {
        "request": m.request, "patient": m.patient, "requester": ctx.signer,
        "requester_kind": requester["kind"], "scope": m.scope.to_json(),
        "purpose": m.purpose, "status": status, "consent": standing,
        "height": ctx.height, "answered_height": None if standing is None else ctx.height,
    }
    keeper.put(ctx.state, req)
    keeper.index(ctx.state, req)
    ctx.emit(EXCHANGE_REQUESTED, request=m.request, patient=m.patient,
             requester=ctx.signer, status=status)


def _pending(ctx: Context, request_id: str) -> keeper.Request:
    req = keeper.get(ctx.state, request_id)
    if req is None:
        raise NOT_FOUND(request_id)
    if req["patient"] != ctx.signer:
        raise UNAUTHORIZED("only the patient asked may answer a request")
    if req["status"] != "pending":
        raise NOT_PENDING(f"{request_id} is {req['status']}")
    return req


def approve(ctx: Context, msg: Msg) -> None:
    m = Approve.parse(msg)
    require_patient(ctx)
    req = _pending(ctx, m.request)
    # The approval is a consent like any other (same id): revocable, and audited by id.
    store_consent(ctx, Grant(
        consent=m.request, grantee=Grantee(req["requester_kind"], req["requester"]),
        actions=("pull", "read"), scope=Scope.stored(req["scope"]),
        purposes=(req["purpose"],), start_ms=ctx.time_ms, end_ms=m.end_ms))
    req.update({"status": "approved", "consent": m.request, "answered_height": ctx.height})
    keeper.put(ctx.state, req)
    ctx.emit(EXCHANGE_APPROVED, request=m.request, patient=ctx.signer,
             requester=req["requester"])


def deny(ctx: Context, msg: Msg) -> None:
    m = Answer.parse(msg)
    require_patient(ctx)
    req = _pending(ctx, m.request)
    req.update({"status": "denied", "answered_height": ctx.height})
    keeper.put(ctx.state, req)
    ctx.emit(EXCHANGE_DENIED, request=m.request, patient=ctx.signer,
             requester=req["requester"])


def received(ctx: Context, msg: Msg) -> None:
    m = Received.parse(msg)
    org = _provider(ctx, ctx.signer, "receiver")
    if org["kind"] != "organization":
        raise UNAUTHORIZED("the receiving institution (its vault) records a copy")
    req = keeper.get(ctx.state, m.request)
    if req is None:
        raise NOT_FOUND(m.request)
    if req["status"] != "approved":
        raise NOT_APPROVED(f"{m.request} is {req['status']}")
    requester = parties.get(ctx.state, req["requester"])
    assert requester is not None
    if parties.organization_of(requester) != ctx.signer:
        raise UNAUTHORIZED("only the requester's own institution records the copy")
    record = records.get_record(ctx.state, m.record)
    if record is None or record["status"] == "erased":
        raise NOT_FOUND(m.record)
    if record["patient"] != req["patient"] or not Scope.stored(req["scope"]).names(m.record):
        raise OUT_OF_SCOPE(f"{m.record} is not within request {m.request}")
    if records.add_holder(ctx.state, m.record, ctx.signer):
        ctx.emit(EXCHANGE_RECEIVED, request=m.request, record=m.record,
                 patient=record["patient"], vault=ctx.signer)


HANDLERS: Final[Mapping[str, Handler]] = {
    PUSH: push, REQUEST: request, APPROVE: approve, DENY: deny, RECEIVED: received,
}
