"""Sealed audit entries (``vault/audit_seal.py``): the recorded vectors, a naive
reference of the format, and what opening refuses.

Vectors: ``tests/vectors/audit/*.json`` (sealed once, see each file's ``source``). Given
the key and salt, the plaintext, the commitment and the ciphertext are deterministic;
HPKE wraps are not (a fresh ephemeral key each time), so each recorded wrapped key must
open with its reader's secret and an unrelated secret must not open it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import given, settings
from hypothesis import strategies as st

from phrchain.core import encoding, keys
from phrchain.modules.consent.decide import ACTIONS, DENY_REASONS
from phrchain.modules.consent.messages import PURPOSES
from phrchain.vault import audit_seal
from phrchain.vault.errors import AUDIT_ENTRY_INVALID, VaultError

VECTORS = sorted((Path(__file__).parent.parent / "vectors" / "audit").glob("*.json"))


def load(path: Path) -> dict[str, Any]:
    return dict(json.loads(path.read_text()))


PERMIT = VECTORS[0].parent / "sealed-entry-permit.json"  # a consent read


def test_there_are_vectors() -> None:
    assert len(VECTORS) >= 3


# -- a naive reference of the format (modules/audit/README.md), independent of audit_seal --
def reference(entry: dict[str, Any], patient: str, key: bytes, salt: bytes
              ) -> tuple[bytes, bytes, bytes]:
    """(plaintext, commitment, ct) computed straight from the README's steps."""
    plain = json.dumps({**entry, "salt": salt.hex()}, sort_keys=True, separators=(",", ":"),
                       ensure_ascii=False).encode()
    commitment = hashlib.sha256(b"phrchain/audit/commitment/v1\x00" + plain).digest()
    padded = plain + b"\x00" * (-len(plain) % 256)
    aad = b"phrchain/audit/aad/v1\x00" + json.dumps(
        {"patient": patient, "request": entry["request"]}, sort_keys=True,
        separators=(",", ":")).encode()
    return plain, commitment, AESGCM(key).encrypt(bytes(12), padded, aad)


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector_seals_to_the_recorded_bytes(path: Path) -> None:
    v = load(path)
    i, want = v["input"], v["expected"]
    key, salt = bytes.fromhex(i["key"]), bytes.fromhex(i["salt"])
    readers = {did: keys.EncryptionKey(bytes.fromhex(s)).public_key
               for did, s in i["readers"].items()}
    sealed = audit_seal.seal(i["entry"], i["patient"], readers, key=key, salt=salt)
    assert sealed["commitment"] == want["commitment"]
    assert sealed["sealed"]["ct"] == want["ct"]
    assert sorted(sealed["sealed"]["keys"]) == sorted(i["readers"])
    assert audit_seal.aad(i["patient"], i["entry"]["request"]).hex() == want["aad"]
    plain, commitment, ct = reference(i["entry"], i["patient"], key, salt)
    assert (plain.hex(), commitment.hex(), ct.hex()) == \
        (want["plaintext"], want["commitment"], want["ct"])
    assert len(ct) == want["padded_length"] + 16 and want["padded_length"] % 256 == 0


@pytest.mark.parametrize("path", VECTORS, ids=lambda p: p.stem)
def test_vector_opens_for_each_reader_and_not_for_an_unrelated_key(path: Path) -> None:
    v = load(path)
    i, want = v["input"], v["expected"]
    leaf = {"patient": i["patient"], "request": i["entry"]["request"],
            "commitment": want["commitment"], "sealed": {"ct": want["ct"], "keys": want["keys"]},
            "height": i["entry"]["at"] + 1}
    for did, secret in i["readers"].items():
        opened = audit_seal.open_entry(leaf, did, keys.EncryptionKey(bytes.fromhex(secret)))
        assert opened == i["entry"]
    stranger = keys.EncryptionKey(bytes.fromhex(i["unrelated_secret"]))
    for did in i["readers"]:
        with pytest.raises(VaultError) as exc:
            audit_seal.open_entry(leaf, did, stranger)
        assert exc.value.error is AUDIT_ENTRY_INVALID


