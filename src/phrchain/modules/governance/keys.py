"""State keys of the governance module (cosmos-sdk's ``types/keys.go``): the layout the
keeper writes and the SDK's proof checks name. Consensus: never change a byte here.

Layout: ``keeper.py``'s docstring. Integers in keys are fixed-width lowercase hex, so
that key order is numeric order."""

from __future__ import annotations

from typing import Final

CONFIG: Final = b"governance/config"
NEXT_ID: Final = b"governance/next"
PROPOSAL: Final = b"governance/p/"
VOTE: Final = b"governance/v/"
OPEN: Final = b"governance/open/"
VALIDATOR: Final = b"governance/val/"
PARAM: Final = b"governance/param/"
PARAM_HISTORY: Final = b"governance/ph/"
UPGRADE: Final = b"governance/up/"


def proposal_key(proposal: int) -> bytes:
    return PROPOSAL + b"%016x" % proposal


def vote_prefix(proposal: int) -> bytes:
    return VOTE + b"%016x/" % proposal


def vote_key(proposal: int, did: str) -> bytes:
    return vote_prefix(proposal) + did.encode()


def open_key(proposal: int) -> bytes:
    return OPEN + b"%016x" % proposal


def validator_key(pub_key: bytes) -> bytes:
    return VALIDATOR + pub_key.hex().encode()


def param_key(module: str, name: str) -> bytes:
    return PARAM + module.encode() + b"/" + name.encode()


def param_history_key(module: str, name: str, version: int) -> bytes:
    return PARAM_HISTORY + module.encode() + b"/" + name.encode() + b"/%08x" % version


def upgrade_key(height: int) -> bytes:
    return UPGRADE + b"%016x" % height
