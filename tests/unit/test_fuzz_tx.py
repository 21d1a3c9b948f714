"""Property-based fuzzing of the tx path: whatever the bytes, the app answers with a
stable code (never an exception, never tx/99) and a refused tx changes nothing."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phrchain.app import Application, default_modules
from phrchain.core import encoding
from phrchain.core.errors import REGISTRY, ErrorCode
from phrchain.core.module import Context, StaticModule
from phrchain.core.state import Overlay
from phrchain.core.tx import Msg
from tests.helpers import AUTHORITY, Chain, enc_key, signing_key

CHAIN = Chain.new()
VALID = CHAIN.tx(signing_key(31), {"type": "identity/register_patient", "enc_key": enc_key(1)})
ADMIT = CHAIN.tx(AUTHORITY, {"type": "identity/revoke", "did": AUTHORITY.did,
                             "reason": "unspecified"})


def _assert_refused_cleanly(raw: bytes, chain: Chain = CHAIN) -> None:
    """``check_tx`` answers a stable code, and a refusal leaves the check state (where an
    accepted tx would stay applied) exactly as it was. The committed store root is not
    the thing to compare: ``check_tx`` never writes the store, so it could not fail."""
    before = chain.app.check_state_writes()
    result = chain.app.check_tx(raw)
    if result.ok:
        chain.app.reset_check_state()
        return
    assert (result.codespace, result.code) in REGISTRY, result
    assert (result.codespace, result.code) != ("tx", 99), result.log
    assert chain.app.check_state_writes() == before


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=512))
def test_random_bytes(raw: bytes) -> None:
    _assert_refused_cleanly(raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([VALID, ADMIT]), st.integers(0, 10_000), st.integers(0, 255))
def test_single_byte_mutations(raw: bytes, position: int, value: int) -> None:
    mutated = bytearray(raw)
    mutated[position % len(raw)] = value
    _assert_refused_cleanly(bytes(mutated))


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-2**60, 2**60) | st.text(max_size=20)
    | st.binary(max_size=8).map(bytes.hex),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=4),
    max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(["type", "did", "enc_key", "reason", "roles", "org_type", "name",
                        "new_key", "proof", "pop", "extra"]), json_values)
def test_message_fields_of_any_shape(field: str, value: object) -> None:
    env = encoding.decode(ADMIT)
    msg = dict(env["msgs"][0])
    msg[field] = value
    try:
        raw = CHAIN.tx(AUTHORITY, msg, nonce=1)
    except Exception:  # the builder refuses what cannot even be encoded
        return
    _assert_refused_cleanly(raw)


LEAK_KEY = b"leak/written-before-refusing"


def _leaky(ctx: Context, msg: Msg) -> None:
    """A buggy handler that writes past its tx's buffer into the state beneath it, then
    refuses: exactly the defect the check above exists to catch."""
    parent = ctx.state._base  # the bug under test reaches past the overlay
    assert isinstance(parent, Overlay)
    parent.set(LEAK_KEY, b"1")
    raise LEAK_REFUSED("always")


LEAK_REFUSED = ErrorCode("leak", 1, "always", "this test module refuses everything")


class _LeakyModule(StaticModule):
    name = "leak"
    HANDLERS = {"leak/write": _leaky}


def test_the_check_catches_a_leaky_handler() -> None:
    chain = Chain.new()
    modules, auth = default_modules()
    chain.app = Application(chain.app.store, [*modules, _LeakyModule()], auth)
    raw = chain.tx(AUTHORITY, {"type": "leak/write"})
    with pytest.raises(AssertionError):
        _assert_refused_cleanly(raw, chain)
    assert chain.app.check_state_writes().get(LEAK_KEY) == b"1"
