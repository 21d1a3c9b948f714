"""Taking in a vault request: the signed headers first, then the body, streamed.

The signed envelope carries the body's SHA-256 (``vault/requests.py``), so the caller is
authenticated before a byte of the body is read: an unsigned, forged, stale, replayed or
(on the routes that write) unregistered caller is refused at the cost of its headers
(issue 13, defect 1: a 900 MiB unsigned POST used to be read whole, then refused). The
body is then hashed as it arrives, bounded by its route's limit, and refused if its
digest is not the signed one. Bodies past :data:`LARGE_BODY` also need one of a few
slots (``large_uploads``), so a handful of authenticated bulk uploads bound the memory
they take; with every slot taken, the next is refused ``503 vault/37 uploads_busy``.

Limits per route (``docs/records.md`` "Hostile callers"): :data:`SMALL_BODY` for the
routes whose body is empty or one key, :data:`KEYS_BODY` for the key batches (4096
items), the vault's ``max_body`` (1 GiB) for uploads, batches and copies only.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Final, TypeVar

from fastapi import Request
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from phrchain.core.errors import CodedError
from phrchain.gateway.attempts import RATE_LIMITED, UNAUTHENTICATED
from phrchain.gateway.service import Vault
from phrchain.vault import gateway_errors as e
from phrchain.vault.requests import Verified, check_body

SMALL_BODY: Final = 64 << 10
KEYS_BODY: Final = 4 << 20
LARGE_BODY: Final = 8 << 20
DEFAULT_MAX_BODY: Final = 1 << 30
DEFAULT_LARGE_UPLOADS: Final = 2
# refusals before the caller is known: counted on the record they aimed at
_UNAUTHENTICATED: Final = frozenset({e.BAD_REQUEST_SIGNATURE, e.STALE_REQUEST,
                                     e.REPLAYED_REQUEST, e.WRONG_VAULT, e.BODY_MISMATCH,
                                     e.MALFORMED_REQUEST})

T = TypeVar("T")


class Intake:
    """Authenticates and reads requests for one vault's HTTP app."""

    def __init__(self, vault: Vault, max_body: int = DEFAULT_MAX_BODY,
                 large_uploads: int = DEFAULT_LARGE_UPLOADS) -> None:
        self.vault, self.max_body = vault, max_body
        self._free = large_uploads  # touched only on the event loop: no lock needed

    def counted(self, request: Request, check: Callable[[], T]) -> T:
        """Run ``check`` (in a worker thread); a refusal before the caller is known is
        counted on the record named in the path (``gateway/attempts.py``)."""
        try:
            return check()
        except CodedError as exc:
            record = request.path_params.get("record")
            if record is not None:
                if exc.error in _UNAUTHENTICATED:
                    self.vault.note_refused(record, UNAUTHENTICATED)
                elif exc.error is e.RATE_LIMITED:
                    self.vault.note_refused(record, RATE_LIMITED)
            raise

    def headers(self, request: Request) -> Verified:
        return self.counted(request, lambda: self.vault.authenticate_headers(
            request.headers, request.method, request.url.path, dict(request.query_params)))

    @asynccontextmanager
    async def signed(self, request: Request, limit: int, *, strangers: bool = False
                     ) -> AsyncIterator[tuple[Verified, bytes]]:
        """The authenticated caller and the body it signed, read within ``limit``;
        ``strangers``: whether an unregistered did:key may use the route at all (only
        the reads: every route that writes refuses it before reading its body)."""
        async with self.streamed(request, limit, strangers=strangers) as (req, parts):
            body = b"".join([part async for part in parts])
            yield req, body

    @asynccontextmanager
    async def streamed(self, request: Request, limit: int, *, strangers: bool = False
                       ) -> AsyncIterator[tuple[Verified, AsyncIterator[bytes]]]:
        """As :meth:`signed`, but the body is handed on as it arrives (a genomic
        upload): each part is hashed and counted against ``limit``, and the iterator
        ends only once the whole body has matched its signed hash, so what the caller
        stored meanwhile must stay provisional until then."""
        declared = _declared_length(request)
        if declared is not None and declared > limit:
            raise e.TOO_LARGE(f"{declared} bytes, limit {limit}")
        req = await run_in_threadpool(self.headers, request)
        if not strangers and not req.registered:
            raise e.UPLOAD_REFUSED(f"{req.caller} is not registered on chain")
        slot = [declared is not None and declared > LARGE_BODY and self._take()]

        async def parts() -> AsyncIterator[bytes]:
            hasher, size = hashlib.sha256(), 0
            try:
                async for part in request.stream():
                    size += len(part)
                    if size > limit:
                        raise e.TOO_LARGE(f"more than {limit} bytes")
                    if size > LARGE_BODY and not slot[0]:
                        slot[0] = self._take()
                    hasher.update(part)
                    if part:
                        yield part
            except ClientDisconnect:  # the caller left (or the slow-client guard cut it)
                raise e.MALFORMED_REQUEST(f"the caller disconnected after {size} bytes"
                                          ) from None
            self.counted(request, lambda: check_body(req, hasher.hexdigest()))

        try:
            yield req, parts()
        finally:
            if slot[0]:
                self._free += 1

    def _take(self) -> bool:
        if self._free <= 0:
            raise e.UPLOADS_BUSY("every large-upload slot is taken")
        self._free -= 1
        return True


def _declared_length(request: Request) -> int | None:
    declared = request.headers.get("content-length")
    if declared is None or not declared.isdigit():
        return None
    return int(declared)


def has_no_body(request: Request) -> bool:
    """A request that declares no body (HTTP/1.1: no length, not chunked) has none: it
    can be checked in full without reading anything."""
    return request.headers.get("content-length", "0") == "0" \
        and "transfer-encoding" not in request.headers
