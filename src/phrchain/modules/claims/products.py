"""Products (insurer side) and enrolments (patient side)."""

from __future__ import annotations

from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules.claims import keeper
from phrchain.modules.claims.adjudicate import Rules
from phrchain.modules.claims.errors import (
    ALREADY_ENROLLED,
    BAD_PERIOD,
    CURRENCY_MISMATCH,
    NOT_ENROLLED,
    UNAUTHORIZED,
    UNKNOWN_PRODUCT,
)
from phrchain.modules.claims.messages import (
    CLAIMS_ENROLLED,
    CLAIMS_LEFT,
    CLAIMS_PUBLISHED,
    Enrol,
    Leave,
    Publish,
)
from phrchain.modules.identity import parties

INSURER = "insurer"
ACTIVE = "active"
ENDED = "ended"


def insurer_staff(ctx: Context, role: str, insurer: str | None = None) -> str:
    """The insurer the signer acts for: the insurer organization itself, or its staff
    holding ``role``. With ``insurer``, it must be that one."""
    signer = parties.acting(ctx.state, ctx.signer)
    org = None if signer is None else parties.organization_of(signer)
    if signer is None or org is None or parties.org_type(ctx.state, org) != INSURER \
            or (insurer is not None and org != insurer) \
            or (signer["kind"] == "practitioner" and not parties.has_role(signer, role)):
        whose = "an" if insurer is None else "this claim's"
        raise UNAUTHORIZED(f"only {whose} insurer or its staff with role {role} may do this")
    return org


def current_product(ctx: Context, insurer: str, product: str) -> keeper.Product:
    """The current version of a product of an active insurer."""
    _active_insurer(ctx, insurer)
    found = keeper.get_product(ctx.state, insurer, product)
    if found is None:
        raise UNKNOWN_PRODUCT(f"{insurer} publishes no product {product}")
    return found


def current_terms(ctx: Context, insurer: str, product: str
                  ) -> tuple[keeper.Product, Rules]:
    """:func:`current_product` (same checks, same errors) with its adjudication rules,
    both shared per stored product version: read only."""
    _active_insurer(ctx, insurer)
    found = keeper.product_terms(ctx.state, insurer, product)
    if found is None:
        raise UNKNOWN_PRODUCT(f"{insurer} publishes no product {product}")
    return found


def _active_insurer(ctx: Context, insurer: str) -> None:
    org = parties.acting(ctx.state, insurer)
    if org is None or org["kind"] != "organization" or org["org_type"] != INSURER:
        raise UNKNOWN_PRODUCT(f"{insurer} is not an active insurer")


def publish(ctx: Context, msg: Msg) -> None:
    m = Publish.parse(msg)
    insurer = insurer_staff(ctx, "clerk")
    version = keeper.current_version(ctx.state, insurer, m.product) + 1
    previous = keeper.get_product(ctx.state, insurer, m.product)
    if previous is not None and previous["currency"] != m.currency:
        # Coverage-year usage adds up payouts across versions: one product, one currency.
        raise CURRENCY_MISMATCH(f"product is in {previous['currency']}; a new version "
                                "keeps its currency (publish a new product instead)")
    product: keeper.Product = {
        "insurer": insurer, "product": m.product, "version": version, "name": m.name,
        "currency": m.currency, "deductible": m.deductible, "copay_bps": m.copay_bps,
        "per_claim_limit": m.per_claim_limit, "yearly_limit": m.yearly_limit,
        "waiting_ms": m.waiting_ms, "max_term_ms": m.max_term_ms,
        "covered": list(m.covered), "excluded": list(m.excluded),
        "refer_above": m.refer_above, "review_window_ms": m.review_window_ms,
        "appeal_window_ms": m.appeal_window_ms, "published_by": ctx.signer,
        "height": ctx.height, "time_ms": ctx.time_ms,
    }
    keeper.put_product(ctx.state, product)
    ctx.emit(CLAIMS_PUBLISHED, insurer=insurer, product=m.product, version=version)


def _require_patient(ctx: Context) -> None:
    if not parties.active_patient(ctx.state, ctx.signer):
        raise UNAUTHORIZED("only an active patient enrols, leaves or files claims")


def _running(ctx: Context, e: keeper.Enrolment | None) -> bool:
    return e is not None and e["status"] == ACTIVE and e["end_ms"] > ctx.time_ms


def enrol(ctx: Context, msg: Msg) -> None:
    m = Enrol.parse(msg)
    _require_patient(ctx)
    product = current_product(ctx, m.insurer, m.product)
    if m.start_ms < ctx.time_ms or m.end_ms <= m.start_ms \
            or m.end_ms - m.start_ms > product["max_term_ms"]:
        raise BAD_PERIOD(f"[{m.start_ms}, {m.end_ms}) at block time {ctx.time_ms}, "
                         f"longest term {product['max_term_ms']} ms")
    latest = keeper.latest_enrolment(ctx.state, ctx.signer, m.insurer, m.product)
    if latest is not None and _running(ctx, latest):
        raise ALREADY_ENROLLED(f"enrolment {latest['seq']} runs until {latest['end_ms']}")
    seq = 1 if latest is None else latest["seq"] + 1
    keeper.put_enrolment(ctx.state, {
        "patient": ctx.signer, "insurer": m.insurer, "product": m.product, "seq": seq,
        "start_ms": m.start_ms, "end_ms": m.end_ms, "status": ACTIVE,
        "enrolled_height": ctx.height, "ended_height": None,
    })
    ctx.emit(CLAIMS_ENROLLED, patient=ctx.signer, insurer=m.insurer, product=m.product,
             seq=seq)


def leave(ctx: Context, msg: Msg) -> None:
    m = Leave.parse(msg)
    _require_patient(ctx)
    latest = keeper.latest_enrolment(ctx.state, ctx.signer, m.insurer, m.product)
    if latest is None or not _running(ctx, latest):
        raise NOT_ENROLLED(f"{m.insurer} product {m.product}")
    # Coverage ends now; an enrolment that had not started yet covers nothing.
    latest.update({"status": ENDED, "end_ms": max(latest["start_ms"], ctx.time_ms),
                   "ended_height": ctx.height})
    keeper.put_enrolment(ctx.state, latest)
    ctx.emit(CLAIMS_LEFT, patient=ctx.signer, insurer=m.insurer, product=m.product,
             seq=latest["seq"])