# -- tampering ---------------------------------------------------------------------------
def _vector_leaf() -> tuple[dict[str, Any], str, keys.EncryptionKey]:
    v = load(PERMIT)
    i, want = v["input"], v["expected"]
    leaf = {"patient": i["patient"], "request": i["entry"]["request"],
            "commitment": want["commitment"], "height": i["entry"]["at"] + 1,
            "sealed": {"ct": want["ct"], "keys": dict(want["keys"])}}
    did = i["patient"]
    return leaf, did, keys.EncryptionKey(bytes.fromhex(i["readers"][did]))


def _flip(hex_text: str, at: int) -> str:
    raw = bytearray(bytes.fromhex(hex_text))
    raw[at] ^= 1
    return raw.hex()


@pytest.mark.parametrize("tamper", [
    "ct_first", "ct_last", "ct_tag", "ct_truncated", "wrapped", "commitment", "request",
    "patient", "height", "wrapped_swapped",
])
def test_a_tampered_sealed_entry_does_not_open(tamper: str) -> None:
    leaf, did, key = _vector_leaf()
    audit_seal.open_entry(leaf, did, key)  # the untouched leaf opens
    sealed = leaf["sealed"]
    if tamper == "ct_first":
        sealed["ct"] = _flip(sealed["ct"], 0)
    elif tamper == "ct_last":
        sealed["ct"] = _flip(sealed["ct"], 511)
    elif tamper == "ct_tag":
        sealed["ct"] = _flip(sealed["ct"], 520)
    elif tamper == "ct_truncated":
        sealed["ct"] = sealed["ct"][:-2]
    elif tamper == "wrapped":
        sealed["keys"][did] = _flip(sealed["keys"][did], 40)
    elif tamper == "commitment":
        leaf["commitment"] = _flip(leaf["commitment"], 3)
    elif tamper == "request":  # the AAD and the wrap info bind the request
        leaf["request"] = "44" * 32
    elif tamper == "patient":  # ... and the log's patient
        leaf["patient"] = keys.SigningKey(bytes([9]) * 32).did
    elif tamper == "height":  # cannot be included at the height it was decided at
        leaf["height"] = leaf["height"] - 1
    elif tamper == "wrapped_swapped":  # another reader's wrapped key under my DID
        other = next(d for d in sealed["keys"] if d != did)
        sealed["keys"][did] = sealed["keys"][other]
    with pytest.raises(VaultError) as exc:
        audit_seal.open_entry(leaf, did, key)
    assert exc.value.error is AUDIT_ENTRY_INVALID


def test_a_second_key_cannot_open_the_same_ciphertext_to_another_entry() -> None:
    """The commitment pins the plaintext: a vault that wraps another key for one reader
    (and seals another entry under it) is caught by the commitment."""
    leaf, did, key = _vector_leaf()
    v = load(PERMIT)["input"]
    other = dict(v["entry"], purpose="HPAYMT")
    forged = audit_seal.seal(other, leaf["patient"], {did: key.public_key})
    leaf["sealed"] = forged["sealed"]  # the commitment stays the original entry's
    with pytest.raises(VaultError, match="commitment"):
        audit_seal.open_entry(leaf, did, key)


# -- what sealing refuses, and the padding ----------------------------------------------
def _entry(**patch: Any) -> dict[str, Any]:
    base = dict(load(PERMIT)["input"]["entry"])
    return {**base, **patch}


@pytest.mark.parametrize("patch", [
    {"decision": "deny"},                                   # deny with a permit reason
    {"consent": None},                                      # consent reason without an id
    {"break_glass": True},                                  # flag without the reason
    {"reason": "break_glass", "consent": None},             # reason without the flag
    {"decision": "permit", "reason": "no_consent", "consent": None},
    {"action": "erase"}, {"purpose": "FUN"}, {"accessor": "did:web:x"},
    {"record": "00"}, {"request": "AB" * 32}, {"at": -1}, {"extra": 1},
])
def test_sealing_refuses_an_inconsistent_or_malformed_entry(patch: dict[str, Any]) -> None:
    reader = keys.EncryptionKey(bytes([5]) * 32)
    with pytest.raises(VaultError) as exc:
        audit_seal.seal(_entry(**patch), keys.SigningKey(bytes([1]) * 32).did,
                        {keys.SigningKey(bytes([1]) * 32).did: reader.public_key})
    assert exc.value.error is AUDIT_ENTRY_INVALID


