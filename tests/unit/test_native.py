"""The compiled hot path (``phrchain_native``) against its specification, the Python.

Every function ``phrchain.core.accel`` may route to the Rust crate in ``native/`` is run
here next to its pure-Python reference on seeded random inputs (more than 10⁴ cases
each for SMT batches and proofs, encodings, decodings of valid and mutated bytes and the
field exponentiation of the Ed25519 on-curve check; besides key/value batches and tx
decodings), and the outcomes must be identical: the same root, the same
created nodes in the same order, the same proof, the same bytes, the same value (types
included) or the same exception with the same message.

Without the compiled module these tests are *skipped with a reason that says the
compiled path went untested* (pytest prints it in the summary, and ``tests/conftest.py``
adds a warning line). ``scripts/test.sh`` sets ``PHRCHAIN_REQUIRE_NATIVE=1`` whenever it
built the module, and then a missing module fails instead of skipping.
"""

from __future__ import annotations

import os
import random
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from phrchain.core import accel, encoding, keys, smt, store
from phrchain.core.errors import CodedError
from phrchain.core.tx import build_tx, decode_tx

NATIVE = accel.AVAILABLE
if NATIVE is None:
    if os.environ.get("PHRCHAIN_REQUIRE_NATIVE") == "1":
        raise RuntimeError(f"PHRCHAIN_REQUIRE_NATIVE=1 but {accel.STATUS}")
    pytest.skip(f"COMPILED HOT PATH UNTESTED: {accel.STATUS}; build it with "
                "scripts/test.sh (needs cargo)", allow_module_level=True)


def outcome(fn: Callable[..., Any], *args: Any) -> tuple[Any, ...]:
    """What a call did, comparable: ``repr`` keeps True apart from 1 and dict order."""
    try:
        return ("ok", repr(fn(*args)))
    except Exception as exc:
        return ("raised", type(exc), str(exc))


# -- sparse Merkle tree -----------------------------------------------------------------

class CallReader:
    """A reader that is not a MemoryNodeStore: the compiled code calls ``get_node``."""

    def __init__(self, nodes: smt.MemoryNodeStore) -> None:
        self.inner = nodes

    def get_node(self, version: int, node_hash: bytes) -> bytes:
        return self.inner.get_node(version, node_hash)


class HotReader(CallReader):
    """A reader with ``hot_nodes()``: a dict holding about half of the nodes (the compiled
    walk reads hits there and calls ``get_node`` for the rest), like SqliteStateStore."""

    def __init__(self, nodes: smt.MemoryNodeStore, rnd: random.Random) -> None:
        super().__init__(nodes)
        self.rnd = rnd

    def hot_nodes(self) -> dict[smt.NodeRef, bytes]:
        return {ref: body for ref, body in self.inner.nodes.items() if self.rnd.random() < 0.5}


def native_update(reader: Any, root: smt.NodeRef, changes: dict[bytes, bytes | None],
                  version: int) -> tuple[smt.NodeRef, dict[smt.NodeRef, bytes]]:
    nodes = reader.nodes if type(reader) is smt.MemoryNodeStore else None
    hot = None if nodes is not None else smt._hot_nodes(reader)
    root_ref, new = NATIVE.smt_update(reader, nodes, root[0], root[1], changes, version, hot)
    return root_ref, new


def native_prove(reader: Any, root: smt.NodeRef, path: bytes) -> smt.SmtProof:
    nodes = reader.nodes if type(reader) is smt.MemoryNodeStore else None
    hot = None if nodes is not None else smt._hot_nodes(reader)
    sibs, leaf = NATIVE.smt_prove(reader, nodes, root[0], root[1], path, hot)
    return smt.SmtProof(tuple(sibs), leaf)


def new_path(rnd: random.Random, live: list[bytes]) -> bytes:
    """Random, or sharing a random-length prefix with a live path (deep splits)."""
    if live and rnd.random() < 0.4:
        base = int.from_bytes(rnd.choice(live), "big")
        k = rnd.randrange(256)
        low = (1 << (255 - k)) - 1  # keep bits 0..k-1, flip bit k, randomise the rest
        value = ((base >> (256 - k)) << (256 - k) if k else 0) \
            | (~base & (1 << (255 - k))) | (rnd.getrandbits(256) & low)
        return value.to_bytes(32, "big")
    return rnd.randbytes(32)


def random_batch(rnd: random.Random, live: dict[bytes, bytes], size: int
                 ) -> dict[bytes, bytes | None]:
    changes: dict[bytes, bytes | None] = {}
    paths = list(live)
    for _ in range(size):
        r = rnd.random()
        if paths and r < 0.25:
            p = rnd.choice(paths)
            changes[p] = rnd.randbytes(32)              # overwrite
        elif paths and r < 0.35:
            p = rnd.choice(paths)
            changes[p] = live[p]                        # rewrite, same value
        elif paths and r < 0.55:
            changes[rnd.choice(paths)] = None           # delete
        elif r < 0.6:
            changes[rnd.randbytes(32)] = None           # delete an absent key
        else:
            changes[new_path(rnd, paths)] = rnd.randbytes(32)
    return changes


