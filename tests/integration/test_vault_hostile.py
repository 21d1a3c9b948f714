"""Hostile callers cannot make a vault read their bodies, nor fill a patient's audit log
(issue 13, defects 1 and 2).

The body tests drive the vault's ASGI app directly with a ``receive`` that counts the
body bytes the app asks for, so "refused before the body is read" is measured, not
guessed from timing."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from phrchain.client.http import ApiError
from phrchain.client.vault import VaultClient
from phrchain.client.wallet import Wallet
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.intake import KEYS_BODY, LARGE_BODY, SMALL_BODY
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.vault.errors import VaultError
from phrchain.vault.requests import sign_request
from tests.consortium import A1, B1, HOSPITAL_A, STRANGER, Consortium, P, running

MIB = 1 << 20


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("hostile")) as consortium:
        yield consortium


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Body:
    """A request body of ``chunks`` times ``size`` bytes, handed to the app one chunk per
    ``receive``; counts what the app asked for. ``hold`` (an event) stops the body
    after ``hold_after`` chunks until it is set."""

    def __init__(self, chunks: int, size: int = MIB, hold: asyncio.Event | None = None,
                 hold_after: int = 0) -> None:
        self.chunks, self.size, self.hold, self.hold_after = chunks, size, hold, hold_after
        self.consumed = 0

    def content(self) -> bytes:
        return b"x" * (self.chunks * self.size)

    async def receive(self) -> dict[str, Any]:
        sent = self.consumed // self.size
        if self.hold is not None and sent == self.hold_after:
            await self.hold.wait()
        if sent >= self.chunks:
            return {"type": "http.request", "body": b"", "more_body": False}
        self.consumed += self.size
        return {"type": "http.request", "body": b"x" * self.size,
                "more_body": sent + 1 < self.chunks}


async def call(app: Any, method: str, path: str, headers: dict[str, str], body: Body,
               declare: bool = True, query: str = "") -> tuple[int, dict[str, Any]]:
    """One request through the ASGI app: (status, JSON body)."""
    sent: list[dict[str, Any]] = []
    head = [(k.lower().encode(), v.encode()) for k, v in headers.items()]
    if declare:
        head.append((b"content-length", str(body.chunks * body.size).encode()))
    else:
        head.append((b"transfer-encoding", b"chunked"))
    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
             "method": method, "scheme": "http", "path": path, "raw_path": path.encode(),
             "query_string": query.encode(), "root_path": "", "headers": head,
             "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80)}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, body.receive, send)
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    payload = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(payload) if payload else {}


def signed(who: Wallet, method: str, path: str, body: bytes, ts: int | None = None
           ) -> dict[str, str]:
    return sign_request(who.signing_key, who.did, HOSPITAL_A.did, method, path, {}, body,
                        now_ms() if ts is None else ts)


def code(answer: tuple[int, dict[str, Any]]) -> tuple[int, int]:
    return answer[0], answer[1]["error"]["code"]


def test_hostile_bodies_are_refused_before_they_are_read(c: Consortium) -> None:
    """100 MiB offered by an unsigned, a stale, a forged, a replayed and an unregistered
    caller, with a length or chunked: each refused with its code, and not one byte of
    the body asked for."""
    app = create_vault_app(c.vaults[HOSPITAL_A.did])
    batch = "/v1/vault/batch"
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A1) as client:
        client.access(record)  # journaled: its headers are now a replay
        replay = client.last_headers
    content = b"x" * (100 * MIB)
    forged = {**signed(A1, "POST", batch, content), "Phr-Signature": "00" * 64}
    cases = [("POST", batch, {}, (401, 20)),
             ("POST", batch, signed(A1, "POST", batch, content, ts=now_ms() - 3_600_000),
              (401, 21)),
             ("POST", batch, forged, (401, 20)),
             ("GET", f"/v1/vault/records/{record}", replay, (401, 22)),
             ("POST", batch, signed(STRANGER, "POST", batch, content), (403, 30))]
    for method, path, headers, want in cases:
        for declare in (True, False):
            body = Body(100)
            if method == "GET" and declare:
                continue  # a GET declaring 100 MiB is refused by its length alone
            query = "action=read&purpose=TREAT" if method == "GET" else ""
            answer = asyncio.run(call(app, method, path, headers, body, declare, query))
            assert code(answer) == want and body.consumed == 0, (path, want, declare)


def test_a_body_that_is_not_the_signed_one_is_refused(c: Consortium) -> None:
    app = create_vault_app(c.vaults[HOSPITAL_A.did])
    before = c.vaults[HOSPITAL_A.did].store.record_ids()
    headers = signed(A1, "POST", "/v1/vault/batch", b"y" * (2 * MIB))
    body = Body(2)
    assert code(asyncio.run(call(app, "POST", "/v1/vault/batch", headers, body))) == (400, 24)
    assert c.vaults[HOSPITAL_A.did].store.record_ids() == before


class Leaving(Body):
    """A body whose caller disconnects after ``after`` chunks."""

    def __init__(self, chunks: int, after: int) -> None:
        super().__init__(chunks)
        self.after = after

    async def receive(self) -> dict[str, Any]:
        if self.consumed // self.size >= self.after:
            return {"type": "http.disconnect"}
        return await super().receive()


def test_a_caller_leaving_mid_body_is_a_refusal_not_a_crash(c: Consortium) -> None:
    """A disconnect while the body streams (the caller left, or the slow-client guard cut
    it) ends as the vault's own refusal: no exception escapes the app to be logged as a
    crash, nothing is stored, the large-upload slot is given back."""
    vault = c.vaults[HOSPITAL_A.did]
    app = create_vault_app(vault, large_uploads=1)
    before = vault.store.record_ids()
    path = "/v1/vault/batch"
    for _ in range(2):  # the second would be uploads_busy if the slot leaked
        body = Leaving(12, after=3)
        headers = signed(A1, "POST", path, body.content())
        assert code(asyncio.run(call(app, "POST", path, headers, body))) == (400, 25)
    assert vault.store.record_ids() == before


@pytest.mark.parametrize(("method", "path", "limit"), [
    ("GET", "/v1/vault/records/" + "ab" * 16, SMALL_BODY),
    ("PUT", "/v1/vault/records/" + "ab" * 16 + "/keys/" + "did:key:z", SMALL_BODY),
    ("POST", "/v1/vault/sync", SMALL_BODY),
    ("POST", "/v1/vault/keys/own", KEYS_BODY),
    ("POST", "/v1/vault/keys", KEYS_BODY),
])
def test_every_route_but_the_uploads_takes_a_small_body(c: Consortium, method: str,
                                                        path: str, limit: int) -> None:
    """Past its route's limit a signed body is refused 413, declared or streamed, and
    never read further than the limit."""
    app = create_vault_app(c.vaults[HOSPITAL_A.did])
    chunks = limit // 1024 + 1
    for declare in (True, False):
        body = Body(chunks, 1024)
        headers = signed(HOSPITAL_A, method, path, body.content())
        assert code(asyncio.run(call(app, method, path, headers, body, declare))) == (413, 33)
        assert body.consumed <= limit + 1024


def test_large_uploads_beyond_the_bound_get_uploads_busy(c: Consortium) -> None:
    """With one large-upload slot, a second large body while the first streams is
    refused 503 vault/37 before it is read; once the first is done, the slot is free."""
    app = create_vault_app(c.vaults[HOSPITAL_A.did], large_uploads=1)
    path = "/v1/vault/batch"

    async def scenario() -> list[tuple[int, dict[str, Any]]]:
        hold = asyncio.Event()
        first = Body(LARGE_BODY // MIB + 2, hold=hold, hold_after=LARGE_BODY // MIB + 1)
        task = asyncio.create_task(call(app, "POST", path, signed(A1, "POST", path,
                                                                  first.content()), first))
        while first.consumed <= LARGE_BODY:
            await asyncio.sleep(0.01)
        second = Body(LARGE_BODY // MIB + 2)
        busy = await call(app, "POST", path, signed(A1, "POST", path, second.content()),
                          second)
        assert second.consumed == 0
        hold.set()
        done = await task
        third = Body(LARGE_BODY // MIB + 2)
        again = await call(app, "POST", path, signed(A1, "POST", path, third.content()),
                           third)
        return [busy, done, again]

    busy, done, again = asyncio.run(scenario())
    assert code(busy) == (503, 37)
    assert code(done) == (400, 25) and code(again) == (400, 25)  # read whole: not a batch


def stranger(n: int) -> Wallet:
    return Wallet.from_secrets(n.to_bytes(4, "big") * 8, (n + 7).to_bytes(4, "big") * 8,
                               f"stranger {n}")


def test_strangers_cannot_fill_a_patients_audit_log(c: Consortium, tmp_path: Path) -> None:
    """300 fresh did:keys at one record add at most ``stranger_audits`` (10) entries to
    the patient's log; every other attempt is counted for the patient, and every
    refusal of a registered caller is still audited."""
    vault = c.vaults[HOSPITAL_A.did]
    vault.attempts.shared_rate.rate_per_s = 1e9  # the group rate has its own test below
    try:
        _strangers_at_one_record(c, vault)
    finally:
        vault.attempts.rate_per_s = vault.config.stranger_rate_per_s


def _strangers_at_one_record(c: Consortium, vault: Vault) -> None:
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    path = f"/v1/vault/records/{record}"
    denied = 0
    for n in range(300):
        who = stranger(1000 + n)
        req = vault.authenticate(signed(who, "GET", path, b""), "GET", path, {}, b"")
        with pytest.raises(VaultError) as refused:
            vault.access(req, record, "read", "TREAT")
        denied += refused.value.error.name == "access_denied"
    again = stranger(1000)  # the first stranger again: counted, not audited
    with pytest.raises(VaultError):
        vault.access(vault.authenticate(signed(again, "GET", path, b""), "GET", path, {}, b""),
                     record, "read", "TREAT")
    registered = []
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, B1) as client:
        for _ in range(15):  # more than the strangers' budget: all audited
            with pytest.raises(ApiError):
                client.access(record)
            registered.append(client.last_request)
    with httpx.Client(base_url=c.directory[HOSPITAL_A.did]) as raw:
        for _ in range(5):  # not even authenticated: counted on the record
            forged = {**signed(B1, "GET", path, b""), "Phr-Signature": "00" * 64}
            assert raw.get(path, headers=forged).status_code == 401
    c.flush()
    log = [e for e in c.client(P).audit.log(P.did) if e["record"] == record]
    strangers = [e for e in log if e["accessor"] not in (B1.did, A1.did)]
    assert denied == 300 and len(strangers) == vault.config.stranger_audits == 10
    assert {e["request"] for e in log} >= set(registered)
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, P) as patient:
        counts = patient.attempts(record)
    assert counts["over_budget"]["count"] == 290 and counts["repeated"]["count"] == 1
    assert counts["unauthenticated"]["count"] == 5 and counts["rate_limited"]["count"] == 0
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, B1) as other, \
            pytest.raises(ApiError) as not_theirs:
        other.attempts(record)
    assert not_theirs.value.status == 403


def test_strangers_share_one_rate(c: Consortium, tmp_path: Path) -> None:
    """Past the strangers' shared burst, a fresh did:key is refused 429 before any
    decision is asked of the node, and the refusal is counted for the patient."""
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    held = c.vaults[HOSPITAL_A.did].store
    rid = bytes.fromhex(record)
    vault = Vault(VaultConfig(tmp_path / "v", stranger_rate_per_s=0.001, stranger_burst=5),
                  LocalChain(c.node), HOSPITAL_A.signing_key, HOSPITAL_A.encryption_key)
    try:
        vault.store.put(held.get_meta(rid), list(held.iter_chunks(rid)),
                        {HOSPITAL_A.did: held.get_wrapped_key(rid, HOSPITAL_A.did)})
        path = f"/v1/vault/records/{record}"
        names = []
        for n in range(12):
            who = stranger(5000 + n)
            req = vault.authenticate(signed(who, "GET", path, b""), "GET", path, {}, b"")
            with pytest.raises(VaultError) as refused:
                vault.access(req, record, "read", "TREAT")
            names.append(refused.value.error.name)
        assert names.count("access_denied") == 5 and names.count("rate_limited") == 7
        assert vault.attempts.of(record)["rate_limited"]["count"] == 7
        assert vault.journal.backlog() == 5  # the five decided refusals, audited
    finally:
        vault.close()