def test_an_inconsistent_entry_sealed_by_hand_is_refused_when_opened() -> None:
    """The reader re-checks what the chain no longer can."""
    patient = keys.SigningKey(bytes([1]) * 32).did
    reader = keys.EncryptionKey(bytes([5]) * 32)
    entry = _entry(decision="deny")  # inconsistent: reason consent
    key, salt = bytes(32), bytes(16)
    plain = encoding.encode({**entry, "salt": salt.hex()})
    padded = audit_seal.pad(plain)
    ct = AESGCM(key).encrypt(bytes(12), padded, audit_seal.aad(patient, entry["request"]))
    from phrchain.vault.crypto import HPKE_SUITE
    wrapped = HPKE_SUITE.encrypt(key, reader.private().public_key(),
                                 info=audit_seal.wrap_info(patient, entry["request"], patient))
    leaf = {"patient": patient, "request": entry["request"], "height": 10_000,
            "commitment": audit_seal.commitment(plain).hex(),
            "sealed": {"ct": ct.hex(), "keys": {patient: wrapped.hex()}}}
    with pytest.raises(VaultError, match="inconsistent"):
        audit_seal.open_entry(leaf, patient, reader)


def test_padding_is_to_the_next_multiple_of_256_and_strict() -> None:
    for n in (1, 255, 256, 257, 511, 512, 1000):
        padded = audit_seal.pad(b"}" * n)
        assert len(padded) % 256 == 0 and len(padded) - n < 256 and len(padded) >= n
        assert audit_seal.unpad(padded) == b"}" * n
    with pytest.raises(VaultError):
        audit_seal.unpad(b"}" + bytes(511))  # one block too many
    with pytest.raises(VaultError):
        audit_seal.pad(b"}" * (8 * 256 + 1))  # over the chain's bound


def test_fresh_salt_and_key_make_two_seals_of_one_entry_unlinkable() -> None:
    patient = keys.SigningKey(bytes([1]) * 32).did
    reader = keys.EncryptionKey(bytes([5]) * 32).public_key
    a = audit_seal.seal(_entry(), patient, {patient: reader})
    b = audit_seal.seal(_entry(), patient, {patient: reader})
    assert a["commitment"] != b["commitment"] and a["sealed"]["ct"] != b["sealed"]["ct"]


# -- any consistent entry seals and opens to itself ---------------------------------------
_PATIENT = keys.SigningKey(bytes([1]) * 32).did
_OPENER = keys.EncryptionKey(bytes([6]) * 32)
_accessors = st.sampled_from([keys.SigningKey(bytes([n]) * 32).did for n in (2, 3, 4)])
_ids = st.binary(min_size=16, max_size=16).map(bytes.hex)
_entries = st.one_of(
    st.builds(audit_seal.AccessEntry, _ids, _accessors,
              st.sampled_from(sorted(ACTIONS - {"break_glass"})),
              st.sampled_from(sorted(PURPOSES)), st.just("permit"), st.just("consent"),
              _ids, st.just(False), st.just("ab" * 32), st.integers(0, 10**6)),
    st.builds(audit_seal.AccessEntry, _ids, _accessors, st.sampled_from(sorted(ACTIONS)),
              st.sampled_from(sorted(PURPOSES)), st.just("deny"),
              st.sampled_from(sorted(DENY_REASONS)), st.none(), st.just(False),
              st.just("cd" * 32), st.integers(0, 10**6)),
    st.builds(audit_seal.AccessEntry, _ids, _accessors, st.just("break_glass"),
              st.just("ETREAT"), st.just("permit"), st.just("break_glass"), st.none(),
              st.just(True), st.just("ef" * 32), st.integers(0, 10**6)))


