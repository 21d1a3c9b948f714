"""The CometBFT light client on a recorded genuine commit (tests/vectors/cometbft), and on
systematic mutations of it: each must be refused with ProofError or CryptoError."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from phrchain.client.lightclient_cometbft import (
    header_hash,
    parse_time,
    validator_set_from_genesis,
    verify_commit,
    verify_query_cometbft,
)
from phrchain.client.verify import query_key
from phrchain.core.errors import CryptoError, ProofError
from tests.conftest import VECTORS

CASE: dict[str, Any] = json.loads((VECTORS / "cometbft" / "commit_query.json").read_text())
CHAIN = CASE["chain_id"]
VALIDATORS = validator_set_from_genesis({"validators": CASE["genesis_validators"]})
KEY = query_key("identity/did", {"did": CASE["did"]})


def check(case: dict[str, Any]) -> Any:
    return verify_query_cometbft(case["answer"], case["signed_header"], VALIDATORS, CHAIN,
                                 expected_key=KEY)


def test_genuine_proof_is_accepted() -> None:
    value = check(CASE)
    assert value["did"] == CASE["did"] and value["kind"] == "patient"
    header = CASE["signed_header"]["header"]
    assert header_hash(header).hex().upper() == CASE["signed_header"]["commit"]["block_id"]["hash"]


def test_recorded_commit_has_three_of_four_signatures() -> None:
    # 30 of 40 voting power (one validator's precommit came too late to be included):
    # just above 2/3, so dropping any one of them must fail (see _too_little_power).
    flags = [s["block_id_flag"] for s in CASE["signed_header"]["commit"]["signatures"]]
    assert sorted(flags) == [1, 2, 2, 2]


def _flip_hex(text: str, at: int = 0) -> str:
    return text[:at] + ("0" if text[at] != "0" else "1") + text[at + 1:]


def _proof_sibling(c: dict[str, Any]) -> None:
    c["answer"]["proof"]["siblings"][0] = _flip_hex(c["answer"]["proof"]["siblings"][0])


def _raw_value(c: dict[str, Any]) -> None:
    c["answer"]["raw_value"] = _flip_hex(c["answer"]["raw_value"], 10)


def _answer_app_hash(c: dict[str, Any]) -> None:
    c["answer"]["app_hash"] = _flip_hex(c["answer"]["app_hash"])


def _header_app_hash(c: dict[str, Any]) -> None:
    header = c["signed_header"]["header"]
    header["app_hash"] = _flip_hex(header["app_hash"])


def _too_little_power(c: dict[str, Any]) -> None:
    signed = [s for s in c["signed_header"]["commit"]["signatures"] if s["block_id_flag"] == 2]
    signed[0]["block_id_flag"] = 1  # 20 of 40: not more than 2/3


def _repeated_signer(c: dict[str, Any]) -> None:
    sigs = c["signed_header"]["commit"]["signatures"]
    sigs[1] = copy.deepcopy(sigs[0])


def _forged_signature(c: dict[str, Any]) -> None:
    sig = c["signed_header"]["commit"]["signatures"][1]
    ts = sig["timestamp"]  # the vote's time is part of what was signed
    sig["timestamp"] = ts[:-2] + ("0" if ts[-2] != "0" else "1") + "Z"


def _other_height(c: dict[str, Any]) -> None:
    c["answer"]["height"] += 1


def _other_chain(c: dict[str, Any]) -> None:
    c["signed_header"]["header"]["chain_id"] = "phr-other"


def _other_key(c: dict[str, Any]) -> None:
    c["answer"]["key"] = _flip_hex(c["answer"]["key"], 20)


MUTATIONS: dict[str, tuple[Callable[[dict[str, Any]], None], type[Exception]]] = {
    "tampered proof sibling": (_proof_sibling, ProofError),
    "tampered raw value": (_raw_value, ProofError),
    "answer claims another app hash": (_answer_app_hash, ProofError),
    "header with a wrong app hash": (_header_app_hash, ProofError),
    "commit with too little voting power": (_too_little_power, ProofError),
    "one validator counted twice": (_repeated_signer, ProofError),
    "signature over other bytes": (_forged_signature, CryptoError),
    "answer for another height": (_other_height, ProofError),
    "header of another chain": (_other_chain, ProofError),
    "proof of another key": (_other_key, ProofError),
}


@pytest.mark.parametrize("name", sorted(MUTATIONS))
def test_mutation_is_refused(name: str) -> None:
    mutate, error = MUTATIONS[name]
    case = copy.deepcopy(CASE)
    mutate(case)
    with pytest.raises(error):
        check(case)


def test_another_validator_set_is_refused() -> None:
    others = [dict(v, power="20") for v in CASE["genesis_validators"]]
    with pytest.raises(ProofError, match="another validator set"):
        verify_commit(CASE["signed_header"], validator_set_from_genesis(
            {"validators": others}), CHAIN)


@pytest.mark.parametrize(("text", "expected"), [
    ("1970-01-01T00:00:00Z", (0, 0)),
    ("2026-11-30T07:49:42.851280217Z", (1796024982, 851280217)),
    ("2026-11-30T07:49:42.85Z", (1796024982, 850000000)),
    ("0001-01-01T00:00:00Z", (-62135596800, 0)),
])
def test_parse_time(text: str, expected: tuple[int, int]) -> None:
    assert parse_time(text) == expected


@pytest.mark.parametrize("text", ["2026-11-30 07:49:42Z", "2026-11-30T07:49:42.1234567890Z",
                                  "2026-11-30T07:49:42+01:00", 5])
def test_parse_time_refuses(text: object) -> None:
    with pytest.raises(ProofError):
        parse_time(text)
