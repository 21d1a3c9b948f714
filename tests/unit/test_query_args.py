"""Query arguments are checked like message fields: a malformed object id or an integer
beyond 64 bits is a bad query (``query/2``, HTTP 400), never a ``null`` answer that
reads as "nothing there" (issue 13, defects 4 and 10)."""

from __future__ import annotations

import pytest

from phrchain.core.errors import CodedError
from phrchain.modules.fields import MAX_INT
from tests.helpers import Chain, signing_key

PATIENT = signing_key(12)
GOOD_ID = "0123456789abcdef0123456789abcdef"
# Every query that takes an object id, with the other arguments it needs.
ID_QUERIES = [
    ("records/get", "record", {}),
    ("records/holders", "record", {}),
    ("consent/get", "consent", {}),
    ("consent/decide", "record", {"accessor": PATIENT.did, "action": "read",
                                    "purpose": "TREAT"}),
    ("exchange/get", "request", {}),
    ("claims/claim", "claim", {}),
    ("claims/product", "product", {"insurer": PATIENT.did}),
    ("claims/enrolment", "product", {"patient": PATIENT.did, "insurer": PATIENT.did}),
    ("settlement/bill", "bill", {}),
]
MALFORMED_IDS = ["xyz", GOOD_ID.upper(), GOOD_ID[:-1], GOOD_ID + "0", "../" + GOOD_ID[3:],
                 "\u0660" * 32, 12345, None]  # Arabic-Indic zeros


@pytest.fixture(scope="module")
def chain() -> Chain:
    c = Chain.new()
    assert c.register_patient(PATIENT).ok
    return c


def _bad_query(chain: Chain, path: str, data: dict[str, object]) -> CodedError:
    with pytest.raises(CodedError) as info:
        chain.app.query(path, data)
    assert (info.value.codespace, info.value.code) == ("query", 2), info.value
    return info.value


@pytest.mark.parametrize(("path", "name", "extra"), ID_QUERIES)
def test_a_malformed_object_id_is_a_bad_query(chain: Chain, path: str, name: str,
                                              extra: dict[str, object]) -> None:
    for bad in MALFORMED_IDS:
        data = {**extra, **({} if bad is None else {name: bad})}
        assert name in str(_bad_query(chain, path, data))


@pytest.mark.parametrize(("path", "name", "extra"), ID_QUERIES)
def test_a_well_formed_unknown_id_still_answers(chain: Chain, path: str, name: str,
                                                extra: dict[str, object]) -> None:
    answer = chain.app.query(path, {**extra, name: GOOD_ID})
    if path == "consent/decide":
        assert answer["value"]["reason"] == "unknown_record"
    elif path == "records/holders":
        assert answer["value"] == {"record": GOOD_ID, "holders": []}
    else:
        assert answer["value"] is None


@pytest.mark.parametrize("value", [MAX_INT + 1, 10**30, str(MAX_INT + 1), "9" * 19, -1, "-1",
                                   "\u0661\u0662", "1_0", " 1", True])
def test_integer_arguments_stay_within_64_bits(chain: Chain, value: object) -> None:
    for path, data in (("audit/entry", {"patient": PATIENT.did, "index": value}),
                       ("audit/entries", {"patient": PATIENT.did, "start": value}),
                       ("claims/product", {"insurer": PATIENT.did, "product": GOOD_ID,
                                           "version": value})):
        _bad_query(chain, path, data)


def test_the_largest_integer_argument_is_accepted(chain: Chain) -> None:
    for value in (MAX_INT, str(MAX_INT)):
        answer = chain.app.query("audit/entry", {"patient": PATIENT.did, "index": value})
        assert answer["value"] is None