@settings(max_examples=40, deadline=None)
@given(_entries)
def test_any_consistent_entry_seals_and_opens_to_itself(entry: audit_seal.AccessEntry) -> None:
    out = audit_seal.seal(entry, _PATIENT, {_PATIENT: _OPENER.public_key})
    assert (len(out["sealed"]["ct"]) // 2 - 16) % 256 == 0
    leaf = {**out, "height": entry.at + 1}
    assert audit_seal.open_entry(leaf, _PATIENT, _OPENER) == entry.to_json()
    assert audit_seal.AccessEntry.parse(entry.to_json()) == entry


def test_the_vaults_author_rule_is_a_permit_reason_whatever_the_chain_decides() -> None:
    """v2: authors are known to their vault only, which permits them (reason ``author``)."""
    reader = keys.EncryptionKey(bytes([5]) * 32)
    patient = keys.SigningKey(bytes([1]) * 32).did
    out = audit_seal.seal(_entry(reason="author", consent=None), patient,
                          {patient: reader.public_key})
    assert audit_seal.open_entry(out, patient, reader)["reason"] == "author"
    with pytest.raises(VaultError, match="inconsistent"):
        audit_seal.seal(_entry(reason="author", consent=None, decision="deny"), patient,
                        {patient: reader.public_key})


# -- the reader checks what the chain no longer can: the record is the log's patient's ------
class _Records:
    def __init__(self, owners: dict[str, str]) -> None:
        self.owners, self.asked = owners, 0

    def query(self, path: str, data: dict[str, Any]) -> dict[str, Any]:
        assert path == "records/get"
        self.asked += 1
        owner = self.owners.get(data["record"])
        return {"value": None if owner is None else {"record": data["record"],
                                                     "patient": owner}}


def test_an_opened_entry_must_name_a_record_of_the_logs_patient() -> None:
    from phrchain.client.audit import RecordOwners, open_leaf
    from phrchain.core.errors import ProofError

    leaf, did, key = _vector_leaf()
    leaf = {**leaf, "index": 0, "vault": did}
    opened = open_leaf(leaf, {did: [key]})
    record = opened["record"]
    node = _Records({record: leaf["patient"]})
    owners = RecordOwners(node)
    owners.check(opened)
    owners.check(opened)
    assert node.asked == 1  # once per record
    for wrong in ({record: keys.SigningKey(bytes([9]) * 32).did}, {}):  # another's, unknown
        with pytest.raises(ProofError, match="not a record of this log's patient"):
            RecordOwners(_Records(wrong)).check(opened)
    RecordOwners(_Records({})).check(open_leaf(leaf, {}))  # sealed: nothing to check


# -- the optional fields (issue 19's FHIR facade) -----------------------------------------
_NOTE = {"client": "phr-demo-app", "grant": "12" * 16, "batch": "34" * 32,
         "released": "count"}


def test_optional_fields_seal_and_open_and_old_entries_keep_their_bytes() -> None:
    """An entry with the optional fields opens to itself; one without them encodes
    exactly as before they existed (the recorded vectors above still seal byte for byte)."""
    entry = _entry(**_NOTE)
    out = audit_seal.seal(entry, _PATIENT, {_PATIENT: _OPENER.public_key})
    opened = audit_seal.open_entry({**out, "height": entry["at"] + 1}, _PATIENT, _OPENER)
    assert opened == entry
    plain = audit_seal.plaintext(audit_seal.AccessEntry.parse(_entry()), bytes(16))
    assert not any(w in plain for w in (b'"client"', b'"grant"', b'"batch"', b'"released"'))


@pytest.mark.parametrize("patch", [
    {"released": "resource"},                               # not a released kind
    {"decision": "deny", "reason": "no_consent", "consent": None, "released": "count"},
    {"client": ""}, {"client": "a b"}, {"client": "x" * 129},
    {"grant": "zz"}, {"batch": "00"}, {"client": None},
])
def test_optional_fields_are_checked(patch: dict[str, Any]) -> None:
    with pytest.raises(VaultError) as exc:
        audit_seal.seal(_entry(**patch), _PATIENT, {_PATIENT: _OPENER.public_key})
    assert exc.value.error is AUDIT_ENTRY_INVALID
