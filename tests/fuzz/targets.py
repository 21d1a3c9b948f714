"""The fuzz targets: every decoder that takes bytes from outside, with its contract.

A target takes one input (bytes) and either returns or raises the decoder's documented
error; anything else (another exception, an assertion below, a hang, a crash) is a
finding. ``bench/fuzz.py`` runs these under atheris (coverage-guided, libFuzzer) and
``tests/unit/test_fuzz_corpus.py`` replays the saved corpus through them in CI, so the
two can never disagree about what a target is.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any, Final

from google.protobuf.message import DecodeError

from phrchain.client.portable_file import Payload, PortableError, open_bytes
from phrchain.core import encoding
from phrchain.core.errors import REGISTRY, EncodingError, TxError
from phrchain.core.tx import decode_tx
from phrchain.engine.abci import abci_pb2 as pb
from phrchain.engine.abci.adapter import AbciApplication
from phrchain.engine.abci.server import serve_connection
from phrchain.engine.abci.wire import FramingError, next_frame
from phrchain.fhir import jsonio
from phrchain.fhir.bundle import split_bundle
from phrchain.fhir.errors import FhirError
from phrchain.fhir.validation import validate
from phrchain.testing import Chain, signing_key
from phrchain.vault import wire
from phrchain.vault.errors import VaultError
from phrchain.vault.requests import REQUEST_HEADER, SIGNATURE_HEADER, verify_request

CORPUS: Final = Path(__file__).resolve().parent / "corpus"
PASSPHRASE: Final = "fuzz passphrase"
VAULT_DID: Final = signing_key(77).did
NOW_MS: Final = 1_700_000_000_000


@cache
def _chain() -> Chain:
    return Chain.new()


def tx(data: bytes) -> None:
    """``decode_tx`` raises only ``TxError``; ``check_tx`` never raises, answers a
    registered code other than tx/99, and a refusal leaves the check state as it was."""
    try:
        decode_tx(data)
    except TxError:
        pass
    app = _chain().app
    before = app.check_state_writes()
    result = app.check_tx(data)
    if result.ok:
        app.reset_check_state()
        return
    assert (result.codespace, result.code) in REGISTRY, result
    assert (result.codespace, result.code) != ("tx", 99), result.log
    assert app.check_state_writes() == before


def canonical_json(data: bytes) -> None:
    """``decode`` raises only ``EncodingError``; what it accepts re-encodes to the same
    bytes (one encoding per value)."""
    try:
        value = encoding.decode(data)
    except EncodingError:
        return
    assert encoding.encode(value) == data


class _Socket:
    """A peer that sends ``data`` (in two reads) and then closes."""

    def __init__(self, data: bytes) -> None:
        self._reads = [data[: len(data) // 2], data[len(data) // 2:], b""]
        self.sent = bytearray()

    def recv(self, _n: int) -> bytes:
        return self._reads.pop(0) if self._reads else b""

    def sendall(self, data: bytes) -> None:
        self.sent += data

    def close(self) -> None:
        pass


class _ReadOnlyAbci:
    """The real adapter for the requests that change nothing lasting (echo, info,
    check_tx, query); the others are answered empty, so iterations stay independent."""

    def __init__(self) -> None:
        self.app = AbciApplication(_chain().app.store)

    def handle(self, kind: str, request: object, response: object) -> None:
        if kind in ("echo", "info", "check_tx", "query"):
            self.app.handle(kind, request, response)
            if kind == "check_tx":
                self.app.app.reset_check_state()


@cache
def _abci_handler() -> _ReadOnlyAbci:
    return _ReadOnlyAbci()


def abci(data: bytes) -> None:
    """Framing raises only ``FramingError``; a request parses or raises protobuf's
    ``DecodeError``; the connection loop never raises, whatever the peer sends."""
    pos = 0
    try:
        while (found := next_frame(data, pos)) is not None:
            payload, pos = found
            try:
                pb.Request.FromString(payload)
            except DecodeError:
                pass
    except FramingError:
        pass
    serve_connection(_Socket(data), _abci_handler())  # type: ignore[arg-type]


def _current_key(did: str) -> bytes | None:
    return None


def vault_request(data: bytes) -> None:
    """``verify_request`` raises only ``VaultError``. The input is the envelope's raw
    bytes (the harness base64url-encodes them), then 0x00, then the signature header."""
    envelope, _, signature = data.partition(b"\x00")
    header = base64.urlsafe_b64encode(envelope).decode().rstrip("=")
    for headers in ({REQUEST_HEADER: header,
                     SIGNATURE_HEADER: signature.decode("latin-1")},
                    {REQUEST_HEADER: data.decode("latin-1"), SIGNATURE_HEADER: "00" * 64}):
        try:
            verify_request(headers, vault=VAULT_DID, method="GET", path="/v1/vault/records/x",
                           params={"action": "read", "purpose": "TREAT"},
                           body_hash=hashlib.sha256(b"").hexdigest(), now_ms=NOW_MS,
                           current_key=_current_key)
        except VaultError:
            pass


_VAULT_BODIES: Final[tuple[Callable[[bytes], Any], ...]] = (
    wire.decode_upload, wire.decode_batch, wire.decode_records, wire.decode_keys)


def vault_body(data: bytes) -> None:
    """Each body decoder of the vault (upload, batch, key routes) raises only
    ``VaultError``; the first byte picks the decoder."""
    if not data:
        return
    try:
        _VAULT_BODIES[data[0] % len(_VAULT_BODIES)](data[1:])
    except VaultError:
        pass


def portable(data: bytes) -> None:
    """The portable file (header line, KDF, AEAD) and its payload parser raise only
    ``PortableError``; the first byte picks the file or the decrypted payload."""
    if not data:
        return
    try:
        if data[0] % 2:
            open_bytes(data[1:], PASSPHRASE)
        else:
            Payload.from_bytes(data[1:])
    except PortableError:
        pass


def fhir(data: bytes) -> None:
    """FHIR JSON bytes → ``jsonio.loads`` → Bundle split (or one resource's validation)
    raise only ``FhirError``."""
    try:
        value = jsonio.loads(data)
        if isinstance(value, dict) and value.get("resourceType") == "Bundle":
            split_bundle(value)
        else:
            validate(value)
    except FhirError:
        pass


TARGETS: Final[dict[str, Callable[[bytes], None]]] = {
    "tx": tx, "canonical_json": canonical_json, "abci": abci,
    "vault_request": vault_request, "vault_body": vault_body, "portable": portable,
    "fhir": fhir,
}
