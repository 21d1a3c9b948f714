"""Trials messages (stateless checks). No participant is ever named by anything but the
per-trial pseudonym that signs or is named in the message (README "Privacy")."""

from __future__ import annotations

import itertools
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final, TypeVar

from phrchain.modules import fields
from phrchain.modules.trials.errors import INVALID_FIELD
from phrchain.modules.trials.outcomes import KINDS, Outcome

SET_PARAMS: Final = "trials/set_params"
REGISTER: Final = "trials/register"
AMEND: Final = "trials/amend"
COMMIT: Final = "trials/commit"
ENROL: Final = "trials/enrol"
RECONSENT: Final = "trials/reconsent"
WITHDRAW: Final = "trials/withdraw"
ENTRY: Final = "trials/entry"
SIGN: Final = "trials/sign"
LOCK: Final = "trials/lock"
UNBLIND: Final = "trials/unblind"
RESULTS: Final = "trials/results"

# Events the handlers emit (``Event.type``), for clients that filter events.
TRIALS_PARAMS_SET: Final = "trials.params_set"
TRIALS_REGISTERED: Final = "trials.registered"
TRIALS_AMENDED: Final = "trials.amended"
TRIALS_COMMITTED: Final = "trials.committed"
TRIALS_BASELINE_FROZEN: Final = "trials.baseline_frozen"
TRIALS_ENROLLED: Final = "trials.enrolled"
TRIALS_RECONSENTED: Final = "trials.reconsented"
TRIALS_WITHDRAWN: Final = "trials.withdrawn"
TRIALS_ENTERED: Final = "trials.entered"
TRIALS_SIGNED: Final = "trials.signed"
TRIALS_LOCKED: Final = "trials.locked"
TRIALS_UNBLINDED: Final = "trials.unblinded"
TRIALS_REPORTED: Final = "trials.reported"
EVENTS: Final = frozenset({
    TRIALS_PARAMS_SET, TRIALS_REGISTERED, TRIALS_AMENDED, TRIALS_COMMITTED,
    TRIALS_BASELINE_FROZEN, TRIALS_ENROLLED, TRIALS_RECONSENTED, TRIALS_WITHDRAWN,
    TRIALS_ENTERED, TRIALS_SIGNED, TRIALS_LOCKED, TRIALS_UNBLINDED, TRIALS_REPORTED})

# Shapes of a message (what one tx can carry); how many sites, arms, outcomes and
# versions a trial may have is a chain parameter (genesis, ``trials/set_params``).
MAX_LIST: Final = 256
STUDY_TYPES: Final = frozenset({"interventional", "observational"})
# What happens to a withdrawn participant's already-collected data (the protocol says).
WITHDRAWAL: Final = frozenset({"retain", "exclude"})
COMMIT_KINDS: Final = frozenset({"sap", "randomisation"})
MEANINGS: Final = frozenset({"review", "approval"})   # authorship is the entry itself
RESEARCH_PURPOSE: Final = "HRESCH"
PURPOSES: Final = frozenset({RESEARCH_PURPOSE})
_LABEL_RE: Final = re.compile(r"[A-Za-z0-9._-]{1,32}")
_REGISTRY_ID_RE: Final = re.compile(r"[A-Za-z0-9./:_-]{1,64}")
_COUNTRY_RE: Final = re.compile(r"[A-Z]{2}")
T = TypeVar("T")


def text(msg: Mapping[str, Any], name: str, high: int) -> str:
    """Printable text of 1 to ``high`` characters (no control characters)."""
    value = msg.get(name)
    if not isinstance(value, str) or not 1 <= len(value) <= high \
            or any(c < " " or c == "\x7f" for c in value):
        raise INVALID_FIELD(f"{name} must be 1 to {high} printable characters")
    return value


def _strings(msg: Mapping[str, Any], name: str, low: int, high: int,
             ok: Callable[[str], bool], what: str) -> tuple[str, ...]:
    """A sorted, duplicate-free list of ``low``..``high`` strings (one spelling per set)."""
    return fields.sorted_set(msg, name, INVALID_FIELD, ok, what, high, low)


def _printable(high: int) -> Callable[[str], bool]:
    return lambda v: 1 <= len(v) <= high and not any(c < " " or c == "\x7f" for c in v)


