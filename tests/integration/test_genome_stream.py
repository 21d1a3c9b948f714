"""Streamed genomic uploads (``docs/genomics.md``): the SDK sends the sealed segments
from a spool and the vault writes them as they arrive, so neither holds the object;
a body cut short or over the vault's limit is refused and leaves nothing stored."""

from __future__ import annotations

import hashlib
import json
import os
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phrchain.api.server import BackgroundServer
from phrchain.client.vault import VaultClient
from phrchain.gateway.http import create_vault_app
from phrchain.genome.store import GenomeStore
from phrchain.vault.requests import sign_request
from tests.consortium import A1, HOSPITAL_A, Consortium, P, running

ORG = HOSPITAL_A.did
MiB = 1 << 20


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("genome-stream")) as consortium:
        yield consortium


def store_of(c: Consortium) -> GenomeStore:
    return GenomeStore(c.vaults[ORG].config.directory / "genome")


def nothing_stored(c: Consortium, record: str) -> bool:
    store = store_of(c)
    leftovers = [p for p in store.files.iterdir() if p.name.startswith(record)]
    return store.holder(bytes.fromhex(record)) is None and not leftovers


def random_file(path: Path, size: int) -> Path:
    with path.open("wb") as f:
        for _ in range(size // MiB):
            f.write(os.urandom(MiB))
    return path


def test_a_large_upload_is_streamed_end_to_end(c: Consortium, tmp_path: Path) -> None:
    """Sealing and uploading a 48 MiB object (client and vault in this process) peaks
    far below its size: the segments go through a spool and are written on arrival."""
    size = 48 * MiB
    source = random_file(tmp_path / "reads.bam", size)
    a1 = c.client(A1)
    a1.session.vault(ORG).info()  # the connection and its buffers exist before measuring
    tracemalloc.start()
    try:
        with source.open("rb") as f:
            obj = a1.genome.seal(f, P.did, fmt="bam", custodian=ORG)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size // 6, f"peak {peak} bytes for a {size}-byte object"
    held = store_of(c).get(bytes.fromhex(obj.record))
    assert held.meta.plain_size == size and held.meta.commitment.hex() == obj.id


def captured_upload(c: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                    size: int) -> tuple[str, bytes]:
    """(record, the exact body) the SDK would stream, without sending it."""
    seen: list[bytes] = []

    def capture(self: VaultClient, method: str, path: str, parts: Any, size: int,
                body_sha256: str) -> Any:
        body = b"".join(parts)
        assert len(body) == size and hashlib.sha256(body).hexdigest() == body_sha256
        seen.append(body)
        raise RuntimeError("captured")

    monkeypatch.setattr(VaultClient, "_request_stream", capture)
    with pytest.raises(RuntimeError), random_file(tmp_path / "x.bam", size).open("rb") as f:
        c.client(A1).genome.seal(f, P.did, fmt="bam", custodian=ORG)
    monkeypatch.undo()
    body = seen[0]
    n = int.from_bytes(body[:4], "big")
    return json.loads(body[4:4 + n])["record"], body


def signed_headers(c: Consortium, body_sha256: str) -> dict[str, str]:
    return sign_request(A1.signing_key, A1.did, ORG, "POST", "/v1/vault/genome", {}, b"",
                        time.time_ns() // 1_000_000, body_sha256)


def test_a_truncated_body_is_refused_and_nothing_is_stored(
        c: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    record, body = captured_upload(c, tmp_path, monkeypatch, 4 * MiB)
    digest = hashlib.sha256(body).hexdigest()
    vault_url = c.client(A1).session.directory[ORG]
    cut = body[:len(body) // 2 + 1000]  # its segments arrive and are written, then it ends
    with httpx.Client(base_url=vault_url, timeout=30) as http:
        answer = http.post("/v1/vault/genome", content=iter([cut]),
                           headers={**signed_headers(c, digest),
                                    "content-length": str(len(cut))})
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["name"] == "body_mismatch"
        assert nothing_stored(c, record)
        whole = http.post("/v1/vault/genome", content=iter([body]),
                          headers=signed_headers(c, digest))  # the same body, whole: kept
        assert whole.status_code == 200, whole.text
    assert not nothing_stored(c, record)


def test_an_oversized_stream_is_refused_and_nothing_is_stored(
        c: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Sent without a length (chunked), the body is cut off at the vault's limit."""
    record, body = captured_upload(c, tmp_path, monkeypatch, 4 * MiB)
    vault = c.vaults[ORG]
    beside = list(vault.stores_beside)
    try:
        with BackgroundServer(create_vault_app(vault, max_body=2 * MiB)) as url, \
                httpx.Client(base_url=url, timeout=30) as http:
            parts = (body[i:i + MiB] for i in range(0, len(body), MiB))
            try:
                answer = http.post("/v1/vault/genome", content=parts,
                                   headers=signed_headers(c, hashlib.sha256(body).hexdigest()))
                assert answer.status_code == 413, answer.text
                assert answer.json()["error"]["name"] == "too_large"
            except httpx.TransportError:  # the vault answered and closed before the end
                pass
    finally:
        vault.stores_beside[:] = beside
    assert nothing_stored(c, record)


def test_an_upload_refused_early_is_answered_not_cut_off(
        c: Consortium, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Refused on its fields (B1 is not hospital A's staff) before the rest of a 24 MiB
    body is read, the sender still gets the refusal, not a broken connection."""
    from tests.consortium import B1
    record, body = captured_upload(c, tmp_path, monkeypatch, 24 * MiB)
    headers = sign_request(B1.signing_key, B1.did, ORG, "POST", "/v1/vault/genome", {},
                           b"", time.time_ns() // 1_000_000,
                           hashlib.sha256(body).hexdigest())
    parts = (body[i:i + MiB] for i in range(0, len(body), MiB))
    with httpx.Client(base_url=c.client(A1).session.directory[ORG], timeout=30) as http:
        answer = http.post("/v1/vault/genome", content=parts,
                           headers={**headers, "content-length": str(len(body))})
    assert answer.status_code == 403 and answer.json()["error"]["name"] == "upload_refused"
    assert nothing_stored(c, record)
