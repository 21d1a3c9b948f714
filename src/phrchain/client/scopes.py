"""What a patient chooses a consent to cover, and the record ids that choice becomes.

On chain a consent's (or a pull request's) scope is ``{"all": true}`` or
``{"records": [ids]}`` (``modules/consent``): a category or a FHIR resource type is
health data, so it never leaves the patient's machine. The patient still *chooses* by
category or type; the wallet reads the descriptors of the records it owns and puts the
ids of those that match on chain. Such a scope is fixed at grant time: a record
registered later is covered by an ``all`` consent only.

:func:`matching_records` is the expansion (pure); :func:`owner_records_with_descriptors`
is where the descriptors come from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from phrchain.client.records import RecordsClient
from phrchain.client.session import RecordsError, Session
from phrchain.fhir.vocabulary import CATEGORIES
from phrchain.modules.consent.messages import MAX_SCOPE_RECORDS, Scope
from phrchain.modules.fields import is_id

__all__ = ["FUTURE_RECORDS_NOTE", "ScopeChoice", "matching_records",
           "owner_records_with_descriptors"]

FUTURE_RECORDS_NOTE: Final = ("a consent chosen by category or type covers the records "
                              "you hold now; to cover records added later, choose all")
_KINDS: Final = ("all", "records", "categories", "resources")


def matching_records(owner_records_with_descriptors: Iterable[Mapping[str, Any]],
                     categories: Iterable[str] = (), resources: Iterable[str] = ()
                     ) -> list[str]:
    """The ids (sorted, each once) of the records whose descriptor's ``category`` is one
    of ``categories`` or whose ``resource`` (FHIR type) is one of ``resources``.
    Each descriptor needs ``record``, ``resource`` and ``category``."""
    wanted_categories, wanted_resources = set(categories), set(resources)
    return sorted({d["record"] for d in owner_records_with_descriptors
                   if d["category"] in wanted_categories
                   or d["resource"] in wanted_resources})


def owner_records_with_descriptors(session: Session) -> list[dict[str, Any]]:
    """The caller's own records (as patient, not erased), each as ``{record, resource,
    category}``.

    What each record is comes from its sealed descriptor, opened with the owner's
    wrapped key (``RecordsClient.my_records`` merges them, fetched from each custodian's
    vault with ``keys/own``, batched, not an audited read); the chain has no type or
    category. A record whose descriptor could not be opened matches no category or type.
    Nothing else in this module reads a descriptor."""
    return [{"record": d["record"], "resource": d.get("resource"),
             "category": d.get("category")}
            for d in RecordsClient(session).my_records()]


@dataclass(frozen=True, slots=True)
class ScopeChoice:
    """The patient's choice: everything, chosen record ids, or categories and/or FHIR
    resource types (the wallet's side of a scope; never sent as such)."""

    all: bool = False
    records: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()

    @classmethod
    def parse(cls, value: Mapping[str, Any]) -> ScopeChoice:
        """``{"all": true}``, or any of ``records``, ``categories``, ``resources``
        (lists of strings). Raises :class:`RecordsError` with a sentence."""
        if not isinstance(value, Mapping) or not value or set(value) - set(_KINDS):
            raise RecordsError("choose all records, or record ids, categories or resource "
                               "types")
        if "all" in value:
            if value["all"] is not True or len(value) > 1:
                raise RecordsError("'all' is a choice of its own: {'all': true}")
            return cls(all=True)
        lists = {k: _strings(value.get(k, []), k) for k in _KINDS[1:]}
        if not any(lists.values()):
            raise RecordsError("choose at least one record, category or resource type")
        unknown = sorted(set(lists["categories"]) - set(CATEGORIES))
        if unknown:
            raise RecordsError(f"unknown categories: {', '.join(unknown)}")
        if lists["resources"]:
            from phrchain.fhir.validation import RESOURCE_TYPES

            unknown = sorted(set(lists["resources"]) - RESOURCE_TYPES)
            if unknown:
                raise RecordsError(f"not FHIR R4 resource types: {', '.join(unknown)}")
        bad = [r for r in lists["records"] if not is_id(r)]
        if bad:
            raise RecordsError(f"not a record id: {bad[0]!r} (32 lowercase hex characters)")
        return cls(False, lists["records"], lists["categories"], lists["resources"])

    @property
    def by_kind(self) -> bool:
        """Chosen by category or resource type (expanded against the patient's records)."""
        return bool(self.categories or self.resources)

    def expand(self, owned: Iterable[Mapping[str, Any]]) -> Scope:
        """The on-chain scope: ``all``, or the chosen ids together with the ids of the
        records in ``owned`` (:func:`owner_records_with_descriptors`) of a chosen
        category or type. Raises :class:`RecordsError` when that is no record, or more
        than one consent may name."""
        if self.all:
            return Scope(all=True)
        ids = set(self.records)
        if self.by_kind:
            ids.update(matching_records(owned, self.categories, self.resources))
        if not ids:
            raise RecordsError("none of your records is of the chosen categories or types "
                               f"({FUTURE_RECORDS_NOTE})")
        if len(ids) > MAX_SCOPE_RECORDS:
            raise RecordsError(f"the choice covers {len(ids)} records; a consent names at "
                               f"most {MAX_SCOPE_RECORDS}: choose all, or fewer categories")
        return Scope(records=tuple(sorted(ids)))

    def to_json(self) -> dict[str, Any]:
        """The choice as the patient made it (for the wallet's or web session's memory;
        not what goes on chain)."""
        if self.all:
            return {"all": True}
        return {k: list(v) for k, v in (("records", self.records),
                                         ("categories", self.categories),
                                         ("resources", self.resources)) if v}


def _strings(value: Any, name: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise RecordsError(f"{name} must be a list of strings")
    return tuple(sorted(set(value)))