def _objects(msg: Mapping[str, Any], name: str, parse: Callable[[Mapping[str, Any]], T],
             key: Callable[[T], str]) -> tuple[T, ...]:
    """A list of 1..MAX_LIST objects, sorted by ``key`` and unique in it."""
    value = msg.get(name)
    if not isinstance(value, list) or not 1 <= len(value) <= MAX_LIST:
        raise INVALID_FIELD(f"{name} must be a list of 1 to {MAX_LIST} objects")
    items = tuple(fields.apply(parse, v, INVALID_FIELD, name) for v in value)
    if any(key(a) >= key(b) for a, b in itertools.pairwise(items)):
        raise INVALID_FIELD(f"{name} must be sorted by id, each id once")
    return items


def _sites(msg: Mapping[str, Any]) -> tuple[str, ...]:
    sites = _strings(msg, "sites", 1, MAX_LIST, lambda v: v.startswith("did:"), "DIDs")
    for site in sites:
        fields.did({"site": site}, "site", INVALID_FIELD)
    return sites


def parse_outcome(value: Mapping[str, Any], reported: bool = False) -> Outcome:
    """``{id, measure, time_frame, kind}`` (and ``declared_change`` when reported)."""
    names = ("id", "measure", "time_frame", "kind") + (("declared_change",) if reported else ())
    fields.exact(value, INVALID_FIELD, names)
    oid = value.get("id")
    if not isinstance(oid, str) or _LABEL_RE.fullmatch(oid) is None:
        raise INVALID_FIELD("an outcome id must be 1 to 32 characters [A-Za-z0-9._-]")
    return Outcome(oid, text(value, "measure", 256), text(value, "time_frame", 128),
                   fields.choice(value, "kind", KINDS, INVALID_FIELD),
                   fields.boolean(value, "declared_change", INVALID_FIELD) if reported
                   else False)


def outcome_json(o: Outcome, reported: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {"id": o.id, "measure": o.measure, "time_frame": o.time_frame,
                           "kind": o.kind}
    if reported:
        out["declared_change"] = o.declared_change
    return out


@dataclass(frozen=True, slots=True)
class Registration:
    """The WHO Trial Registration Data Set items that are not personal."""

    registry_ids: tuple[str, ...]
    title: str
    scientific_title: str
    conditions: tuple[str, ...]
    interventions: tuple[str, ...]
    study_type: str
    target_size: int
    countries: tuple[str, ...]
    ethics_ref: str
    ipd_sharing: str

    FIELDS: ClassVar[tuple[str, ...]] = (
        "registry_ids", "title", "scientific_title", "conditions", "interventions",
        "study_type", "target_size", "countries", "ethics_ref", "ipd_sharing")

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Registration:
        fields.exact(msg, INVALID_FIELD, cls.FIELDS)
        return cls(
            registry_ids=_strings(msg, "registry_ids", 0, 8,
                                  lambda v: _REGISTRY_ID_RE.fullmatch(v) is not None,
                                  "registry ids"),
            title=text(msg, "title", 300), scientific_title=text(msg, "scientific_title", 600),
            conditions=_strings(msg, "conditions", 1, 16, _printable(128), "conditions"),
            interventions=_strings(msg, "interventions", 1, 16, _printable(128),
                                   "interventions"),
            study_type=fields.choice(msg, "study_type", STUDY_TYPES, INVALID_FIELD),
            target_size=fields.integer(msg, "target_size", INVALID_FIELD, 1, 10**8),
            countries=_strings(msg, "countries", 1, 64,
                               lambda v: _COUNTRY_RE.fullmatch(v) is not None,
                               "ISO 3166 alpha-2 codes"),
            ethics_ref=text(msg, "ethics_ref", 128), ipd_sharing=text(msg, "ipd_sharing", 1000))

    def to_json(self) -> dict[str, Any]:
        return {"registry_ids": list(self.registry_ids), "title": self.title,
                "scientific_title": self.scientific_title,
                "conditions": list(self.conditions), "interventions": list(self.interventions),
                "study_type": self.study_type, "target_size": self.target_size,
                "countries": list(self.countries), "ethics_ref": self.ethics_ref,
                "ipd_sharing": self.ipd_sharing}


@dataclass(frozen=True, slots=True)
class Protocol:
    """What a protocol version says on chain; the document itself stays in the sponsor's
    vault, committed by ``protocol`` (64 hex, a salted hash)."""

    registration: Registration
    sites: tuple[str, ...]
    arms: tuple[str, ...]
    outcomes: tuple[Outcome, ...]
    protocol: str
    withdrawal: str

    FIELDS: ClassVar[tuple[str, ...]] = ("registration", "sites", "arms", "outcomes",
                                         "protocol", "withdrawal")

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Protocol:
        outcomes = _objects(msg, "outcomes", parse_outcome, lambda o: o.id)
        if not any(o.kind == "primary" for o in outcomes):
            raise INVALID_FIELD("outcomes must name at least one primary outcome")
        return cls(
            registration=fields.apply(Registration.parse, msg.get("registration"),
                                      INVALID_FIELD, "registration"),
            sites=_sites(msg),
            arms=_strings(msg, "arms", 1, MAX_LIST,
                          lambda v: _LABEL_RE.fullmatch(v) is not None, "arm ids"),
            outcomes=outcomes, protocol=fields.digest(msg, "protocol", INVALID_FIELD),
            withdrawal=fields.choice(msg, "withdrawal", WITHDRAWAL, INVALID_FIELD))

    def to_json(self) -> dict[str, Any]:
        return {"registration": self.registration.to_json(), "sites": list(self.sites),
                "arms": list(self.arms), "outcomes": [outcome_json(o) for o in self.outcomes],
                "protocol": self.protocol, "withdrawal": self.withdrawal}


@dataclass(frozen=True, slots=True)
class SetParams:
    """``trials/set_params``: a new version of the chain's trial parameters."""

    start_window_ms: int
    max_sites: int
    max_arms: int
    max_outcomes: int
    max_versions: int

    TYPE: ClassVar[str] = SET_PARAMS
    FIELDS: ClassVar[tuple[str, ...]] = ("start_window_ms", "max_sites", "max_arms",
                                         "max_outcomes", "max_versions")

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> SetParams:
        fields.exact(msg, INVALID_FIELD, cls.FIELDS)
        return cls(fields.integer(msg, "start_window_ms", INVALID_FIELD, 0),
                   fields.integer(msg, "max_sites", INVALID_FIELD, 1, MAX_LIST),
                   fields.integer(msg, "max_arms", INVALID_FIELD, 1, MAX_LIST),
                   fields.integer(msg, "max_outcomes", INVALID_FIELD, 1, MAX_LIST),
                   fields.integer(msg, "max_versions", INVALID_FIELD, 1, 999_999))

    def to_json(self) -> dict[str, Any]:
        return {"start_window_ms": self.start_window_ms, "max_sites": self.max_sites,
                "max_arms": self.max_arms, "max_outcomes": self.max_outcomes,
                "max_versions": self.max_versions}

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, **self.to_json()}


