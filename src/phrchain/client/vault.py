"""Signed HTTP client for one institution's vault (``phrchain.gateway.http``).

Every request is signed by the wallet's identity key; the vault answers with the
node API's error shape, raised here as :class:`~phrchain.client.http.ApiError`.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import httpx

from phrchain.client.http import ApiError, client_verify, raise_for_error
from phrchain.client.wallet import Wallet
from phrchain.tls import ClientTLS
from phrchain.vault.crypto import ChunkPart, RecordMeta
from phrchain.vault.requests import request_hash, sign_request
from phrchain.vault.wire import (
    MAX_KEY_ITEMS,
    Upload,
    encode_batch,
    encode_keys,
    encode_records,
    encode_upload,
)

DEFAULT_TIMEOUT = 60.0


class VaultClient:
    def __init__(self, base_url: str, vault_did: str, wallet: Wallet,
                 timeout: float = DEFAULT_TIMEOUT, client: httpx.Client | None = None,
                 tls: ClientTLS | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.vault = vault_did
        self.wallet = wallet
        # tls None: PHRCHAIN_CA / PHRCHAIN_CLIENT_CERT / _KEY (mutual TLS between vaults)
        self._http = client or httpx.Client(base_url=self.base_url, timeout=timeout,
                                            verify=client_verify(tls))
        # sha256 of the last signed request envelope: the ``request`` field of the audit
        # entry the vault writes for it, so a caller can find its own entries.
        self.last_request = ""
        self.last_headers: dict[str, str] = {}  # the last signed envelope and signature

    def __enter__(self) -> VaultClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _request(self, method: str, path: str, params: Mapping[str, str] | None = None,
                 body: bytes = b"") -> httpx.Response:
        params = dict(params or {})
        headers = sign_request(self.wallet.signing_key, self.wallet.did, self.vault, method,
                               path, params, body, time.time_ns() // 1_000_000)
        self.last_request = request_hash(headers)
        self.last_headers = dict(headers)
        try:
            response = self._http.request(method, path, params=params, content=body,
                                          headers=headers)
        except httpx.TransportError as exc:
            raise ApiError(0, "client", 1, "unreachable",
                           f"cannot reach the vault at {self.base_url}: {exc}") from None
        return raise_for_error(response)

    def _request_stream(self, method: str, path: str, parts: Iterable[bytes], size: int,
                        body_sha256: str) -> httpx.Response:
        """A request whose body (``size`` bytes hashing to ``body_sha256``) is sent as
        ``parts`` arrive, never held whole (a genomic upload)."""
        headers = sign_request(self.wallet.signing_key, self.wallet.did, self.vault, method,
                               path, {}, b"", time.time_ns() // 1_000_000, body_sha256)
        self.last_request = request_hash(headers)
        self.last_headers = dict(headers)
        try:
            response = self._http.request(method, path, content=iter(parts),
                                          headers={**headers, "content-length": str(size)})
        except httpx.TransportError as exc:
            raise ApiError(0, "client", 1, "unreachable",
                           f"cannot reach the vault at {self.base_url}: {exc}") from None
        return raise_for_error(response)

    # -- API ---------------------------------------------------------------------------
    def research_release(self, request: str, dataset: str, reference_year: int,
                         recorded: str, config: Mapping[str, Any] | None = None,
                         part: int = 1) -> dict[str, Any]:
        """(a release officer of this vault's institution) prepare a research dataset,
        sign its manifest with this wallet, and have the vault send it
        (``gateway/research_http.py``); the chain's manifest and the vault's report."""
        import json

        body = {"request": request, "dataset": dataset, "reference_year": reference_year,
                "recorded": recorded, "part": part,
                **({"config": dict(config)} if config else {})}
        prepared = self._request("POST", "/v1/vault/research/releases",
                                 body=json.dumps(body).encode()).json()
        approval = self.wallet.signing_key.sign(bytes.fromhex(prepared["sign"]))
        done = self._request("POST", f"/v1/vault/research/releases/{dataset}/approve",
                             body=json.dumps({"approval": approval.hex()}).encode()).json()
        return {**dict(done), "report": prepared["report"]}

    def research_destroy_key(self, dataset: str) -> dict[str, Any]:
        """(a release officer) destroy the dataset's key in the vault and record it."""
        return dict(self._request("DELETE",
                                  f"/v1/vault/research/releases/{dataset}/key").json())

    def research_package(self, dataset: str, part: int = 1) -> dict[str, Any]:
        """(the study's institute) a released dataset (or continuation part) sealed for
        it."""
        return dict(self._request("GET", f"/v1/vault/research/releases/{dataset}",
                                  {"part": str(part)}).json())

    def info(self) -> dict[str, Any]:
        return dict(self._http.get("/v1/vault/info").json())

    def access(self, record: str, action: str = "read", purpose: str = "TREAT",
               justification: str | None = None) -> dict[str, Any]:
        """The decision, the record's metadata, the caller's wrapped key and (for records
        up to 8 MiB) the ciphertext chunks with proofs; a large record gives a ticket.
        ``justification``: a break-glass reason's commitment (``client/breakglass.py``),
        signed with the request."""
        params = {"action": action, "purpose": purpose}
        if justification is not None:
            params["justification"] = justification
        answer = dict(self._request("GET", f"/v1/vault/records/{record}", params).json())
        answer["parts"] = [ChunkPart(p["index"], base64.b64decode(p["data"]),
                                     tuple(bytes.fromhex(h) for h in p["proof"]))
                           for p in answer.pop("chunks")]
        return answer

    def chunk(self, record: str, index: int, ticket: str) -> ChunkPart:
        response = self._request("GET", f"/v1/vault/records/{record}/chunks/{index}",
                                 {"ticket": ticket})
        proof = response.headers.get("Phr-Proof", "")
        return ChunkPart(index, response.content,
                         tuple(bytes.fromhex(h) for h in proof.split(",") if h))

    def upload(self, meta: RecordMeta, wrapped_keys: dict[str, bytes],
               chunks: list[bytes], descriptor: bytes | None = None,
               register: dict[str, Any] | None = None) -> list[str]:
        """Custody upload of one record with its sealed descriptor and, by the
        institution's staff, the ``records/register`` message its vault sends; returns
        the ids the vault registers (follow them with :meth:`registrations`)."""
        answer = self._request("POST", f"/v1/vault/records/{meta.record_id.hex()}",
                               body=encode_upload(meta, wrapped_keys, chunks, descriptor,
                                                  register))
        return [str(r) for r in answer.json().get("registering", [])]

    def upload_many(self, items: Sequence[Upload]) -> list[str]:
        """Many records in one signed request (bulk import)."""
        answer = self._request("POST", "/v1/vault/batch", body=encode_batch(
            [encode_upload(u.meta, u.wrapped, u.chunks, u.descriptor, u.register)
             for u in items]))
        return [str(r) for r in answer.json().get("registering", [])]

    def registrations(self, records: Sequence[str]) -> dict[str, dict[str, str]]:
        """``{record: {"status": pending | committed | refused | unknown, ["code"]}}``
        of the register jobs of records the caller uploaded."""
        out: dict[str, dict[str, str]] = {}
        for i in range(0, len(records), MAX_KEY_ITEMS):
            answer = self._request("POST", "/v1/vault/registrations",
                                   body=encode_records(records[i:i + MAX_KEY_ITEMS]))
            out.update({str(r): dict(v) for r, v in answer.json()["records"].items()})
        return out

    def copy(self, meta: RecordMeta, wrapped_keys: dict[str, bytes], chunks: list[bytes],
             pull: str | None = None, descriptor: bytes | None = None) -> None:
        self._request("POST", f"/v1/vault/copies/{meta.record_id.hex()}",
                      {} if pull is None else {"pull": pull},
                      encode_upload(meta, wrapped_keys, chunks, descriptor))

    def share_key(self, record: str, reader: str, wrapped: bytes) -> None:
        self._request("PUT", f"/v1/vault/records/{record}/keys/{reader}", body=wrapped)

    def own_keys(self, records: Sequence[str]) -> dict[str, bytes]:
        """The patient's own wrapped keys of their ``records`` (at most
        ``wire.MAX_KEY_ITEMS``): no ciphertext, not an audited read."""
        return self.own(records)[0]

    def own(self, records: Sequence[str]) -> tuple[dict[str, bytes], dict[str, bytes]]:
        """The patient's own wrapped keys and the sealed descriptors of their
        ``records`` (at most ``wire.MAX_KEY_ITEMS``)."""
        answer = self._request("POST", "/v1/vault/keys/own",
                               body=encode_records(records)).json()
        return ({str(r): bytes.fromhex(w) for r, w in answer["keys"].items()},
                {str(r): bytes.fromhex(d) for r, d in answer.get("descriptors", {}).items()})

    def share_keys(self, items: Sequence[tuple[str, str, bytes]]) -> None:
        """Many ``(record, reader DID, wrapped key)`` in one request (at most
        ``wire.MAX_KEY_ITEMS``): the vault stores all or refuses all."""
        self._request("POST", "/v1/vault/keys", body=encode_keys(items))

    def sync(self) -> dict[str, Any]:
        return dict(self._request("POST", "/v1/vault/sync").json())

    def attempts(self, record: str) -> dict[str, dict[str, int]]:
        """Attempts on the caller's record refused without an audit entry, counted by
        kind (``{kind: {"count", "last_ms"}}``): for the record's patient."""
        answer = self._request("GET", f"/v1/vault/attempts/{record}").json()
        return {str(k): dict(v) for k, v in answer["attempts"].items()}

    # -- trial documents (gateway/trial_documents.py; checked by client/trialfile) -------
    def trial_document_upload(self, trial: str, kind: str, commitment: str,
                              meta: RecordMeta, wrapped_keys: dict[str, bytes],
                              chunks: list[bytes]) -> None:
        """Store a trial document (the sponsor's vault, by the sponsor or its staff)."""
        self._request("POST", f"/v1/vault/trials/{trial}/documents/{kind}/{commitment}",
                      body=encode_upload(meta, wrapped_keys, chunks))

    def trial_document(self, trial: str, kind: str, commitment: str) -> dict[str, Any]:
        """``{"meta", "wrapped_key", "parts"}`` of a trial document for the caller."""
        answer = dict(self._request(
            "GET", f"/v1/vault/trials/{trial}/documents/{kind}/{commitment}").json())
        answer["parts"] = [ChunkPart(p["index"], base64.b64decode(p["data"]),
                                     tuple(bytes.fromhex(h) for h in p["proof"]))
                           for p in answer.pop("chunks")]
        return answer

    def trial_document_share(self, trial: str, kind: str, commitment: str, reader: str,
                             wrapped: bytes) -> None:
        self._request("PUT", f"/v1/vault/trials/{trial}/documents/{kind}/{commitment}"
                             f"/keys/{reader}", body=wrapped)
