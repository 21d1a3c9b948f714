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
from typing import Any, Final

from phrchain.core import encoding
from phrchain.core.state import Overlay, Reader
from phrchain.modules.claims.adjudicate import Usage
from phrchain.modules.paging import suffixes

_PRODUCT: Final = b"claims/p/"
_CURRENT: Final = b"claims/pc/"
_ENROLMENT: Final = b"claims/n/"
_USAGE: Final = b"claims/u/"
_CLAIM: Final = b"claims/c/"
_BY_PATIENT: Final = b"claims/cp/"
_BY_INSURER: Final = b"claims/ci/"
_BY_STATUS: Final = b"claims/cs/"
_BY_REASON: Final = b"claims/r/"
_BILL: Final = b"claims/db/"
_ENCOUNTER: Final = b"claims/de/"
_MARK: Final = b"1"

Product = dict[str, Any]
Enrolment = dict[str, Any]
Claim = dict[str, Any]


def _path(*parts: str | int) -> bytes:
    return "/".join(str(p) for p in parts).encode()


def _get(state: Reader, key: bytes) -> Any:
    raw = state.get(key)
    return None if raw is None else encoding.decode(raw)


# -- products ------------------------------------------------------------------------
def product_key(insurer: str, product: str, version: int) -> bytes:
    return _PRODUCT + _path(insurer, product, version)


def current_key(insurer: str, product: str) -> bytes:
    return _CURRENT + _path(insurer, product)


def current_version(state: Reader, insurer: str, product: str) -> int:
    """The product's current version, 0 if it was never published."""
    version = _get(state, current_key(insurer, product))
    return 0 if version is None else int(version)


def get_product(state: Reader, insurer: str, product: str,
                version: int | None = None) -> Product | None:
    if version is None:
        version = current_version(state, insurer, product)
    return _get(state, product_key(insurer, product, version)) if version else None


def put_product(state: Overlay, product: Product) -> None:
    insurer, pid, version = product["insurer"], product["product"], product["version"]
    state.set(product_key(insurer, pid, version), encoding.encode_trusted(product))
    state.set(current_key(insurer, pid), encoding.encode_trusted(version))


def products_of(state: Reader, insurer: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, _CURRENT + _path(insurer, ""), after)


# -- enrolments and usage ------------------------------------------------------------
def _enrolment_prefix(patient: str, insurer: str, product: str) -> bytes:
    return _ENROLMENT + _path(patient, insurer, product, "")


def enrolment_key(patient: str, insurer: str, product: str, seq: int) -> bytes:
    return _enrolment_prefix(patient, insurer, product) + f"{seq:06d}".encode()


def enrolments(state: Reader, patient: str, insurer: str, product: str) -> list[Enrolment]:
    """A patient's enrolments in one product, oldest first (periods never overlap)."""
    prefix = _enrolment_prefix(patient, insurer, product)
    return [encoding.decode(raw) for _, raw in state.iterate(prefix)]


def latest_enrolment(state: Reader, patient: str, insurer: str,
                     product: str) -> Enrolment | None:
    found = enrolments(state, patient, insurer, product)
    return found[-1] if found else None


def put_enrolment(state: Overlay, e: Enrolment) -> None:
    state.set(enrolment_key(e["patient"], e["insurer"], e["product"], e["seq"]),
              encoding.encode_trusted(e))


def enrolment_ids(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    """``<insurer>/<product>/<seq>`` of every enrolment of a patient."""
    return suffixes(state, _ENROLMENT + _path(patient, ""), after)


def enrolment_by_id(state: Reader, patient: str, enrolment_id: str) -> Enrolment | None:
    found: Enrolment | None = _get(state, _ENROLMENT + _path(patient, enrolment_id))
    return found


def _usage_key(claim: Claim) -> bytes:
    # Not per enrolment: coverage years count from the first enrolment in the product,
    # so leaving and enrolling again cannot reset a deductible or a yearly limit.
    return _USAGE + _path(claim["patient"], claim["insurer"], claim["product"],
                          claim["year"])


def usage(state: Reader, claim: Claim) -> Usage:
    """Usage of the coverage year a claim falls in (``claim`` needs patient, insurer,
    product and year)."""
    found = _get(state, _usage_key(claim))
    return Usage() if found is None else Usage(found["deductible_used"], found["paid"])


def put_usage(state: Overlay, claim: Claim, used: Usage) -> None:
    state.set(_usage_key(claim), encoding.encode_trusted(
        {"deductible_used": used.deductible_used, "paid": used.paid}))


# -- claims --------------------------------------------------------------------------
def claim_key(claim_id: str) -> bytes:
    return _CLAIM + claim_id.encode()


def get_claim(state: Reader, claim_id: str) -> Claim | None:
    result: Claim | None = _get(state, claim_key(claim_id))
    return result


def put_claim(state: Overlay, claim: Claim) -> None:
    state.set(claim_key(claim["claim"]), encoding.encode_trusted(claim))


def index_claim(state: Overlay, claim: Claim) -> None:
    state.set(_BY_PATIENT + _path(claim["patient"], claim["claim"]), _MARK)
    state.set(_BY_INSURER + _path(claim["insurer"], claim["claim"]), _MARK)
    for reason in claim["reasons"]:
        add_reason_index(state, claim["claim"], reason)
    state.set(_BY_STATUS + _path(claim["insurer"], claim["status"], claim["claim"]), _MARK)


def move_status(state: Overlay, claim: Claim, old: str) -> None:
    """Re-index a claim whose status changed from ``old``."""
    if old != claim["status"]:
        state.delete(_BY_STATUS + _path(claim["insurer"], old, claim["claim"]))
        state.set(_BY_STATUS + _path(claim["insurer"], claim["status"], claim["claim"]), _MARK)


def add_reason_index(state: Overlay, claim_id: str, reason: str) -> None:
    state.set(_BY_REASON + _path(reason, claim_id), _MARK)


def of_patient(state: Reader, patient: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, _BY_PATIENT + _path(patient, ""), after)


def of_insurer(state: Reader, insurer: str, status: str | None = None,
               after: str | None = None) -> Iterator[str]:
    if status is None:
        return suffixes(state, _BY_INSURER + _path(insurer, ""), after)
    return suffixes(state, _BY_STATUS + _path(insurer, status, ""), after)


def by_reason(state: Reader, reason: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, _BY_REASON + _path(reason, ""), after)


# -- duplicate detection -------------------------------------------------------------
def claimed_bill(state: Reader, bill_id: str) -> str | None:
    raw = state.get(_BILL + bill_id.encode())
    return None if raw is None else raw.decode()


def claimed_encounter(state: Reader, encounter: str) -> str | None:
    raw = state.get(_ENCOUNTER + encounter.encode())
    return None if raw is None else raw.decode()


def mark_claimed(state: Overlay, claim_id: str, bill_id: str, encounter: str) -> None:
    """Remember the first claim that named a bill and an encounter."""
    if claimed_bill(state, bill_id) is None:
        state.set(_BILL + bill_id.encode(), claim_id.encode())
    if claimed_encounter(state, encounter) is None:
        state.set(_ENCOUNTER + encounter.encode(), claim_id.encode())
