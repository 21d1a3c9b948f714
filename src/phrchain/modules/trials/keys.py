"""State keys of the trials module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

PARAMS: Final = b"trials/params/"
PARAMS_CURRENT: Final = b"trials/pcur"
TRIAL: Final = b"trials/t/"
VERSION: Final = b"trials/v/"
COMMITMENT: Final = b"trials/c/"
SITE: Final = b"trials/s/"
PARTICIPANT: Final = b"trials/p/"
CONSENT: Final = b"trials/pc/"
PSEUDONYM: Final = b"trials/pt/"
ENTRY: Final = b"trials/e/"
BY_PARTICIPANT: Final = b"trials/ep/"
CORRECTION: Final = b"trials/cx/"
SIGNATURE: Final = b"trials/sg/"
RESULTS: Final = b"trials/r/"
LABEL: Final = b"trials/l/"
BY_SPONSOR: Final = b"trials/ts/"


def path(*parts: str | int) -> bytes:
    """``a/b/c`` of the parts; integers as 6 zero-padded digits, so they sort."""
    return "/".join(f"{p:06d}" if isinstance(p, int) else p for p in parts).encode()


def params_key(version: int) -> bytes:
    return PARAMS + path(version)


def trial_key(trial: str) -> bytes:
    return TRIAL + trial.encode()


def version_key(trial: str, version: int) -> bytes:
    return VERSION + path(trial, version)


def commitment_key(trial: str, kind: str, seq: int) -> bytes:
    return COMMITMENT + path(trial, kind, seq)


def site_key(trial: str, org: str) -> bytes:
    return SITE + path(trial, org)


def participant_key(trial: str, pseudonym: str) -> bytes:
    return PARTICIPANT + path(trial, pseudonym)


def consent_key(trial: str, pseudonym: str, version: int) -> bytes:
    return CONSENT + path(trial, pseudonym, version)


def pseudonym_key(pseudonym: str) -> bytes:
    return PSEUDONYM + pseudonym.encode()


def entry_key(trial: str, entry: str) -> bytes:
    return ENTRY + path(trial, entry)


def participant_entry_key(trial: str, pseudonym: str, entry: str) -> bytes:
    return BY_PARTICIPANT + path(trial, pseudonym, entry)


def correction_key(trial: str, corrected: str, correction: str) -> bytes:
    return CORRECTION + path(trial, corrected, correction)


def signature_key(trial: str, entry: str, meaning: str, signer: str) -> bytes:
    return SIGNATURE + path(trial, entry, meaning, signer)


def results_key(trial: str) -> bytes:
    return RESULTS + trial.encode()


def label_key(trial: str, outcome: str) -> bytes:
    return LABEL + path(trial, outcome)


def sponsor_key(sponsor: str, trial: str) -> bytes:
    return BY_SPONSOR + path(sponsor, trial)


def prefix(base: bytes, *parts: str) -> bytes:
    """The prefix of every key under ``base`` + ``parts`` (ending in ``/``)."""
    return base + path(*parts) + b"/"
