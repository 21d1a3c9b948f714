"""Wallet files: round trip, refusal of a wrong passphrase and of any tampering, file mode,
no overwrite, public header readable without the passphrase, key rotation."""

from __future__ import annotations

import json
import stat
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.wallet import (
    DEFAULT_KDF,
    KdfParams,
    Wallet,
    WalletError,
    read_public,
    wallet_for_rotation,
)
from phrchain.core import keys
from phrchain.modules.identity import rotation_bytes

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)  # tests only: cheap to derive
PASS = "correct horse battery staple"


def _counter_bytes() -> Any:
    """Deterministic stand-in for secrets.token_bytes (randomness is a parameter)."""
    state = {"n": 0}

    def random_bytes(n: int) -> bytes:
        state["n"] += 1
        return bytes([state["n"]]) * n

    return random_bytes


@pytest.fixture
def wallet() -> Wallet:
    return Wallet.from_secrets(bytes([7]) * 32, bytes([8]) * 32, label="Dr Example")


@pytest.fixture
def saved(tmp_path: Path, wallet: Wallet) -> Path:
    path = tmp_path / "w.json"
    wallet.save(path, PASS, kdf=FAST)
    return path


def _edit(path: Path, change: Any) -> None:
    body = json.loads(path.read_text())
    change(body)
    path.write_text(json.dumps(body))


def test_round_trip(saved: Path, wallet: Wallet) -> None:
    loaded = Wallet.load(saved, PASS)
    assert loaded == wallet
    assert loaded.signing_key.seed == wallet.signing_key.seed
    assert loaded.encryption_key.secret == wallet.encryption_key.secret
    assert loaded.did == keys.SigningKey(bytes([7]) * 32).did
    assert loaded.label == "Dr Example"


def test_file_holds_no_secret_in_clear_and_records_kdf(saved: Path, wallet: Wallet) -> None:
    text = saved.read_text()
    assert wallet.signing_key.seed.hex() not in text
    assert wallet.encryption_key.secret.hex() not in text
    body = json.loads(text)
    assert body["kdf"]["name"] == "argon2id"
    assert (body["kdf"]["memory_kib"], body["kdf"]["iterations"], body["kdf"]["lanes"]) == \
        (FAST.memory_kib, FAST.iterations, FAST.lanes)
    assert len(bytes.fromhex(body["cipher"]["nonce"])) == 12


def test_default_kdf_is_64_mib_3_passes(tmp_path: Path, wallet: Wallet) -> None:
    path = tmp_path / "default.json"
    wallet.save(path, PASS)
    kdf = json.loads(path.read_text())["kdf"]
    assert (kdf["memory_kib"], kdf["iterations"], kdf["lanes"]) == (65536, 3, 1)
    assert DEFAULT_KDF == KdfParams(65536, 3, 1)
    assert Wallet.load(path, PASS) == wallet


def test_file_mode_is_0600_and_no_temp_file_left(saved: Path) -> None:
    assert stat.S_IMODE(saved.stat().st_mode) == 0o600
    assert [p.name for p in saved.parent.iterdir()] == [saved.name]


def test_refuses_to_overwrite(saved: Path, wallet: Wallet) -> None:
    before = saved.read_bytes()
    with pytest.raises(WalletError, match="already exists"):
        wallet.save(saved, PASS, kdf=FAST)
    assert saved.read_bytes() == before


def test_wrong_passphrase(saved: Path) -> None:
    with pytest.raises(WalletError, match="wrong passphrase or corrupted wallet"):
        Wallet.load(saved, PASS + "!")


def test_empty_passphrase_refused(tmp_path: Path, wallet: Wallet) -> None:
    with pytest.raises(WalletError, match="empty"):
        wallet.save(tmp_path / "x.json", "", kdf=FAST)


