"""``GET /v1/events``: new blocks and tx results as server-sent events, and the
``/metrics`` scrape (its gauges count these streams)."""

from __future__ import annotations

import asyncio
import json
import queue
import time
from collections.abc import AsyncIterator
from typing import Any, Final, Literal

from fastapi import APIRouter, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from starlette.concurrency import run_in_threadpool

from phrchain.api.deps import ERRORS, Api, ApiState
from phrchain.api.errors import UNAVAILABLE, HttpError
from phrchain.engine.events import Subscription

EVENT_POLL_S: Final = 0.1
MAX_SUBSCRIBERS: Final = 256

router = APIRouter(prefix="/v1", responses=ERRORS)


def _matches(item: dict[str, Any], kind: str | None, event: str | None) -> bool:
    if kind is not None and item.get("kind") != kind:
        return False
    if event is not None:
        return any(e.get("type") == event for e in item.get("events", ()))
    return True


async def _event_stream(api: ApiState, kind: str | None,
                        event: str | None) -> AsyncIterator[str]:
    """Drain the node's (thread) queue by polling: no thread is parked per subscriber,
    and a client disconnect cancels the sleep at once. Subscribing here, not in the
    route, means a client that leaves before the stream starts leaves nothing behind."""
    subscription: Subscription = await run_in_threadpool(api.node.subscribe)
    api.subscribers += 1  # only the event loop thread touches this counter
    try:
        yield ": subscribed\n\n"  # sends the headers now, so clients see the stream live
        last_beat = time.monotonic()
        while True:
            while True:
                try:
                    item = subscription.get_nowait()
                except queue.Empty:
                    break
                if _matches(item, kind, event):
                    yield f"event: {item.get('kind', 'message')}\ndata: " \
                          f"{json.dumps(item, separators=(',', ':'))}\n\n"
            if time.monotonic() - last_beat >= api.heartbeat_s:
                last_beat = time.monotonic()
                if not api.node.is_subscribed(subscription):
                    # Cut off for falling behind: say so, rather than go quiet.
                    yield 'event: dropped\ndata: {"reason":"subscriber fell behind"}\n\n'
                    return
                yield ": heartbeat\n\n"
            await asyncio.sleep(EVENT_POLL_S)
    finally:
        api.node.unsubscribe(subscription)
        api.subscribers -= 1


@router.get("/events", tags=["events"], response_class=StreamingResponse,
            responses={200: {"content": {"text/event-stream": {}},
                             "description": "server-sent events: 'block' and 'tx' items"}})
async def events(api: Api, kind: Literal["block", "tx"] | None = None,
                 event: str | None = None) -> StreamingResponse:
    """Follow new blocks and tx results. ``event`` keeps only txs that emitted an event
    of that type (e.g. ``identity.revoked``). A comment line every 15 s keeps proxies
    from closing an idle stream."""
    if api.subscribers >= MAX_SUBSCRIBERS:
        raise HttpError(503, UNAVAILABLE, "too many event subscribers")
    return StreamingResponse(_event_stream(api, kind, event),
                             media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


# Mounted at /metrics, outside /v1 (no docstring: it would become the OpenAPI text).
def metrics(request: Request) -> PlainTextResponse:
    api: ApiState = request.app.state.api
    status_ = api.node.status()
    lines = []
    for name, kind, help_, value in (
            ("phrchain_height", "gauge", "Last committed block height.", status_["height"]),
            ("phrchain_mempool_txs", "gauge", "Txs waiting in the mempool.",
             status_["mempool_txs"]),
            ("phrchain_txs_submitted_total", "counter", "Txs submitted to this API.",
             api.submitted),
            ("phrchain_txs_rejected_total", "counter", "Submitted txs refused at check.",
             api.rejected),
            ("phrchain_event_subscribers", "gauge", "Open event streams.", api.subscribers)):
        lines += [f"# HELP {name} {help_}", f"# TYPE {name} {kind}", f"{name} {value}"]
    return PlainTextResponse("\n".join(lines) + "\n",
                             media_type="text/plain; version=0.0.4; charset=utf-8")
