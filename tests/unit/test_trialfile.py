"""The parts of ``client/trialfile`` that need no chain: the trial document id (against
a naive reference written from the README's text), the proof file's frame and seal
checked before parsing, and the trust roots."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from phrchain.client.trialfile.audit import AUDIT_FORMAT, EXPORT_TAG, trust_from_json, verify_audit
from phrchain.client.trialfile.documents import document_id
from phrchain.client.trialfile.errors import TrialFileError
from phrchain.core import encoding, keys

EXPORTER = keys.SigningKey(bytes([3]) * 32)
TRIAL = "ab" * 16


def test_document_id_is_the_readmes_hash() -> None:
    commitment = "cd" * 32
    naive = hashlib.sha256(b"phrchain/trials/document/v1\x00" + json.dumps(
        {"commitment": commitment, "kind": "sap", "trial": TRIAL},
        separators=(",", ":"), sort_keys=True).encode()).digest()[:16]
    assert document_id(TRIAL, "sap", commitment) == naive
    assert len({document_id(TRIAL, k, commitment) for k in ("protocol", "sap",
                                                             "randomisation")}) == 3


def sealed_file(body: Any, body_bytes: bytes | None = None) -> bytes:
    raw = encoding.encode(body) if body_bytes is None else body_bytes
    signature = EXPORTER.sign(EXPORT_TAG + raw).hex()
    return (b'{"body":' + raw + b',"exporter":"' + EXPORTER.did.encode()
            + b'","signature":"' + signature.encode() + b'"}')


BODY = {"format": AUDIT_FORMAT, "engine": "solo", "trial": TRIAL, "height": 1,
        "chain_id": "c", "entries": [], "exporter": EXPORTER.did, "header": {}}


def code(data: bytes, **kw: Any) -> tuple[str, int]:
    with pytest.raises(TrialFileError) as refused:
        verify_audit(data, **({"validator_did": EXPORTER.did} | kw))
    return refused.value.codespace, refused.value.code


def test_the_frame_and_the_seal_come_before_parsing() -> None:
    good = sealed_file(BODY)
    assert code(good) == ("trialfile", 3)                   # sealed; the header is empty
    assert code(b" " + good) == ("trialfile", 1)
    assert code(good + b"\n") == ("trialfile", 1)
    assert code(good.replace(b'"height":1', b'"height":2')) == ("trialfile", 2)
    other = keys.SigningKey(bytes([4]) * 32)
    assert code(good.replace(EXPORTER.did.encode(), other.did.encode())) == \
        ("trialfile", 2)


def test_a_sealed_but_not_canonical_file_is_malformed() -> None:
    spaced = json.dumps(BODY, sort_keys=True).encode()       # ", " and ": " separators
    assert code(sealed_file(BODY, spaced)) == ("trialfile", 1)
    assert code(sealed_file({**BODY, "format": "phrchain-trial-audit/v1"})) == \
        ("trialfile", 1)
    assert code(sealed_file({**BODY, "extra": 1})) == ("trialfile", 1)
    assert code(sealed_file({**BODY, "exporter": "did:key:zother"})) == ("trialfile", 1)


def test_trust_roots() -> None:
    sealed = sealed_file(BODY)
    assert code(sealed, validator_did=None, trust={"validators": []}) == ("trialfile", 6)
    cometbft = sealed_file({**{k: v for k, v in BODY.items() if k != "header"},
                            "engine": "cometbft", "light": {}})
    assert code(cometbft) == ("trialfile", 6)                # a DID for a CometBFT file
    with pytest.raises(TrialFileError) as refused:
        trust_from_json({"validators": [{"pub_key": {"type": "other"}, "power": "1"}]})
    assert refused.value.code == 6