@pytest.mark.parametrize("change", [
    pytest.param(lambda b: b.update(ciphertext=("00" if b["ciphertext"][:2] != "00" else "01")
                                    + b["ciphertext"][2:]), id="ciphertext-byte"),
    pytest.param(lambda b: b.update(ciphertext=b["ciphertext"][:-2]), id="ciphertext-truncated"),
    pytest.param(lambda b: b.update(label="Mallory"), id="label"),
    pytest.param(lambda b: b.update(did=keys.SigningKey(bytes([9]) * 32).did), id="did"),
    pytest.param(lambda b: b.update(enc_key=keys.EncryptionKey(bytes([9]) * 32)
                                    .public_key.hex()), id="enc_key"),
    pytest.param(lambda b: b["kdf"].update(iterations=2), id="kdf-iterations"),
    pytest.param(lambda b: b["kdf"].update(salt="00" * 16), id="kdf-salt"),
    pytest.param(lambda b: b["cipher"].update(nonce="00" * 12), id="nonce"),
])
def test_tampering_is_refused(saved: Path, change: Any) -> None:
    _edit(saved, change)
    with pytest.raises(WalletError, match="wrong passphrase or corrupted wallet"):
        Wallet.load(saved, PASS)


@pytest.mark.parametrize("change,match", [
    (lambda b: b.update(format="something-else"), "not a phrchain wallet"),
    (lambda b: b.update(version=2), "unsupported wallet version"),
    (lambda b: b.update(extra=1), "corrupted"),
    (lambda b: b["kdf"].update(memory_kib=2**40), "outside"),
    (lambda b: b.update(ciphertext="XYZ"), "corrupted"),
])
def test_malformed_files_are_refused_clearly(saved: Path, change: Any, match: str) -> None:
    _edit(saved, change)
    with pytest.raises(WalletError, match=match):
        Wallet.load(saved, PASS)


def test_not_json_and_missing_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.json"
    junk.write_text("{not json")
    with pytest.raises(WalletError, match="corrupted"):
        Wallet.load(junk, PASS)
    with pytest.raises(WalletError, match="no wallet file"):
        Wallet.load(tmp_path / "absent.json", PASS)


def test_public_header_readable_without_passphrase(saved: Path, wallet: Wallet) -> None:
    info = read_public(saved)
    assert info == wallet.info
    assert info.enc_key == wallet.enc_key


def test_create_uses_given_randomness() -> None:
    a = Wallet.create("a", random_bytes=_counter_bytes())
    b = Wallet.create("b", random_bytes=_counter_bytes())
    assert a.did == b.did and a.label == "a"
    assert Wallet.create("c").did != Wallet.create("c").did


def test_rotate_keeps_did_and_proves_new_key(tmp_path: Path, wallet: Wallet) -> None:
    msg, rotated = wallet.rotate("phr-test", random_bytes=_counter_bytes())
    assert msg["type"] == "identity/rotate_key" and "enc_key" not in msg
    assert rotated.did == wallet.did
    assert rotated.signing_key.public_key != wallet.signing_key.public_key
    assert rotated.encryption_key == wallet.encryption_key
    new_key = bytes.fromhex(msg["new_key"])
    assert new_key == rotated.signing_key.public_key
    keys.verify(new_key, bytes.fromhex(msg["proof"]),
                rotation_bytes("phr-test", wallet.did, new_key))
    path = tmp_path / "rotated.json"
    rotated.save(path, PASS, kdf=FAST)
    again = Wallet.load(path, PASS)
    assert again == rotated and again.did == wallet.did
    assert read_public(path).signing_key == new_key


def test_rotate_encryption_keeps_the_retired_secret(tmp_path: Path, wallet: Wallet) -> None:
    msg, rotated = wallet.rotate("phr-test", rotate_encryption=True)
    assert msg["enc_key"] == rotated.enc_key.hex() != wallet.enc_key.hex()
    assert rotated.retired_encryption_keys == (wallet.encryption_key,)
    path = tmp_path / "r.json"
    rotated.save(path, PASS, kdf=FAST)
    assert Wallet.load(path, PASS).retired_encryption_keys == (wallet.encryption_key,)


def test_rotation_file_name(saved: Path) -> None:
    first = wallet_for_rotation(saved)
    assert first.name == "w.rotated-1.json"
    first.write_text("{}")
    assert wallet_for_rotation(saved).name == "w.rotated-2.json"
