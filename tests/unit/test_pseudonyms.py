"""Per-relationship pseudonyms (issue 14): the HKDF derivation against its vectors and a
naive RFC 5869 reference, independence of pseudonyms, the map in the wallet file, the
legacy root of old files, rotation and the emergency card."""

from __future__ import annotations

import hashlib
import hmac
import json
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.pseudonyms import (
    SALT,
    PseudonymError,
    derive_pseudonym,
    legacy_root,
)
from phrchain.client.wallet import KdfParams, Wallet, WalletError
from phrchain.core import encoding, keys
from phrchain.modules.identity import rotation_bytes
from tests.conftest import load_vectors

FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)
VECTORS = load_vectors("pseudonyms")
DERIVED = [(name, v) for name, v in VECTORS if "root" in v]
A = "did:key:z6MkiTBz1ymuepAQ4HEHYSF1H8quG5GLVVQR3djdX3mDooWp"
B = "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"
INSURER = "did:key:z6MktwupdmLXVVqTzCw4i46r4uGyosGXRnR3XjN4Zq7oMMsw"


def naive_hkdf(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    """RFC 5869 §2.2 and §2.3, written out with hmac: the reference for the fast one."""
    prk = hmac.new(salt or bytes(32), ikm, hashlib.sha256).digest()
    out, block, counter = b"", b"", 1
    while len(out) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        out += block
        counter += 1
    return out[:length]


@pytest.mark.parametrize(("name", "v"), DERIVED, ids=[n for n, _ in DERIVED])
def test_vectors(name: str, v: dict[str, Any]) -> None:
    root = bytes.fromhex(v["root"])
    seed, enc = derive_pseudonym(root, v["counterpart"], v["kind"], v["generation"],
                                 v["rotation"])
    assert (seed.hex(), enc.hex()) == (v["seed"], v["enc_secret"])
    assert keys.SigningKey(seed).public_key.hex() == v["signing_key"]
    assert keys.EncryptionKey(enc).public_key.hex() == v["enc_key"]
    info = encoding.encode({"counterpart": v["counterpart"], "kind": v["kind"],
                            "generation": v["generation"], "rotation": v["rotation"]})
    assert naive_hkdf(root, SALT, info, 64) == seed + enc
    # The wallet gives the same pseudonym: its DID is the rotation-0 key's did:key.
    wallet = Wallet.from_secrets(bytes(32), bytes([9]) * 32, root=root)
    wallet.remember(v["counterpart"], v["kind"], v["generation"], v["rotation"])
    p = wallet.pseudonym(v["counterpart"], v["kind"], v["generation"])
    assert p.did == v["did"]
    assert p.signing_key.public_key.hex() == v["signing_key"]
    assert p.enc_key.hex() == v["enc_key"]


def test_legacy_root_vector() -> None:
    (v,) = [v for _, v in VECTORS if "legacy_root" in v]
    seed = bytes.fromhex(v["signing_seed"])
    assert legacy_root(seed).hex() == v["legacy_root"]
    assert naive_hkdf(seed, b"", b"phrchain/pseudonym/legacy-root/v1", 32).hex() \
        == v["legacy_root"]
    assert Wallet.from_secrets(seed, bytes([2]) * 32).root.hex() == v["legacy_root"]


def test_rotation_keeps_the_did_and_changes_both_keys() -> None:
    by_name = dict(VECTORS)
    r0, r1 = by_name["custodian-a"], by_name["custodian-a-rotation-1"]
    assert r0["did"] == r1["did"]
    assert r0["signing_key"] != r1["signing_key"] and r0["enc_key"] != r1["enc_key"]
    g1 = by_name["custodian-a-generation-1"]
    assert g1["did"] != r0["did"]


def _all_bytes(w: Wallet) -> set[bytes]:
    return {w.signing_key.seed, w.signing_key.public_key, w.encryption_key.secret,
            w.enc_key, keys.public_key_from_did(w.did), w.did.encode()}


def test_pseudonyms_share_nothing_and_are_not_the_root() -> None:
    wallet = Wallet.create("ana")
    ps = [wallet.pseudonym(A, "custodian"), wallet.pseudonym(B, "custodian"),
          wallet.pseudonym(INSURER, "insurer"), wallet.pseudonym(A, "custodian", 1),
          wallet.pseudonym(A, "study")]
    for i, p in enumerate(ps):
        assert wallet.root not in _all_bytes(p)
        assert not _all_bytes(p) & _all_bytes(wallet)
        for q in ps[i + 1:]:
            assert not _all_bytes(p) & _all_bytes(q), (p.did, q.did)
            # no 8-byte run of one pseudonym's secrets appears in another's
            for secret in (p.signing_key.seed, p.encryption_key.secret):
                blob = q.signing_key.seed + q.encryption_key.secret + q.enc_key
                assert not any(secret[k:k + 8] in blob for k in range(25))


def test_one_pseudonyms_secrets_do_not_give_another() -> None:
    """Derivation is one-way: knowing A's keys (its okm) is not knowing B's. What can be
    asserted from outside: changing any info field changes every output byte-block."""
    root = bytes(range(32))
    a_seed, a_enc = derive_pseudonym(root, A, "custodian")
    for args in ((B, "custodian", 0, 0), (A, "insurer", 0, 0), (A, "custodian", 1, 0),
                 (A, "custodian", 0, 1)):
        seed, enc = derive_pseudonym(root, *args)
        assert seed != a_seed and enc != a_enc and seed != a_enc and enc != a_seed
        # using A's secrets as the root gives neither B's keys nor anything of root's
        assert derive_pseudonym(a_seed, *args) != (seed, enc)
        assert derive_pseudonym(a_enc, *args) != (seed, enc)


@pytest.mark.parametrize(("args", "message"), [
    (("", "custodian"), "counterpart"),
    ((A, "doctor"), "kind"),
    ((A, "custodian", -1), "generation"),
    ((A, "custodian", 0, True), "rotation"),
    ((A, "custodian", 1 << 16), "generation"),
])
def test_bad_parameters_are_refused(args: tuple[Any, ...], message: str) -> None:
    with pytest.raises(PseudonymError, match=message):
        derive_pseudonym(bytes(32), *args)
    with pytest.raises(PseudonymError, match="32 bytes"):
        derive_pseudonym(bytes(31), A, "custodian")


def test_map_survives_the_wallet_file(tmp_path: Path) -> None:
    wallet = Wallet.create("ana")
    wallet.remember(A, "custodian", registered_height=7)
    path = tmp_path / "w.json"
    wallet.save(path, "pw", FAST)
    wallet.remember(INSURER, "insurer")
    wallet.save_over(path, "pw", FAST)
    loaded = Wallet.load(path, "pw")
    assert loaded.root == wallet.root
    assert loaded.pseudonyms() == wallet.pseudonyms()
    assert [p.registered_height for p in loaded.pseudonyms()] in ([7, None], [None, 7])
    assert loaded.pseudonym(A, "custodian") == wallet.pseudonym(A, "custodian")
    # the map is inside the ciphertext: the clear file names no pseudonym
    text = path.read_text()
    assert wallet.pseudonym_did(A, "custodian") not in text and A not in text
    other = Wallet.create("bo")
    with pytest.raises(WalletError, match="another identity"):
        other.save_over(path, "pw", FAST)


def test_old_wallet_file_loads_with_the_legacy_root(tmp_path: Path) -> None:
    """A file written before roots: its plaintext has no root and no map."""
    wallet = Wallet.from_secrets(bytes([3]) * 32, bytes([4]) * 32, "old")
    secrets_ = wallet.secrets_json()
    del secrets_["root"], secrets_["pseudonyms"]
    rebuilt = Wallet.from_secrets_json(wallet.did, "old", secrets_)
    assert rebuilt.root == legacy_root(bytes([3]) * 32) == wallet.root
    assert rebuilt.pseudonyms() == []
    # rotating the identity key keeps the root (else the pseudonyms would be lost)
    _, rotated = rebuilt.rotate("chain")
    assert rotated.root == rebuilt.root


def test_a_map_entry_not_derived_from_the_root_is_refused() -> None:
    wallet = Wallet.create()
    secrets_ = wallet.secrets_json()
    stranger = Wallet.create().pseudonym_did(A, "custodian")
    secrets_["pseudonyms"] = {stranger: {"counterpart": A, "kind": "custodian",
                                         "generation": 0, "rotation": 0}}
    with pytest.raises(WalletError, match="not derived from this root"):
        Wallet.from_secrets_json(wallet.did, "", secrets_)
    secrets_["pseudonyms"] = {stranger: {"counterpart": A, "kind": "custodian"}}
    with pytest.raises(WalletError, match="malformed map entry"):
        Wallet.from_secrets_json(wallet.did, "", secrets_)


def test_rotate_pseudonym_message_and_wallet() -> None:
    wallet = Wallet.create()
    did = wallet.remember(A, "custodian").did
    before = wallet.pseudonym(A, "custodian")
    msg, after = wallet.rotate_pseudonym("phr-test", did)
    assert after.did == did == before.did
    assert msg["new_key"] == after.signing_key.public_key.hex()
    assert msg["enc_key"] == after.enc_key.hex()
    keys.verify(after.signing_key.public_key, bytes.fromhex(msg["proof"]),
                rotation_bytes("phr-test", did, after.signing_key.public_key))
    # older encryption keys stay as retired: records wrapped to them stay readable
    assert [k.secret for k in after.retired_encryption_keys] == [before.encryption_key.secret]
    # the map decides which rotation pseudonym() gives
    assert wallet.pseudonym(A, "custodian") == before
    wallet.remember(A, "custodian", rotation=1)
    assert wallet.pseudonym(A, "custodian") == after
    with pytest.raises(WalletError, match="not one of this wallet's pseudonyms"):
        wallet.rotate_pseudonym("phr-test", Wallet.create().did)


def test_emergency_card_lists_custodian_pseudonyms_only() -> None:
    wallet = Wallet.create()
    a = wallet.remember(A, "custodian").did
    b = wallet.remember(B, "custodian").did
    wallet.remember(INSURER, "insurer")
    card = wallet.emergency_card()
    assert sorted(card, key=lambda e: e["custodian"]) == sorted(
        [{"custodian": A, "pseudonym": a}, {"custodian": B, "pseudonym": b}],
        key=lambda e: e["custodian"])
    assert all(e["pseudonym"] != wallet.pseudonym_did(INSURER, "insurer") for e in card)
    json.dumps(card)  # plain data: it goes on a card, a QR or a portable file


class _NoNode:
    """A node that must not be reached: the refusals happen before any request."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the node was used ({name}) for a refused transfer")


def test_the_sdk_refuses_to_move_money_between_own_pseudonyms() -> None:
    from phrchain.client.claims import ClaimsClient
    from phrchain.client.patient import PatientWallet, SelfTransferError
    from phrchain.client.session import RecordsError, Session

    wallet = Wallet.create()
    a = wallet.remember(A, "custodian").did
    i = wallet.remember(INSURER, "insurer").did
    me = PatientWallet(_NoNode(), wallet, {})  # type: ignore[arg-type]
    with pytest.raises(SelfTransferError, match="would link them publicly"):
        me.transfer(a, i, 100, "EUR")
    with pytest.raises(SelfTransferError):
        me.transfer(i, wallet.did, 100, "EUR")   # nor to the root identity
    session = Session(_NoNode(), wallet.pseudonym(A, "custodian"), {})  # type: ignore[arg-type]
    session.own_pseudonyms = frozenset({a, i})
    with pytest.raises(RecordsError, match="another pseudonym of this wallet"):
        ClaimsClient(session).transfer(i, 100, "EUR")


def test_cli_wallet_card(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from phrchain.cli.main import main

    wallet = Wallet.create("ana")
    a = wallet.remember(A, "custodian").did
    i = wallet.remember(INSURER, "insurer").did
    path, secret = tmp_path / "w.json", tmp_path / "pass"
    wallet.save(path, "card passphrase", FAST)
    secret.write_text("card passphrase\n")
    assert main(["wallet", "card", "--wallet", str(path), "--passphrase-file", str(secret),
                 "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == [{"custodian": A, "pseudonym": a}]
    assert main(["wallet", "card", "--wallet", str(path), "--passphrase-file", str(secret),
                 "--pseudonyms", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert {(r["did"], r["kind"], r["counterpart"]) for r in listed} == \
        {(a, "custodian", A), (i, "insurer", INSURER)}
