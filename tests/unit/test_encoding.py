from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phrchain.core import encoding
from phrchain.core.errors import EncodingError
from tests.conftest import load_vectors

CASES = load_vectors("encoding")


@pytest.mark.parametrize(("name", "case"), CASES, ids=[n for n, _ in CASES])
def test_vector(name: str, case: dict) -> None:
    if "canonical_utf8" in case:
        expected = case["canonical_utf8"].encode("utf-8")
        assert encoding.encode(case["input"]) == expected
        assert encoding.decode(expected) == case["input"]
    elif "input" in case:
        with pytest.raises(EncodingError):
            encoding.encode(case["input"])
    else:
        with pytest.raises(EncodingError):
            encoding.decode(bytes.fromhex(case["bytes_hex"]))


def test_vector_set_covers_both_directions() -> None:
    kinds = {("canonical_utf8" in c, "bytes_hex" in c) for _, c in CASES}
    assert (True, False) in kinds and (False, True) in kinds


@pytest.mark.parametrize("value", [1.5, float("nan"), b"raw", {1: "int key"}, {"é": 1},
                                   "\ud800", [[[[]]]] * 1 + [set()]])
def test_encode_refuses_outside_subset(value: object) -> None:
    with pytest.raises(EncodingError):
        encoding.encode(value)


def test_encode_refuses_deep_nesting() -> None:
    value: object = 0
    for _ in range(encoding.MAX_DEPTH + 2):
        value = [value]
    with pytest.raises(EncodingError):
        encoding.encode(value)


json_values = st.recursive(
    st.none() | st.booleans()
    | st.integers(-encoding.MAX_SAFE_INTEGER, encoding.MAX_SAFE_INTEGER)
    | st.text(st.characters(exclude_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4)
    | st.dictionaries(st.text(st.characters(max_codepoint=127), max_size=6), inner, max_size=4),
    max_leaves=20,
)


@given(json_values)
def test_round_trip_and_single_encoding(value: object) -> None:
    raw = encoding.encode(value)
    assert encoding.decode(raw) == value
    assert encoding.encode(encoding.decode(raw)) == raw
    # any other JSON spelling of the same value is refused
    spaced = json.dumps(value, ensure_ascii=True, indent=1).encode()
    if spaced != raw:
        with pytest.raises(EncodingError):
            encoding.decode(spaced)


@pytest.mark.parametrize("text", ["AB", "a", "0g", " 00", "00 ", 1, None])
def test_hex_bytes_is_strict(text: object) -> None:
    with pytest.raises(EncodingError):
        encoding.hex_bytes(text)


def test_hex_bytes_length() -> None:
    assert encoding.hex_bytes("00ff", 2) == b"\x00\xff"
    with pytest.raises(EncodingError):
        encoding.hex_bytes("00ff", 3)


def test_depth_limit_is_the_same_for_decode_and_encode_and_any_stack_depth() -> None:
    ok = b"[" * encoding.MAX_DEPTH + b"]" * encoding.MAX_DEPTH
    too_deep = b"[" * (encoding.MAX_DEPTH + 1) + b"]" * (encoding.MAX_DEPTH + 1)
    assert encoding.encode(encoding.decode(ok)) == ok

    def at_depth(n: int) -> object:
        return encoding.decode(too_deep) if n == 0 else at_depth(n - 1)

    for stack in (0, 200, 800):  # the outcome must not depend on the caller's stack
        with pytest.raises(EncodingError, match="nesting deeper"):
            at_depth(stack)
    # encode agrees with decode at the limit, for empty containers too (33 nested empty
    # lists or objects used to encode into bytes that decode refused)
    for empty in ([], {}):
        deepest: object = empty
        for _ in range(encoding.MAX_DEPTH - 1):
            deepest = [deepest]
        assert encoding.decode(encoding.encode(deepest)) == deepest
        with pytest.raises(EncodingError, match="nesting deeper"):
            encoding.encode([deepest])
        with pytest.raises(EncodingError, match="nesting deeper"):
            encoding.decode(encoding.encode_trusted([deepest]))
    # brackets inside strings are text, not nesting
    assert encoding.decode(b'["' + b"[" * 100 + b'"]') == ["[" * 100]


def test_huge_integer_literal_is_refused_cheaply() -> None:
    with pytest.raises(EncodingError, match="safe range"):
        encoding.decode(b'{"a":' + b"1" * 100_000 + b"}")