def run_smt_sequence(rnd: random.Random, batches: int, max_size: int) -> int:
    nodes = smt.MemoryNodeStore()
    kind = rnd.random()
    reader: Any = nodes if kind < 0.6 else CallReader(nodes) if kind < 0.8 \
        else HotReader(nodes, rnd)
    live: dict[bytes, bytes] = {}
    root = smt.EMPTY_REF
    roots = [root]
    version = 0
    for _ in range(batches):
        version += rnd.randint(1, 3)
        changes = random_batch(rnd, live, rnd.randint(1, max_size))
        expected = smt.update_reference(nodes, root, changes, version)
        got = native_update(reader, root, changes, version)
        assert got[0] == expected[0]
        assert list(got[1].items()) == list(expected[1].items())  # same nodes, same order
        nodes.put_many(expected[1])
        root = expected[0]
        roots.append(root)
        for p, v in changes.items():
            if v is None:
                live.pop(p, None)
            else:
                live[p] = v
    proofs = 0
    for old_root in (root, rnd.choice(roots)):
        for path in [*rnd.sample(list(live), min(2, len(live))), rnd.randbytes(32)]:
            expected_proof = smt.prove_reference(nodes, old_root, path)
            assert native_prove(reader, old_root, path) == expected_proof
            proofs += 1
    for path in rnd.sample(list(live), min(2, len(live))):
        smt.verify_path(root[1], path, live[path], native_prove(reader, root, path))
    return batches + proofs


def test_smt_update_and_prove_match_the_reference() -> None:
    rnd = random.Random(20)
    cases = sum(run_smt_sequence(rnd, 8, 12) for _ in range(1200))
    cases += sum(run_smt_sequence(rnd, 4, 400) for _ in range(10))  # bigger subtrees
    assert cases >= 10_000


def test_smt_update_through_the_public_function_matches() -> None:
    # smt.update is what the stores call; whichever accel chose, the answer is the same.
    rnd = random.Random(21)
    nodes = smt.MemoryNodeStore()
    root = smt.EMPTY_REF
    live: dict[bytes, bytes] = {}
    for version in range(1, 60):
        changes = random_batch(rnd, live, 50)
        expected = smt.update_reference(nodes, root, changes, version)
        assert smt.update(nodes, root, changes, version) == expected
        nodes.put_many(expected[1])
        root = expected[0]
        live = {p: v for p, v in {**live, **changes}.items() if v is not None}
    for path in list(live)[:20]:
        assert smt.prove(nodes, root, path) == smt.prove_reference(nodes, root, path)


def test_smt_errors_match_the_reference() -> None:
    rnd = random.Random(22)
    nodes = smt.MemoryNodeStore()
    changes: dict[bytes, bytes | None] = {rnd.randbytes(32): rnd.randbytes(32)
                                          for _ in range(5)}
    root, new = smt.update_reference(nodes, smt.EMPTY_REF, changes, 1)
    # a node missing from the store: the same KeyError from both
    missing = smt.MemoryNodeStore(dict(list(new.items())[1:]))
    more = {rnd.randbytes(32): rnd.randbytes(32) for _ in range(3)}
    for reader in (missing, CallReader(missing), HotReader(missing, rnd)):
        assert outcome(native_update, reader, root, more, 2) == \
            outcome(smt.update_reference, missing, root, more, 2)
    # wrong lengths: the same ValueError
    for bad in ({b"short": bytes(32)}, {bytes(32): b"short"}):
        assert outcome(native_update, nodes, root, bad, 2) == \
            outcome(smt.update_reference, nodes, root, bad, 2)
    # bytes-like but not bytes: the public function hands them to the reference
    odd: dict[Any, Any] = {rnd.randbytes(32): bytearray(rnd.randbytes(32))}
    assert outcome(smt.update, nodes, root, odd, 2) == \
        outcome(smt.update_reference, nodes, root, odd, 2)
    path = bytearray(next(iter(changes)))
    assert outcome(smt.prove, nodes, root, path) == \
        outcome(smt.prove_reference, nodes, root, path)
    # bad versions and empty batches go to the reference through smt.update
    for version, batch in ((1, more), (-1, more), (1 << 64, more), (2, {})):
        assert outcome(smt.update, nodes, root, batch, version) == \
            outcome(smt.update_reference, nodes, root, batch, version)


