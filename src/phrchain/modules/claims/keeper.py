"""The only code that reads or writes the ``claims/`` key prefix.

State layout (values canonical JSON unless noted)::

    claims/p/<insurer>/<product>/<version>          -> product version (README "State")
    claims/pc/<insurer>/<product>                   -> current version (integer)
    claims/n/<patient>/<insurer>/<product>/<seq:06> -> enrolment
    claims/u/<patient>/<insurer>/<product>/<year> -> usage {deductible_used, paid}
    claims/c/<claim id>                             -> claim
    claims/cp/<patient>/<claim id>                  -> b"1"   claims of a patient
    claims/ci/<insurer>/<claim id>                  -> b"1"   claims to an insurer
    claims/cs/<insurer>/<status>/<claim id>         -> b"1"   ... by current status
    claims/r/<reason>/<claim id>                    -> b"1"   claims carrying a reason
    claims/db/<bill id>                             -> first claim naming the bill
    claims/de/<encounter key>                       -> first claim naming the encounter
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, NotRequired, TypedDict

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader
from phrchain.modules.claims.adjudicate import Rules, Usage
from phrchain.modules.claims.keys import (
    BY_INSURER,
    BY_PATIENT,
    BY_REASON,
    BY_STATUS,
    CURRENT,
    ENROLMENT,
    bill_claimed_key,
    claim_key,
    current_key,
    encounter_claimed_key,
    enrolment_key,
    enrolment_prefix,
    path,
    product_key,
    usage_key,
)
from phrchain.modules.paging import suffixes
from phrchain.modules.table import json_get, json_put

_MARK: Final = b"1"
# Decoded product versions and their adjudication rules, keyed by the stored bytes: a
# pure function of those bytes (never of height, chain or time), so a hit is exactly
# what decoding would give. Bounded; entries are shared and must never be mutated.
_TERMS_MAX: Final = 256
_terms: dict[bytes, tuple[Product, Rules]] = {}

class Product(TypedDict):
    """A product version at ``claims/p/...`` (README "State")."""

    insurer: str
    product: str
    version: int
    name: str
    currency: str
    deductible: int
    copay_bps: int
    per_claim_limit: int
    yearly_limit: int
    waiting_ms: int
    max_term_ms: int
    covered: list[str]             # code tags
    excluded: list[str]            # code tags
    refer_above: int
    review_window_ms: int
    appeal_window_ms: int
    published_by: str
    height: int
    time_ms: int


class Enrolment(TypedDict):
    """An enrolment at ``claims/n/...`` (README "State")."""

    patient: str
    insurer: str
    product: str
    seq: int
    start_ms: int
    end_ms: int
    status: str                    # active | ended
    enrolled_height: int
    ended_height: int | None


class ClaimedRecord(TypedDict):
    record: str
    commitment: str


class Claim(TypedDict):
    """A claim at ``claims/c/<id>`` (README "State"). The decision's fields are added in
    the filing tx itself, so every stored claim has them."""

    claim: str
    patient: str
    owner: str                     # owner of the records and bill: the linked pseudonym
    insurer: str
    product: str
    version: int
    currency: str
    bill: str
    encounter: str
    service_ms: int
    records: list[ClaimedRecord]
    amount: int
    enrolment: int                 # seq, 0 when never enrolled
    year: int                      # coverage year
    payout: int
    paid_amount: int
    payment: str                   # none | paid | unfunded
    paid_height: int | None
    usage_committed: bool
    filed_height: int
    appealed: bool
    review: dict[str, Any] | None
    status: NotRequired[str]
    reasons: NotRequired[list[str]]
    lines: NotRequired[list[dict[str, Any]]]
    eligible: NotRequired[int]
    deductible_applied: NotRequired[int]
    copay: NotRequired[int]
    rules_payout: NotRequired[int]
    decided_height: NotRequired[int]
    decided_ms: NotRequired[int]
    deadline_ms: NotRequired[int | None]


# -- products ------------------------------------------------------------------------
def current_version(state: Reader, insurer: str, product: str) -> int:
    """The product's current version, 0 if it was never published."""
    version = json_get(state, current_key(insurer, product))
    return 0 if version is None else int(version)


def get_product(state: Reader, insurer: str, product: str,
                version: int | None = None) -> Product | None:
    if version is None:
        version = current_version(state, insurer, product)
    found: Product | None = json_get(state, product_key(insurer, product, version)) \
        if version else None
    return found


def product_terms(state: Reader, insurer: str, product: str
                  ) -> tuple[Product, Rules] | None:
    """The current version of a product and its :class:`Rules`, decoded and parsed once
    per distinct stored value (claims filed under one product share them). Read only:
    the returned product is shared between callers."""
    version = current_version(state, insurer, product)
    raw = state.get(product_key(insurer, product, version)) if version else None
    if raw is None:
        return None
    found = _terms.get(raw)
    if found is None:
        decoded: Product = encoding.decode(raw)
        found = (decoded, Rules.of(decoded))
        if len(_terms) >= _TERMS_MAX:
            _terms.clear()
        _terms[raw] = found
    return found


