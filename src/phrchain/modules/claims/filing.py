"""``claims/file``: check the claim, gather the facts, adjudicate, store, pay, and grant
the insurer HPAYMT read access to exactly the named records.

The records and the bill belong to the *owner*: the signer, or the pseudonym the claim's
``link`` names (README "Pseudonyms and links"), whose signature the chain checks."""

from __future__ import annotations

import dataclasses
from typing import Final

from phrchain.core import keys
from phrchain.core.errors import CryptoError
from phrchain.core.module import Context
from phrchain.core.tx import Msg
from phrchain.modules import records, settlement
from phrchain.modules.claims import keeper, ledger
from phrchain.modules.claims.adjudicate import (
    APPROVED,
    PARTIAL,
    REFERRED,
    Decision,
    Facts,
    Period,
    Usage,
    adjudicate,
    coverage_year,
)
from phrchain.modules.claims.errors import (
    ALREADY_EXISTS,
    BAD_LINK,
    BILL_NOT_LINKED,
    BILL_NOT_YOURS,
    BILL_UNPAID,
    CURRENCY_MISMATCH,
    INVALID_FIELD,
    NOT_YOUR_RECORD,
    RECORD_NOT_LINKED,
    STALE_PRODUCT,
    UNAUTHORIZED,
    UNKNOWN_PSEUDONYM,
)
from phrchain.modules.claims.messages import CLAIMS_FILED, File, link_bytes
from phrchain.modules.claims.products import current_terms
from phrchain.modules.consent import get_consent, store_consent
from phrchain.modules.consent.messages import Grant, Grantee, Scope
from phrchain.modules.identity import parties

PAYMENT_PURPOSE: Final = "HPAYMT"


def _admitted(ctx: Context, record: records.Record, seen: dict[str, bool]) -> bool:
    """Registered by its custodian, an acting care organization (v2: the chain knows no
    author; the custodian's vault registered it for its staff); never self-reported.
    ``seen``: the answer per custodian so far in this tx (a claim's records mostly share
    one custodian; nothing is written while they are checked)."""
    if record["self_reported"]:
        return False
    did = record["custodian"]
    admitted = seen.get(did)
    if admitted is None:
        # ``acting`` returns the custodian's own identity record: for an organization
        # its org_type is what ``parties.org_type`` would read from the same key.
        custodian = parties.acting(ctx.state, did)
        admitted = seen[did] = custodian is not None \
            and custodian["kind"] == "organization" \
            and str(custodian["org_type"]) in parties.CARE_ORG_TYPES
    return admitted


def _owner(ctx: Context, m: File) -> str:
    """Whose records and bill the claim names: the signer, or the linked pseudonym once
    its signature over (claim, signer) verifies with its current signing key."""
    if m.link is None:
        return ctx.signer
    if m.link.pseudonym == ctx.signer:
        raise INVALID_FIELD("link names the signer itself; leave it out for one's own records")
    owner = parties.acting(ctx.state, m.link.pseudonym)
    if owner is None or owner["kind"] != "patient":
        raise UNKNOWN_PSEUDONYM(m.link.pseudonym)
    try:
        keys.verify(bytes.fromhex(owner["signing_key"]), m.link.sig,
                    link_bytes(m.claim, ctx.signer))
    except CryptoError:
        raise BAD_LINK(f"link by {m.link.pseudonym} for claim {m.claim}") from None
    return m.link.pseudonym


def _as_owner(ctx: Context, owner: str) -> Context:
    """The filing's context acting for ``owner`` (same block, state and event list): the
    HPAYMT consent is the owner's, which its link signature authorized."""
    return ctx if owner == ctx.signer else dataclasses.replace(ctx, signer=owner)


def _record_evidence(ctx: Context, m: File, owner: str) -> set[str]:
    found: set[str] = set()
    custodians: dict[str, bool] = {}
    for ref in m.records:
        record = records.get_record(ctx.state, ref.record)
        if record is not None and record["patient"] != owner:
            raise (NOT_YOUR_RECORD if m.link is None else RECORD_NOT_LINKED)(ref.record)
        if record is None or record["status"] == "erased":
            found.add("unregistered_record")
            continue
        if not _admitted(ctx, record, custodians):
            found.add("non_admitted_provider")
        if record["commitment"] != ref.commitment:
            found.add("tampered_record")
    return found


def _claimed(ctx: Context, bill: settlement.Bill) -> tuple[str | None, str | None]:
    """The first claims that named the bill and its encounter (None: not claimed yet)."""
    return (keeper.claimed_bill(ctx.state, bill["bill"]),
            keeper.claimed_encounter(ctx.state, bill["encounter"]))


