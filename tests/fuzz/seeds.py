"""Seed inputs for the fuzz targets: one valid example of each input kind (so the fuzzer
starts past the first checks), written by ``bench/fuzz.py --seed``. Deterministic: fixed
keys, salts and nonces, so re-running rewrites the same files."""

from __future__ import annotations

import json
from pathlib import Path

from phrchain.client.portable_file import Payload, seal
from phrchain.client.wallet import KdfParams, Wallet
from phrchain.core import encoding
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.wire import frame
from phrchain.fhir import jsonio
from phrchain.fhir.synthetic import generate_bundle
from phrchain.testing import AUTHORITY, Chain, enc_key, signing_key
from phrchain.vault import crypto, wire
from phrchain.vault.requests import REQUEST_HEADER, SIGNATURE_HEADER, sign_request
from tests.fuzz.targets import NOW_MS, PASSPHRASE, VAULT_DID

_FIXED = bytes(range(32))


def _tx() -> dict[str, bytes]:
    chain = Chain.new()
    return {
        "register": chain.tx(signing_key(31), {"type": "identity/register_patient",
                                               "enc_key": enc_key(1)}),
        "revoke": chain.tx(AUTHORITY, {"type": "identity/revoke", "did": AUTHORITY.did,
                                       "reason": "unspecified"}),
    }


def _abci(tx: bytes) -> dict[str, bytes]:
    out = {}
    requests = {"echo": pb.Request(echo=pb.RequestEcho(message="hi")),
                "info": pb.Request(info=pb.RequestInfo(version="0.38")),
                "check_tx": pb.Request(check_tx=pb.RequestCheckTx(tx=tx)),
                "query": pb.Request(query=pb.RequestQuery(path="identity/did",
                                                          data=b'{"did":"x"}')),
                "flush": pb.Request(flush=pb.RequestFlush())}
    for name, request in requests.items():
        out[name] = frame(request.SerializeToString())
    out["burst"] = b"".join(out.values())
    return out


def _vault_request() -> dict[str, bytes]:
    import base64

    headers = sign_request(signing_key(41), signing_key(41).did, VAULT_DID, "GET",
                           "/v1/vault/records/x", {"action": "read", "purpose": "TREAT"},
                           b"", NOW_MS)
    raw = headers[REQUEST_HEADER]
    envelope = base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4))
    return {"signed": envelope + b"\x00" + headers[SIGNATURE_HEADER].encode()}


def _vault_body() -> dict[str, bytes]:
    record_id = bytes(range(16))
    patient = signing_key(42).did
    sealed = crypto.seal(record_id, patient, b'{"resourceType":"Basic"}', data_key=_FIXED,
                         salt=_FIXED)
    wrapped = {patient: bytes(80)}
    upload = wire.encode_upload(sealed.meta, wrapped, list(sealed.chunks))
    return {"upload": b"\x00" + upload,
            "batch": b"\x01" + wire.encode_batch([upload, upload]),
            "records": b"\x02" + wire.encode_records([record_id.hex()]),
            "keys": b"\x03" + wire.encode_keys([(record_id.hex(), patient, bytes(80))])}


def _portable() -> dict[str, bytes]:
    wallet = Wallet.from_secrets(bytes([5]) * 32, bytes([6]) * 32, "patient")
    payload = Payload(wallet, {"kind": "solo"}, 3, {"height": 3}, {"value": None}, (), (),
                      (), {"value": None}, 1)
    raw = payload.to_bytes()
    sealed = seal(payload, PASSPHRASE, KdfParams(8, 1, 1), lambda n: bytes(n))
    return {"payload": b"\x00" + raw, "file": b"\x01" + sealed}


def _fhir() -> dict[str, bytes]:
    bundle = generate_bundle(7, resources=6, bundle_type="collection")
    out = {"bundle": jsonio.dumps(bundle)}
    for path in sorted((Path(__file__).parents[1] / "vectors" / "fhir").glob("valid-*.json")):
        out[path.stem] = jsonio.dumps(json.loads(path.read_text())["resource"])
    return out


def seeds() -> dict[str, dict[str, bytes]]:
    txs = _tx()
    return {"tx": txs, "canonical_json": {"tx": txs["register"],
                                          "nested": encoding.encode({"a": [1, {"b": None}],
                                                                     "c": "\u00e9\\"})},
            "abci": _abci(txs["register"]), "vault_request": _vault_request(),
            "vault_body": _vault_body(), "portable": _portable(), "fhir": _fhir()}


def write_seeds(corpus: Path) -> int:
    n = 0
    for target, inputs in seeds().items():
        (corpus / target).mkdir(parents=True, exist_ok=True)
        for name, data in inputs.items():
            (corpus / target / f"seed-{name}").write_bytes(data)
            n += 1
    return n