def test_smt_batch_matches_the_reference() -> None:
    rnd = random.Random(23)
    for _ in range(1000):
        changes: dict[bytes, bytes | None] = {
            rnd.randbytes(rnd.randint(0, 80)): None if rnd.random() < 0.2
            else rnd.randbytes(rnd.randint(0, 400)) for _ in range(rnd.randint(0, 20))}
        expected = store.smt_batch_reference(changes)
        got = NATIVE.smt_batch(changes)
        assert list(got.items()) == list(expected.items())
    assert store.smt_batch({b"k": bytearray(b"v")}) == \
        store.smt_batch_reference({b"k": b"v"})  # a non-bytes value: the reference


# -- field arithmetic for the Ed25519 on-curve check -------------------------------------

def test_field25519_pow_matches_python_pow() -> None:
    p = 2**255 - 19
    rnd = random.Random(29)
    specials = [0, 1, 2, p - 1, p, p + 1, 2**255, 2**256 - 1, keys.D]
    for n in range(10_000):
        base = rnd.choice(specials) if n % 10 == 0 else rnd.getrandbits(256)
        exp = rnd.choice([(p - 1) // 2, p - 2, 0, 1, 2**256 - 1, rnd.getrandbits(256),
                          rnd.getrandbits(16)])
        got = NATIVE.field25519_pow(base.to_bytes(32, "little"), exp.to_bytes(32, "little"))
        assert int.from_bytes(got, "little") == pow(base, exp, p), (base, exp)


def test_on_curve_check_is_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    rnd = random.Random(30)
    ys = [*range(0, 300), *(rnd.randrange(keys.P) for _ in range(1000))]
    monkeypatch.setattr(keys, "_native", NATIVE)
    compiled = [keys._on_curve(y) for y in ys]
    monkeypatch.setattr(keys, "_native", None)
    assert compiled == [keys._on_curve(y) for y in ys]
    assert 300 < sum(compiled) < 1000  # about half of random y are on the curve


# -- canonical encoding ------------------------------------------------------------------

_CHARS = ["a", "z", "A", "0", " ", "~", '"', "\\", "/", "\x00", "\x01", "\x08", "\t",
          "\n", "\x0b", "\x0c", "\r", "\x1f", "\x7f", "é", "ß", "中", "\u2028", "\ufeff",
          "😀", "\ud800", "\udfff"]


def random_string(rnd: random.Random, ascii_only: bool = False) -> str:
    chars = _CHARS[:19] if ascii_only else _CHARS
    weights = [8 if c.isalnum() and c.isascii() else 1 for c in chars]
    if not ascii_only and rnd.random() < 0.9:  # lone surrogates only now and then
        chars, weights = chars[:-2], weights[:-2]
    return "".join(rnd.choices(chars, weights, k=rnd.randint(0, 12)))


def random_int(rnd: random.Random) -> int:
    edge = 2**53 - 1
    return rnd.choice([0, 1, -1, rnd.randint(-1000, 1000), edge, -edge, edge + 1,
                       -edge - 1, 2**63, -(2**63) - 1, 2**70,
                       rnd.randint(-edge, edge)])


def random_value(rnd: random.Random, depth: int = 0) -> Any:
    r = rnd.random()
    deep = depth < 3 or (rnd.random() < 0.9 and depth < 40)
    if deep and r < 0.2:
        return {random_string(rnd, ascii_only=rnd.random() < 0.9): random_value(rnd, depth + 1)
                for _ in range(rnd.randint(0, 5))}
    if deep and r < 0.35:
        items = [random_value(rnd, depth + 1) for _ in range(rnd.randint(0, 5))]
        return tuple(items) if rnd.random() < 0.2 else items
    r = rnd.random()
    if r < 0.3:
        return random_string(rnd)
    if r < 0.6:
        return random_int(rnd)
    if r < 0.9:
        return rnd.choice([None, True, False])
    return rnd.choice([1.5, float("nan"), b"raw", bytearray(b"x"), {1: 2}, {None: 1},
                       {b"k": 1}, MyInt(3), MyStr("s"), {"a": set()}])


class MyInt(int):
    pass


class MyStr(str):
    __slots__ = ()


def random_values(seed: int, n: int) -> Iterator[Any]:
    rnd = random.Random(seed)
    for _ in range(n):
        yield random_value(rnd)


def test_encode_matches_the_reference() -> None:
    cases = answered = 0
    for value in random_values(24, 6000):
        answered += NATIVE.canonical_encode(value, True) is not None
        expected = outcome(encoding.encode_reference, value)
        assert outcome(compiled_encode(checked=True), value) == expected, value
        expected_trusted = outcome(encoding.encode_trusted_reference, value)
        assert outcome(compiled_encode(checked=False), value) == expected_trusted, value
        cases += 2
    assert cases >= 10_000
    assert answered > cases // 5  # the compiled encoder answered, not only the fallback


