"""The only code that reads or writes the ``trials/`` key prefix.

State layout (values canonical JSON; ``<v>`` and ``<seq>`` are 6 zero-padded digits)::

    trials/params/<v>                          chain parameters, version v
    trials/pcur                                current parameters version (integer)
    trials/t/<trial>                           trial head (README "State")
    trials/v/<trial>/<v>                       protocol version v (never rewritten)
    trials/c/<trial>/<kind>/<seq>              commitment of the SAP or randomisation list
    trials/s/<trial>/<org>                     "1"   a site of the current version
    trials/p/<trial>/<pseudonym>               participant
    trials/pc/<trial>/<pseudonym>/<v>          consent to version v
    trials/pt/<pseudonym>                      the one trial this pseudonym is in
    trials/e/<trial>/<entry>                   case-report entry
    trials/ep/<trial>/<pseudonym>/<entry>      "1"   entries of a participant
    trials/cx/<trial>/<corrected>/<correction> "1"   corrections of an entry
    trials/sg/<trial>/<entry>/<meaning>/<did>  signature with its meaning
    trials/r/<trial>                           results
    trials/l/<trial>/<outcome id>              labels of one outcome
    trials/ts/<sponsor>/<trial>                "1"   trials of a sponsor organization
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Final, TypedDict

from phrchain.core.state import Overlay, Reader
from phrchain.modules.paging import suffixes
from phrchain.modules.table import json_get, json_put
from phrchain.modules.trials import keys

_MARK: Final = b"1"


class Params(TypedDict):
    version: int
    start_window_ms: int
    max_sites: int
    max_arms: int
    max_outcomes: int
    max_versions: int
    height: int


class Trial(TypedDict):
    trial: str
    sponsor: str                    # the organization
    registered_by: str              # the organization or its researcher
    registered_height: int
    registered_ms: int              # the block time: registration cannot be back-dated
    start_ms: int
    params: int                     # the parameters version the trial runs under
    version: int                    # current protocol version
    baseline: int | None            # the version in force at first enrolment (frozen)
    baseline_height: int | None
    reconsent_version: int          # latest version that needs re-consent (0: none)
    sap: str | None                 # latest commitments
    randomisation: str | None
    participants: int
    locked_height: int | None
    locked_ms: int | None
    unblinded_height: int | None
    reported_height: int | None


class Version(TypedDict):
    version: int
    registration: dict[str, Any]
    sites: list[str]
    arms: list[str]
    outcomes: list[dict[str, Any]]
    protocol: str
    withdrawal: str
    reason: str | None
    reconsent: bool
    by: str
    height: int
    time_ms: int


class Commitment(TypedDict):
    kind: str
    seq: int
    commitment: str
    by: str
    height: int
    time_ms: int


class Participant(TypedDict):
    participant: str                # the trial pseudonym
    site: str
    consent_version: int
    protocol: str
    enrolled_height: int
    enrolled_ms: int
    status: str                     # active | withdrawn
    withdrawn_height: int | None
    withdrawal: str | None          # retain | exclude: the handling in force then


class Consent(TypedDict):
    version: int
    protocol: str
    purpose: str
    height: int
    time_ms: int


class EntryRecord(TypedDict):
    entry: str
    participant: str
    commitment: str
    signer: str
    site: str
    meaning: str                    # authorship
    corrects: str | None
    reason: str | None
    height: int
    time_ms: int


class Signature(TypedDict):
    entry: str
    signer: str
    meaning: str
    height: int
    time_ms: int


class ResultsRecord(TypedDict):
    trial: str
    rules: int                      # classification rules version
    baseline: int
    outcomes: list[dict[str, Any]]
    commitment: str
    by: str
    height: int
    time_ms: int


# -- parameters ---------------------------------------------------------------------
def current_params(state: Reader) -> Params | None:
    version = json_get(state, keys.PARAMS_CURRENT)
    return None if version is None else get_params(state, int(version))


def get_params(state: Reader, version: int) -> Params | None:
    found: Params | None = json_get(state, keys.params_key(version))
    return found


def put_params(state: Overlay, params: Params) -> None:
    json_put(state, keys.params_key(params["version"]), params)
    json_put(state, keys.PARAMS_CURRENT, params["version"])


# -- trials and versions ------------------------------------------------------------
def get_trial(state: Reader, trial: str) -> Trial | None:
    found: Trial | None = json_get(state, keys.trial_key(trial))
    return found


def put_trial(state: Overlay, trial: Trial) -> None:
    json_put(state, keys.trial_key(trial["trial"]), trial)


def all_trials(state: Reader, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.TRIAL, after)


def index_sponsor(state: Overlay, sponsor: str, trial: str) -> None:
    state.set(keys.sponsor_key(sponsor, trial), _MARK)


def trials_of(state: Reader, sponsor: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.prefix(keys.BY_SPONSOR, sponsor), after)


def get_version(state: Reader, trial: str, version: int) -> Version | None:
    found: Version | None = json_get(state, keys.version_key(trial, version))
    return found


def put_version(state: Overlay, trial: str, version: Version) -> None:
    json_put(state, keys.version_key(trial, version["version"]), version)


def set_sites(state: Overlay, trial: str, old: list[str], new: list[str]) -> None:
    """Make ``new`` the site index of ``trial`` (the current version's sites)."""
    for org in sorted(set(old) - set(new)):
        state.delete(keys.site_key(trial, org))
    for org in new:
        state.set(keys.site_key(trial, org), _MARK)


def is_site(state: Reader, trial: str, org: str) -> bool:
    return state.get(keys.site_key(trial, org)) is not None


def put_commitment(state: Overlay, trial: str, record: Commitment) -> None:
    json_put(state, keys.commitment_key(trial, record["kind"], record["seq"]), record)


def commitments(state: Reader, trial: str, kind: str) -> list[Commitment]:
    return [json_get(state, key) for key, _ in
            state.iterate(keys.prefix(keys.COMMITMENT, trial, kind))]


# -- participants -------------------------------------------------------------------
def get_participant(state: Reader, trial: str, pseudonym: str) -> Participant | None:
    found: Participant | None = json_get(state, keys.participant_key(trial, pseudonym))
    return found


def put_participant(state: Overlay, trial: str, record: Participant) -> None:
    json_put(state, keys.participant_key(trial, record["participant"]), record)


def put_consent(state: Overlay, trial: str, pseudonym: str, consent: Consent) -> None:
    json_put(state, keys.consent_key(trial, pseudonym, consent["version"]), consent)


def trial_of_pseudonym(state: Reader, pseudonym: str) -> str | None:
    found = json_get(state, keys.pseudonym_key(pseudonym))
    return None if found is None else str(found)


def bind_pseudonym(state: Overlay, pseudonym: str, trial: str) -> None:
    json_put(state, keys.pseudonym_key(pseudonym), trial)


def participants(state: Reader, trial: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.prefix(keys.PARTICIPANT, trial), after)


# -- entries and signatures ---------------------------------------------------------
def get_entry(state: Reader, trial: str, entry: str) -> EntryRecord | None:
    found: EntryRecord | None = json_get(state, keys.entry_key(trial, entry))
    return found


def entry_exists(state: Reader, trial: str, entry: str) -> bool:
    return state.get(keys.entry_key(trial, entry)) is not None


def put_entry(state: Overlay, trial: str, record: EntryRecord) -> None:
    json_put(state, keys.entry_key(trial, record["entry"]), record)
    state.set(keys.participant_entry_key(trial, record["participant"], record["entry"]),
              _MARK)
    if record["corrects"] is not None:
        state.set(keys.correction_key(trial, record["corrects"], record["entry"]), _MARK)


def entries_of(state: Reader, trial: str, pseudonym: str,
               after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.prefix(keys.BY_PARTICIPANT, trial, pseudonym), after)


def entries(state: Reader, trial: str, after: str | None = None) -> Iterator[str]:
    return suffixes(state, keys.prefix(keys.ENTRY, trial), after)


def corrections_of(state: Reader, trial: str, entry: str) -> list[str]:
    return list(suffixes(state, keys.prefix(keys.CORRECTION, trial, entry)))


def get_signature(state: Reader, trial: str, entry: str, meaning: str,
                  signer: str) -> Signature | None:
    found: Signature | None = json_get(state, keys.signature_key(trial, entry, meaning,
                                                                 signer))
    return found


def put_signature(state: Overlay, trial: str, record: Signature) -> None:
    json_put(state, keys.signature_key(trial, record["entry"], record["meaning"],
                                       record["signer"]), record)


def signatures(state: Reader, trial: str, entry: str) -> list[Signature]:
    return [json_get(state, key) for key, _ in
            state.iterate(keys.prefix(keys.SIGNATURE, trial, entry))]


# -- results and labels -------------------------------------------------------------
def get_results(state: Reader, trial: str) -> ResultsRecord | None:
    found: ResultsRecord | None = json_get(state, keys.results_key(trial))
    return found


def put_results(state: Overlay, record: ResultsRecord) -> None:
    json_put(state, keys.results_key(record["trial"]), record)


def put_labels(state: Overlay, trial: str, outcome: str, labels: list[str]) -> None:
    json_put(state, keys.label_key(trial, outcome), labels)


def get_labels(state: Reader, trial: str, outcome: str) -> list[str] | None:
    found: list[str] | None = json_get(state, keys.label_key(trial, outcome))
    return found


def labels(state: Reader, trial: str) -> dict[str, list[str]]:
    base = keys.prefix(keys.LABEL, trial)
    return {key[len(base):].decode(): json_get(state, key)
            for key, _ in state.iterate(base)}


def trail(state: Reader, trial: str) -> Iterator[tuple[bytes, bytes]]:
    """Every state entry of ``trial`` (the regulator's audit trail), grouped by kind."""
    raw = state.get(keys.trial_key(trial))
    if raw is not None:
        yield keys.trial_key(trial), raw
    for base in (keys.VERSION, keys.COMMITMENT, keys.SITE, keys.PARTICIPANT, keys.CONSENT,
                 keys.ENTRY, keys.BY_PARTICIPANT, keys.CORRECTION, keys.SIGNATURE,
                 keys.LABEL):
        yield from state.iterate(keys.prefix(base, trial))
    raw = state.get(keys.results_key(trial))
    if raw is not None:
        yield keys.results_key(trial), raw
