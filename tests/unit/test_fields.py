"""modules/fields.py: the shared field checks every module's messages use."""

from __future__ import annotations

import re

import pytest

from phrchain.core.errors import TxError
from phrchain.modules import fields
from phrchain.modules.records.errors import INVALID_FIELD

DIGITS = re.compile(r"[0-9]{2}")


def test_sorted_set_takes_one_spelling_per_set_within_its_bounds() -> None:
    def ok(v: str) -> bool:
        return v.isalpha()

    assert fields.sorted_set({"x": ["a", "b"]}, "x", INVALID_FIELD, ok, "words", 3) == ("a", "b")
    for bad in (["b", "a"], ["a", "a"], [], ["a", "b", "c", "d"], ["a", "1"], "ab", None):
        with pytest.raises(TxError, match="1 to 3 words"):
            fields.sorted_set({"x": bad}, "x", INVALID_FIELD, ok, "words", 3)
    with pytest.raises(TxError):                     # required when at least one is
        fields.sorted_set({}, "x", INVALID_FIELD, ok, "words", 3)
    # min_items 0: the empty list, and a missing field as the empty list
    assert fields.sorted_set({"x": []}, "x", INVALID_FIELD, ok, "words", 3, 0) == ()
    assert fields.sorted_set({}, "x", INVALID_FIELD, ok, "words", 3, 0) == ()
    with pytest.raises(TxError, match="0 to 3 words"):
        fields.sorted_set({"x": ["b", "a"]}, "x", INVALID_FIELD, ok, "words", 3, 0)


def test_matching_wants_the_whole_string_to_match() -> None:
    assert fields.matching({"n": "42"}, "n", DIGITS, INVALID_FIELD, "two digits") == "42"
    for bad in ("421", "4", "4a", 42, None):
        with pytest.raises(TxError, match="n must be two digits"):
            fields.matching({"n": bad}, "n", DIGITS, INVALID_FIELD, "two digits")
