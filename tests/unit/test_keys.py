from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from phrchain.core import keys
from phrchain.core.errors import CryptoError
from tests.conftest import load_vectors

DIDKEY = load_vectors("didkey")
ED25519 = load_vectors("ed25519")

# --- a deliberately naive edwards25519 reference (tests only) -------------------------
P = keys.P
D = (-121665 * pow(121666, P - 2, P)) % P
IDENTITY = (0, 1)


def _add(a: tuple[int, int], b: tuple[int, int]) -> tuple[int, int]:
    (x1, y1), (x2, y2) = a, b
    t = D * x1 * x2 * y1 * y2 % P
    return ((x1 * y2 + x2 * y1) * pow(1 + t, P - 2, P) % P,
            (y1 * y2 + x1 * x2) * pow(1 - t, P - 2, P) % P)


def _x_from_y(y: int) -> int | None:
    u, v = (y * y - 1) % P, (D * y * y + 1) % P
    x2 = u * pow(v, P - 2, P) % P
    x = pow(x2, (P + 3) // 8, P)
    if (x * x - x2) % P:
        x = x * pow(2, (P - 1) // 4, P) % P
    return x if (x * x - x2) % P == 0 else None


def _order_divides_8(y: int) -> bool:
    x = _x_from_y(y)
    if x is None:
        return False
    point = (x, y)
    acc = IDENTITY
    for _ in range(8):
        acc = _add(acc, point)
    return acc == IDENTITY


def test_small_order_table_is_exactly_the_torsion_points() -> None:
    assert all(_order_divides_8(y) for y in keys.SMALL_ORDER_Y)
    # and no other small y is of small order (a spot check beyond the table)
    assert not any(_order_divides_8(y) for y in range(2, 2000))


@pytest.mark.parametrize("y", sorted(keys.SMALL_ORDER_Y))
@pytest.mark.parametrize("sign", [0, 1])
def test_small_order_keys_refused(y: int, sign: int) -> None:
    raw = (y | (sign << 255)).to_bytes(32, "little")
    with pytest.raises(CryptoError, match="small-order"):
        keys.check_ed25519_public_key(raw)


@given(st.integers(2, P - 1), st.integers(0, 1))
def test_on_curve_check_agrees_with_naive_decompression(y: int, sign: int) -> None:
    raw = (y | (sign << 255)).to_bytes(32, "little")
    if y in keys.SMALL_ORDER_Y:
        return
    if _x_from_y(y) is None:
        with pytest.raises(CryptoError, match="not a point on the curve"):
            keys.check_ed25519_public_key(raw)
    else:
        keys.check_ed25519_public_key(raw)


def test_on_curve_one_exponentiation_agrees_with_naive_decompression_seeded() -> None:
    # keys._on_curve tests u·v for squareness instead of u/v: a seeded sweep besides the
    # hypothesis test above, over small y and random y (about half of them on the curve).
    rnd = random.Random(20)
    ys = [*range(2, 500), *(rnd.randrange(2, P) for _ in range(2000))]
    on = [y for y in ys if y not in keys.SMALL_ORDER_Y and _x_from_y(y) is not None]
    assert all(keys._on_curve(y) == (_x_from_y(y) is not None) for y in ys
               if y not in keys.SMALL_ORDER_Y)
    assert 0.3 < len(on) / len(ys) < 0.7


@pytest.mark.parametrize("y", [2, 7, 8, 11, 12])
def test_off_curve_keys_refused_everywhere(y: int) -> None:
    assert _x_from_y(y) is None  # the naive reference agrees these are off the curve
    raw = y.to_bytes(32, "little")
    with pytest.raises(CryptoError, match="not a point on the curve"):
        keys.did_from_public_key(raw)
    did = keys.DID_KEY_PREFIX + keys.b58encode(keys.ED25519_PUB_MULTICODEC + raw)
    with pytest.raises(CryptoError, match="not a point on the curve"):
        keys.public_key_from_did(did)


@pytest.mark.parametrize("y", [P, P + 1, 2**255 - 1])
def test_non_canonical_keys_refused(y: int) -> None:
    with pytest.raises(CryptoError, match="canonical"):
        keys.check_ed25519_public_key(y.to_bytes(32, "little"))


@pytest.mark.parametrize(("name", "case"), ED25519, ids=[n for n, _ in ED25519])
def test_rfc8032_vectors(name: str, case: dict) -> None:
    key = keys.SigningKey(bytes.fromhex(case["seed"]))
    message = bytes.fromhex(case["message"])
    assert key.public_key.hex() == case["public_key"]
    assert key.sign(message).hex() == case["signature"]
    keys.verify(key.public_key, bytes.fromhex(case["signature"]), message)


@pytest.mark.parametrize(("name", "case"), ED25519, ids=[n for n, _ in ED25519])
def test_signature_mutations_refused(name: str, case: dict) -> None:
    pub, sig = bytes.fromhex(case["public_key"]), bytes.fromhex(case["signature"])
    message = bytes.fromhex(case["message"])
    s = int.from_bytes(sig[32:], "little")
    malleated = sig[:32] + (s + keys.L).to_bytes(32, "little")  # same point, S not reduced
    with pytest.raises(CryptoError, match="S >= L"):
        keys.verify(pub, malleated, message)
    for i in range(0, 64, 7):
        flipped = bytearray(sig)
        flipped[i] ^= 0x01
        with pytest.raises(CryptoError):
            keys.verify(pub, bytes(flipped), message)
    with pytest.raises(CryptoError):
        keys.verify(pub, sig, message + b"x")
    with pytest.raises(CryptoError):
        keys.verify(pub, sig[:63], message)


@pytest.mark.parametrize(("name", "case"), DIDKEY, ids=[n for n, _ in DIDKEY])
def test_did_key_vectors(name: str, case: dict) -> None:
    if "error" in case:
        with pytest.raises(CryptoError):
            keys.public_key_from_did(case["did"])
        return
    if "seed" in case:
        key = keys.SigningKey(bytes.fromhex(case["seed"]))
        assert key.public_key.hex() == case["public_key"]
        assert key.did == case["did"]
    public = keys.public_key_from_did(case["did"])
    assert keys.did_from_public_key(public) == case["did"]


def test_did_key_refuses_small_order_inside() -> None:
    small = keys.b58encode(keys.ED25519_PUB_MULTICODEC + (1).to_bytes(32, "little"))
    with pytest.raises(CryptoError):
        keys.public_key_from_did(keys.DID_KEY_PREFIX + small)


def test_base58_leading_zeros_round_trip() -> None:
    for raw in [b"", b"\x00", b"\x00\x00\x01", bytes(range(40))]:
        assert keys.b58decode(keys.b58encode(raw)) == raw


# X25519 low-order points (RFC 7748 §6.1): u = 0, 1, p-1 and the two order-8 points.
LOW_ORDER_U = [0, 1, P - 1,
               0x00B8495F16056286FDB1329CEB8D09DA6AC49FF1FAE35616AEB8413B7C7AEBE0,
               0x57119FD0DD4E22D8868E1C58C45C44045BEF839C55B1D0B1248C50A3BC959C5F]


@pytest.mark.parametrize("u", LOW_ORDER_U)
def test_x25519_low_order_refused(u: int) -> None:
    with pytest.raises(CryptoError, match=r"low-order|canonical"):
        keys.check_x25519_public_key(u.to_bytes(32, "little"))


def test_low_order_table_matches_openssl() -> None:
    """Every table entry is refused by OpenSSL itself (all-zero shared secret), and
    ordinary keys are not: the fast table check says what OpenSSL would."""
    from cryptography.hazmat.primitives.asymmetric.x25519 import (
        X25519PrivateKey,
        X25519PublicKey,
    )

    probe = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
    assert set(LOW_ORDER_U) == keys.LOW_ORDER_U
    for u in keys.LOW_ORDER_U:
        with pytest.raises(ValueError):
            probe.exchange(X25519PublicKey.from_public_bytes(u.to_bytes(32, "little")))
    for seed in range(1, 200):
        public = keys.EncryptionKey(seed.to_bytes(32, "big")).public_key
        keys.check_x25519_public_key(public)
        probe.exchange(X25519PublicKey.from_public_bytes(public))


def test_x25519_non_canonical_refused() -> None:
    with pytest.raises(CryptoError):
        keys.check_x25519_public_key(bytes(31) + b"\x80")
    with pytest.raises(CryptoError):
        keys.check_x25519_public_key((P + 5).to_bytes(32, "little"))


def test_x25519_ordinary_key_accepted() -> None:
    enc = keys.EncryptionKey(bytes(range(32)))
    keys.check_x25519_public_key(enc.public_key)
    assert keys.x25519_multibase(enc.public_key).startswith("z6LS")