def _enrolment(ctx: Context, m: File) -> tuple[int, Period | None, int]:
    """The enrolment whose period holds the service date, else the latest one: its
    sequence number (0 when the patient was never enrolled), its period, and the start
    of the patient's *first* enrolment in the product, from which coverage years count
    (so leaving and enrolling again does not reset the deductible or yearly limit)."""
    found = keeper.enrolments(ctx.state, ctx.signer, m.insurer, m.product)
    if not found:
        return 0, None, 0
    chosen = next((e for e in found if e["start_ms"] <= m.service_ms < e["end_ms"]),
                  found[-1])
    return chosen["seq"], Period(chosen["start_ms"], chosen["end_ms"]), found[0]["start_ms"]


def _checked_bill(ctx: Context, m: File, product: keeper.Product, owner: str
                  ) -> settlement.Bill:
    bill = settlement.get_bill(ctx.state, m.bill)
    if bill is None or bill["patient"] != owner:
        raise (BILL_NOT_YOURS if m.link is None else BILL_NOT_LINKED)(m.bill)
    if bill["status"] != "paid":
        raise BILL_UNPAID(m.bill)
    if bill["currency"] != product["currency"]:
        raise CURRENCY_MISMATCH(f"bill in {bill['currency']}, product in "
                                f"{product['currency']}")
    return bill


def _new_claim(ctx: Context, m: File, product: keeper.Product, bill: settlement.Bill,
               owner: str, enrolment: tuple[int, Period | None, int]) -> keeper.Claim:
    seq, period, first_start_ms = enrolment
    return {
        "claim": m.claim, "patient": ctx.signer, "owner": owner, "insurer": m.insurer,
        "product": m.product, "version": m.version, "currency": product["currency"],
        "bill": m.bill, "encounter": bill["encounter"], "service_ms": m.service_ms,
        "records": [{"record": r.record, "commitment": r.commitment} for r in m.records],
        "amount": m.amount, "enrolment": seq,
        "year": 0 if period is None else coverage_year(m.service_ms, first_start_ms),
        "payout": 0, "paid_amount": 0, "payment": ledger.NONE, "paid_height": None,
        "usage_committed": False, "filed_height": ctx.height, "appealed": False,
        "review": None,
    }


def _record_decision(ctx: Context, claim: keeper.Claim, d: Decision,
                     terms: tuple[keeper.Product, Usage]) -> None:
    claim.update({
        "status": d.status, "reasons": list(d.reasons),
        "lines": [line.to_json() for line in d.lines], "eligible": d.eligible,
        "deductible_applied": d.deductible_applied, "copay": d.copay,
        "rules_payout": d.rules_payout, "decided_height": ctx.height,
        "decided_ms": ctx.time_ms,
        "deadline_ms": ctx.time_ms + terms[0]["review_window_ms"] if d.status == REFERRED
        else None})
    if d.status in (APPROVED, PARTIAL):
        ledger.approve(ctx, claim, d.payout, terms)


def file(ctx: Context, msg: Msg) -> None:
    m = File.parse(msg)
    if not parties.active_patient(ctx.state, ctx.signer):
        raise UNAUTHORIZED("only an active patient files claims")
    product, rules = current_terms(ctx, m.insurer, m.product)
    if keeper.get_claim(ctx.state, m.claim) is not None \
            or get_consent(ctx.state, m.claim) is not None:
        raise ALREADY_EXISTS(m.claim)
    if m.version != product["version"]:
        raise STALE_PRODUCT(f"version {m.version} named, current is {product['version']}")
    owner = _owner(ctx, m)
    bill = _checked_bill(ctx, m, product, owner)
    if m.consent_end_ms <= ctx.time_ms:
        raise INVALID_FIELD("consent_end_ms must be after the block time")
    evidence = _record_evidence(ctx, m, owner)
    claimed = _claimed(ctx, bill)
    if claimed != (None, None):
        evidence.add("duplicate_claim")
    seq, period, first_start_ms = _enrolment(ctx, m)
    claim = _new_claim(ctx, m, product, bill, owner, (seq, period, first_start_ms))
    ctx.emit(CLAIMS_FILED, claim=m.claim, patient=ctx.signer, insurer=m.insurer,
             product=m.product, version=m.version)
    used = keeper.usage(ctx.state, claim)
    facts = Facts(tuple((line.tag, line.amount) for line in m.lines), m.amount,
                  bill["amount"], m.service_ms, ctx.time_ms, period, used,
                  frozenset(evidence))
    _record_decision(ctx, claim, adjudicate(rules, facts), (product, used))
    keeper.mark_claimed(ctx.state, m.claim, m.bill, bill["encounter"], claimed)
    keeper.put_claim(ctx.state, claim)
    keeper.index_claim(ctx.state, claim)
    # The insurer (and its staff) may read exactly these records, for payment only; the
    # consent is the records' owner's (the linked pseudonym's when there is a link).
    store_consent(_as_owner(ctx, owner), Grant(
        consent=m.claim, grantee=Grantee("organization", m.insurer), actions=("read",),
        scope=Scope(records=tuple(sorted(r.record for r in m.records))),
        purposes=(PAYMENT_PURPOSE,), start_ms=ctx.time_ms, end_ms=m.consent_end_ms))
    ledger.announce(ctx, claim)