@dataclass(frozen=True, slots=True)
class Register:
    """``trials/register``: version 1 of a trial, registered at the block's time."""

    trial: str
    start_ms: int
    protocol: Protocol

    TYPE: ClassVar[str] = REGISTER

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Register:
        fields.exact(msg, INVALID_FIELD, ("trial", "start_ms", *Protocol.FIELDS))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   fields.integer(msg, "start_ms", INVALID_FIELD), Protocol.parse(msg))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial, "start_ms": self.start_ms,
                **self.protocol.to_json()}


@dataclass(frozen=True, slots=True)
class Amend:
    """``trials/amend``: version ``base + 1`` of a trial, with a reason and whether the
    participants must consent again."""

    trial: str
    base: int
    protocol: Protocol
    reason: str
    reconsent: bool

    TYPE: ClassVar[str] = AMEND

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Amend:
        fields.exact(msg, INVALID_FIELD, ("trial", "base", "reason", "reconsent",
                                          *Protocol.FIELDS))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   fields.integer(msg, "base", INVALID_FIELD, 1), Protocol.parse(msg),
                   text(msg, "reason", 500), fields.boolean(msg, "reconsent", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial, "base": self.base,
                **self.protocol.to_json(), "reason": self.reason, "reconsent": self.reconsent}


@dataclass(frozen=True, slots=True)
class Commit:
    """``trials/commit``: a salted hash of the statistical analysis plan or the
    randomisation list (the document stays encrypted in the sponsor's vault)."""

    trial: str
    kind: str
    commitment: str

    TYPE: ClassVar[str] = COMMIT

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Commit:
        fields.exact(msg, INVALID_FIELD, ("trial", "kind", "commitment"))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   fields.choice(msg, "kind", COMMIT_KINDS, INVALID_FIELD),
                   fields.digest(msg, "commitment", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial, "kind": self.kind,
                "commitment": self.commitment}