def put_product(state: Overlay, product: Product) -> None:
    insurer, pid, version = product["insurer"], product["product"], product["version"]
    json_put(state, product_key(insurer, pid, version), product)
    json_put(state, current_key(insurer, pid), version)


def products_of(state: Reader, insurer: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, CURRENT + path(insurer, ""), after)


# -- enrolments and usage ------------------------------------------------------------
def enrolments(state: Reader, patient: str, insurer: str, product: str) -> list[Enrolment]:
    """A patient's enrolments in one product, oldest first (periods never overlap)."""
    prefix = enrolment_prefix(patient, insurer, product)
    return [encoding.decode(raw) for _, raw in state.iterate(prefix)]


def latest_enrolment(state: Reader, patient: str, insurer: str,
                     product: str) -> Enrolment | None:
    found = enrolments(state, patient, insurer, product)
    return found[-1] if found else None


def put_enrolment(state: Overlay, e: Enrolment) -> None:
    json_put(state, enrolment_key(e["patient"], e["insurer"], e["product"], e["seq"]), e)


def enrolment_ids(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    """``<insurer>/<product>/<seq>`` of every enrolment of a patient."""
    return suffixes(state, ENROLMENT + path(patient, ""), after)


def enrolment_by_id(state: Reader, patient: str, enrolment_id: str) -> Enrolment | None:
    found: Enrolment | None = json_get(state, ENROLMENT + path(patient, enrolment_id))
    return found


def _usage_key(claim: Claim) -> bytes:
    # Not per enrolment: coverage years count from the first enrolment in the product,
    # so leaving and enrolling again cannot reset a deductible or a yearly limit.
    return usage_key(claim["patient"], claim["insurer"], claim["product"], claim["year"])


def usage(state: Reader, claim: Claim) -> Usage:
    """Usage of the coverage year a claim falls in (``claim`` needs patient, insurer,
    product and year)."""
    found = json_get(state, _usage_key(claim))
    return Usage() if found is None else Usage(found["deductible_used"], found["paid"])


def put_usage(state: Overlay, claim: Claim, used: Usage) -> None:
    json_put(state, _usage_key(claim),
             {"deductible_used": used.deductible_used, "paid": used.paid})


# -- claims --------------------------------------------------------------------------
def get_claim(state: Reader, claim_id: str) -> Claim | None:
    result: Claim | None = json_get(state, claim_key(claim_id))
    return result


def put_claim(state: Overlay, claim: Claim) -> None:
    json_put(state, claim_key(claim["claim"]), claim)


def index_claim(state: Overlay, claim: Claim) -> None:
    state.set(BY_PATIENT + path(claim["patient"], claim["claim"]), _MARK)
    state.set(BY_INSURER + path(claim["insurer"], claim["claim"]), _MARK)
    for reason in claim["reasons"]:
        add_reason_index(state, claim["claim"], reason)
    state.set(BY_STATUS + path(claim["insurer"], claim["status"], claim["claim"]), _MARK)


def move_status(state: Overlay, claim: Claim, old: str) -> None:
    """Re-index a claim whose status changed from ``old``."""
    if old != claim["status"]:
        state.delete(BY_STATUS + path(claim["insurer"], old, claim["claim"]))
        state.set(BY_STATUS + path(claim["insurer"], claim["status"], claim["claim"]), _MARK)


def add_reason_index(state: Overlay, claim_id: str, reason: str) -> None:
    state.set(BY_REASON + path(reason, claim_id), _MARK)


def of_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, BY_PATIENT + path(patient, ""), after)


def of_insurer(state: Reader, insurer: str, status: str | None = None,
               after: str | None = None) -> Iterator[str]:
    if status is None:
        return suffixes(state, BY_INSURER + path(insurer, ""), after)
    return suffixes(state, BY_STATUS + path(insurer, status, ""), after)


def by_reason(state: Reader, reason: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, BY_REASON + path(reason, ""), after)


# -- duplicate detection -------------------------------------------------------------
def claimed_bill(state: Reader, bill_id: str) -> str | None:
    raw = state.get(bill_claimed_key(bill_id))
    return None if raw is None else raw.decode()


def claimed_encounter(state: Reader, encounter: str) -> str | None:
    raw = state.get(encounter_claimed_key(encounter))
    return None if raw is None else raw.decode()


def mark_claimed(state: Overlay, claim_id: str, bill_id: str, encounter: str,
                 seen: tuple[str | None, str | None] | None = None) -> None:
    """Remember the first claim that named a bill and an encounter. ``seen``: what
    :func:`claimed_bill` and :func:`claimed_encounter` answered in this same tx with no
    write in between (so they are not read again)."""
    bill_by, encounter_by = (claimed_bill(state, bill_id),
                             claimed_encounter(state, encounter)) if seen is None else seen
    if bill_by is None:
        state.set(bill_claimed_key(bill_id), claim_id.encode())
    if encounter_by is None:
        state.set(encounter_claimed_key(encounter), claim_id.encode())
