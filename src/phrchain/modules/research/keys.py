"""State keys of the research module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring."""

from __future__ import annotations

from typing import Final

PARAMS: Final = b"research/params/"
PARAMS_CURRENT: Final = b"research/pcur"
DONATION: Final = b"research/d/"
DONATION_VERSION: Final = b"research/dv/"
STUDY: Final = b"research/s/"
REQUEST: Final = b"research/q/"
OUTCOME: Final = b"research/o/"
DATASET: Final = b"research/ds/"
LEAF: Final = b"research/l/"
USE: Final = b"research/u/"


def path(*parts: str | int) -> bytes:
    """``a/b/c`` of the parts; integers as 6 zero-padded digits, so they sort."""
    return "/".join(f"{p:06d}" if isinstance(p, int) else p for p in parts).encode()


def params_key(version: int) -> bytes:
    return PARAMS + path(version)


def donation_key(donor: str) -> bytes:
    return DONATION + donor.encode()


def donation_version_key(donor: str, version: int) -> bytes:
    return DONATION_VERSION + path(donor, version)


def study_key(study: str) -> bytes:
    return STUDY + study.encode()


def request_key(request: str) -> bytes:
    return REQUEST + request.encode()


def outcome_key(request: str, donor: str) -> bytes:
    return OUTCOME + path(request, donor)


def dataset_key(dataset: str) -> bytes:
    return DATASET + dataset.encode()


def leaf_key(dataset: str, record: str) -> bytes:
    return LEAF + path(dataset, record)


def use_key(donor: str, dataset: str) -> bytes:
    return USE + path(donor, dataset)


def prefix(base: bytes, *parts: str) -> bytes:
    """The prefix of every key under ``base`` + ``parts`` (ending in ``/``)."""
    return base + path(*parts) + b"/"