@dataclass(frozen=True, slots=True)
class Enrol:
    """``trials/enrol``: the participant's research consent, signed by its trial
    pseudonym, bound to a protocol version and its commitment."""

    trial: str
    version: int
    protocol: str
    site: str
    purpose: str = RESEARCH_PURPOSE

    TYPE: ClassVar[str] = ENROL

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Enrol:
        fields.exact(msg, INVALID_FIELD, ("trial", "version", "protocol", "site", "purpose"))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   fields.integer(msg, "version", INVALID_FIELD, 1),
                   fields.digest(msg, "protocol", INVALID_FIELD),
                   fields.did(msg, "site", INVALID_FIELD),
                   fields.choice(msg, "purpose", PURPOSES, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial, "version": self.version,
                "protocol": self.protocol, "site": self.site, "purpose": self.purpose}


@dataclass(frozen=True, slots=True)
class Reconsent:
    """``trials/reconsent``: the participant consents to a newer protocol version."""

    trial: str
    version: int
    protocol: str

    TYPE: ClassVar[str] = RECONSENT

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Reconsent:
        fields.exact(msg, INVALID_FIELD, ("trial", "version", "protocol"))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   fields.integer(msg, "version", INVALID_FIELD, 1),
                   fields.digest(msg, "protocol", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial, "version": self.version,
                "protocol": self.protocol}


@dataclass(frozen=True, slots=True)
class _TrialOnly:
    trial: str

    TYPE: ClassVar[str]

    @classmethod
    def parse(cls: type[_T], msg: Mapping[str, Any]) -> _T:
        fields.exact(msg, INVALID_FIELD, ("trial",))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial}


_T = TypeVar("_T", bound=_TrialOnly)


class Withdraw(_TrialOnly):
    """``trials/withdraw``: the participant leaves the trial."""

    TYPE: ClassVar[str] = WITHDRAW


class Lock(_TrialOnly):
    """``trials/lock``: database lock (ICH E6(R3)); no data entry after it."""

    TYPE: ClassVar[str] = LOCK


class Unblind(_TrialOnly):
    """``trials/unblind``: allocation revealed; only after the lock."""

    TYPE: ClassVar[str] = UNBLIND


@dataclass(frozen=True, slots=True)
class Entry:
    """``trials/entry``: a case-report entry anchored by a site investigator (meaning
    authorship): a salted commitment of the data, never the data. A correction names the
    entry it corrects and why; the corrected entry stays (21 CFR 11.10(e))."""

    trial: str
    entry: str
    participant: str
    commitment: str
    corrects: str | None = None
    reason: str | None = None

    TYPE: ClassVar[str] = ENTRY

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Entry:
        fields.exact(msg, INVALID_FIELD, ("trial", "entry", "participant", "commitment"),
                     ("corrects", "reason"))
        if ("corrects" in msg) != ("reason" in msg):
            raise INVALID_FIELD("a correction names both the entry it corrects and a reason")
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   fields.object_id(msg, "entry", INVALID_FIELD),
                   fields.did(msg, "participant", INVALID_FIELD),
                   fields.digest(msg, "commitment", INVALID_FIELD),
                   fields.object_id(msg, "corrects", INVALID_FIELD) if "corrects" in msg
                   else None,
                   text(msg, "reason", 200) if "reason" in msg else None)

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial, "entry": self.entry,
                "participant": self.participant, "commitment": self.commitment,
                **fields.present(corrects=self.corrects, reason=self.reason)}


@dataclass(frozen=True, slots=True)
class Sign:
    """``trials/sign``: a site investigator's signature of an entry with its meaning
    (review or approval; 21 CFR 11.50)."""

    trial: str
    entry: str
    meaning: str

    TYPE: ClassVar[str] = SIGN

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Sign:
        fields.exact(msg, INVALID_FIELD, ("trial", "entry", "meaning"))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   fields.object_id(msg, "entry", INVALID_FIELD),
                   fields.choice(msg, "meaning", MEANINGS, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial, "entry": self.entry,
                "meaning": self.meaning}


@dataclass(frozen=True, slots=True)
class Results:
    """``trials/results``: the reported outcomes (the report itself is committed)."""

    trial: str
    outcomes: tuple[Outcome, ...]
    commitment: str

    TYPE: ClassVar[str] = RESULTS

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Results:
        fields.exact(msg, INVALID_FIELD, ("trial", "outcomes", "commitment"))
        return cls(fields.object_id(msg, "trial", INVALID_FIELD),
                   _objects(msg, "outcomes", lambda v: parse_outcome(v, reported=True),
                            lambda o: o.id),
                   fields.digest(msg, "commitment", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "trial": self.trial,
                "outcomes": [outcome_json(o, reported=True) for o in self.outcomes],
                "commitment": self.commitment}
