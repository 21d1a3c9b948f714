"""Claims queries: products, enrolments and claims (lists paged as in ``paging``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.core.errors import BAD_QUERY
from phrchain.core.module import Query, QueryResult
from phrchain.core.state import Reader
from phrchain.modules.claims import keeper, keys
from phrchain.modules.claims.adjudicate import APPROVED, DENIED, PARTIAL, REFERRED
from phrchain.modules.claims.reasons import REASONS
from phrchain.modules.paging import number, object_id, page, paging, text

STATUSES: Final = frozenset({APPROVED, PARTIAL, DENIED, REFERRED})


def product(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A product's current version, or the version asked for (provable)."""
    insurer, pid = text(data, "insurer"), object_id(data, "product")
    version = number(data, "version") if data.get("version") is not None \
        else keeper.current_version(state, insurer, pid)
    return QueryResult(keeper.get_product(state, insurer, pid, version),
                       keys.product_key(insurer, pid, version))


def products(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """An insurer's product ids, each with its current version."""
    insurer, pg = text(data, "insurer"), paging(data)
    ids, after = page(pg, lambda a: keeper.products_of(state, insurer, a))
    return QueryResult({"insurer": insurer, "next": after, "products": [
        {"product": pid, "version": keeper.current_version(state, insurer, pid)}
        for pid in ids]})


def enrolment(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """A patient's latest enrolment in a product (or None); provable when there is one."""
    patient, insurer = text(data, "patient"), text(data, "insurer")
    pid = object_id(data, "product")
    found = keeper.latest_enrolment(state, patient, insurer, pid)
    return QueryResult(found, None if found is None
                       else keys.enrolment_key(patient, insurer, pid, found["seq"]))


def enrolments(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Every enrolment of a patient; ``next`` is an ``<insurer>/<product>/<seq>`` cursor."""
    patient, pg = text(data, "patient"), paging(data)
    ids, after = page(pg, lambda a: keeper.enrolment_ids(state, patient, a))
    return QueryResult({"patient": patient, "next": after,
                        "enrolments": [keeper.enrolment_by_id(state, patient, i) for i in ids]})


def claim(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    claim_id = object_id(data, "claim")
    return QueryResult(keeper.get_claim(state, claim_id), keys.claim_key(claim_id))


def of_patient(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    patient, pg = text(data, "patient"), paging(data)
    ids, after = page(pg, lambda a: keeper.of_patient(state, patient, a))
    return QueryResult({"patient": patient, "claims": ids, "next": after})


def of_insurer(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """An insurer's claims, optionally only those with a status (``referred``: the
    reviewers' work list)."""
    insurer, pg = text(data, "insurer"), paging(data)
    status = text(data, "status") if data.get("status") is not None else None
    if status is not None and status not in STATUSES:
        raise BAD_QUERY(f"'status' must be one of {sorted(STATUSES)}")
    ids, after = page(pg, lambda a: keeper.of_insurer(state, insurer, status, a))
    return QueryResult({"insurer": insurer, "status": status, "claims": ids, "next": after})


def by_reason(state: Reader, data: Mapping[str, Any]) -> QueryResult:
    """Claims that carry a reason code, of every insurer (regulators list fraud signals)."""
    reason, pg = text(data, "reason"), paging(data)
    if reason not in REASONS:
        raise BAD_QUERY(f"'reason' must be one of {sorted(REASONS)}")
    ids, after = page(pg, lambda a: keeper.by_reason(state, reason, a))
    return QueryResult({"reason": reason, "claims": ids, "next": after})


QUERIES: Final[Mapping[str, Query]] = {
    "product": product, "products": products, "enrolment": enrolment,
    "enrolments": enrolments, "claim": claim, "of_patient": of_patient,
    "of_insurer": of_insurer, "by_reason": by_reason,
}