def compiled_encode(checked: bool) -> Callable[[Any], bytes]:
    """The public function's logic with the compiled module, whatever accel chose."""
    reference = encoding.encode_reference if checked else encoding.encode_trusted_reference

    def encode(value: Any) -> bytes:
        out: bytes | None = NATIVE.canonical_encode(value, checked)
        return reference(value) if out is None else out
    return encode


def compiled_decode(data: bytes) -> Any:
    value = NATIVE.canonical_decode(data)
    return encoding.decode_reference(data) if value is None else value


def test_encode_refuses_circular_values_like_the_reference() -> None:
    loop: list[Any] = []
    loop.append(loop)
    for checked in (True, False):
        reference = encoding.encode_reference if checked else encoding.encode_trusted_reference
        assert outcome(compiled_encode(checked), loop) == outcome(reference, loop)


_INSERTS = [b" ", b"\t", b",", b":", b"{", b"}", b"[", b"]", b'"', b"\\", b"0", b"-", b".",
            b"e", b"u", b"\x00", b"\x1f", b"\x7f", b"\xc3", b"\xe9", b"A", b"a", b"/"]


def mutate(rnd: random.Random, data: bytes) -> bytes:
    if not data:
        return rnd.choice(_INSERTS)
    i = rnd.randrange(len(data))
    kind = rnd.randrange(6)
    if kind == 0:
        return data[:i] + bytes([data[i] ^ (1 << rnd.randrange(8))]) + data[i + 1:]
    if kind == 1:
        return data[:i] + rnd.choice(_INSERTS) + data[i:]
    if kind == 2:
        return data[:i] + data[i + 1:]
    if kind == 3:
        j = rnd.randrange(len(data))
        b = bytearray(data)
        b[i], b[j] = b[j], b[i]
        return bytes(b)
    if kind == 4:
        return data[:i] + data[i:].upper()
    return data + data[i:]


def test_decode_matches_the_reference_on_canonical_and_mutated_bytes() -> None:
    rnd = random.Random(25)
    cases = answered = 0
    for value in random_values(26, 6000):
        try:
            data = encoding.encode_reference(value)
        except encoding.EncodingError:
            continue
        answered += NATIVE.canonical_decode(data) is not None or data == b"null"
        for candidate in (data, mutate(rnd, data), mutate(rnd, mutate(rnd, data)),
                          mutate(rnd, data)):
            assert outcome(compiled_decode, candidate) == \
                outcome(encoding.decode_reference, candidate), candidate
            cases += 1
    for candidate in (b"", b" 1", b"1 ", b"-0", b"01", b"1.0", b"1e3", b"NaN",
                      b'"\\u00e9"', b'"\\u001F"', b'"\\u000a"', b'"\\/"',
                      b'{"b":1,"a":2}', b'{"a":1,"a":2}', b"[" * 33 + b"]" * 33,
                      b"[" * 32 + b"]" * 32, b'{"\xc3\xa9":1}', b"9007199254740992",
                      b"-9007199254740991", b"null", b"\xff", b'"\xed\xa0\x80"'):
        assert outcome(compiled_decode, candidate) == \
            outcome(encoding.decode_reference, candidate), candidate
        cases += 1
    assert cases >= 10_000


def test_tx_decoding_is_the_same_with_either_decoder(monkeypatch: pytest.MonkeyPatch
                                                     ) -> None:
    rnd = random.Random(27)
    raws = []
    values = (v for v in random_values(28, 10**6) if outcome(encoding.encode, v)[0] == "ok")
    for i in range(150):
        key = keys.SigningKey((1000 + i).to_bytes(32, "big"))
        msgs = [{"type": "demo/msg", "n": rnd.randint(0, 10**6), "v": next(values)}
                for _ in range(rnd.randint(1, 3))]
        try:
            raws.append(build_tx(key, "phr-test", rnd.randint(1, 2**40), msgs))
        except (encoding.EncodingError, CodedError):
            continue  # too deep once inside the envelope: not a tx
    candidates = [r for raw in raws for r in (raw, mutate(rnd, raw), mutate(rnd, raw))]

    def decode_both(raw: bytes) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        monkeypatch.setattr(encoding, "_native", NATIVE)
        compiled = outcome(decode_tx, raw)
        monkeypatch.setattr(encoding, "_native", None)
        return compiled, outcome(decode_tx, raw)

    for raw in candidates:
        compiled, reference = decode_both(raw)
        assert compiled == reference, raw
    assert len(candidates) >= 300


def test_accel_status_says_what_was_chosen() -> None:
    from phrchain import PURE_REQUESTED

    if PURE_REQUESTED:
        assert accel.native is None and "PHRCHAIN_PURE=1" in accel.STATUS
    else:
        assert accel.native is NATIVE and accel.STATUS.startswith("compiled")
