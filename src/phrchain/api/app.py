"""The node REST API (FastAPI): submit signed txs, query state with proofs, read signed
headers and blocks, follow events (server-sent events), scrape metrics.

Routes (OpenAPI at ``/openapi.json``, interactive docs at ``/docs``)::

    POST /v1/txs                      {"tx": hex, "wait": "commit"|"check"}
    GET  /v1/txs/{hash}               tx status
    GET  /v1/query/{path}?height=&prove=&<data...>
    POST /v1/query                    {"path", "data", "height", "prove"}
    GET  /v1/headers/latest, /v1/headers/{height}, /v1/blocks/{height}, /v1/status
    GET  /v1/identities/{did}         one identity, with its state proof
    GET  /v1/identities?organization=|role=|kind=
    GET  /v1/events?kind=tx|block&event=<event type>   text/event-stream
    GET  /metrics                     Prometheus text format

The app is assembled here from one file per concern: ``routes_chain`` (txs, headers,
blocks, status), ``routes_query`` (queries, identities), ``routes_fhir``,
``routes_events`` (events, metrics), ``errors`` (bodies and status codes), ``limits``
(body size). Routes see the node only as a :class:`phrchain.engine.port.NodePort`.

Status codes: a tx refused at check → 422 with its consensus code (``tx/5`` for a bad
signature); a tx that was *committed* but failed in its block → 200 with the failing
``result`` (it changed nothing, not even the nonce); still pending after the commit
timeout → 202. Every error, whatever its source, has the body
``{"error": {"codespace", "code", "name", "message"}}`` (:mod:`phrchain.api.errors`).

Privacy: request bodies are never logged, and uvicorn's access log is off by default
(URLs carry DIDs, which are pseudonymous but linkable).
"""

from __future__ import annotations

from typing import Final

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse, RedirectResponse

from phrchain import __version__
from phrchain.api import routes_chain, routes_events, routes_fhir, routes_query
from phrchain.api.deps import ApiState
from phrchain.api.errors import install_error_handlers
from phrchain.api.limits import MAX_BODY_BYTES, ASGIApp, BodyLimit
from phrchain.engine.port import NodePort

COMMIT_TIMEOUT_S: Final = 30.0
HEARTBEAT_S: Final = 15.0


def create_app(node: NodePort, commit_timeout: float = COMMIT_TIMEOUT_S,
               heartbeat_s: float = HEARTBEAT_S, max_body_bytes: int = MAX_BODY_BYTES,
               ui: ASGIApp | None = None) -> FastAPI:
    """The API over ``node``. Starting and closing the node is the caller's job
    (:func:`phrchain.api.server.serve` does both), so tests can drive a node they own.
    ``ui`` (e.g. ``phrchain.web.create_ui_app(config)``) is mounted at ``/ui``; it
    refuses anything but loopback requests itself (docs/web.md)."""
    app = FastAPI(title="phrchain node API", version=__version__,
                  description="Signed transactions, proved queries, signed headers and "
                              "events of a phrchain node.",
                  openapi_url="/openapi.json", docs_url="/docs", redoc_url=None,
                  # /v1/blocks/5/ is a 404 with the error body, not a 307 to /v1/blocks/5:
                  # every answer of the API is one its OpenAPI document states.
                  redirect_slashes=False)
    app.state.api = ApiState(node, commit_timeout, heartbeat_s)
    for routes in (routes_chain, routes_query, routes_fhir, routes_events):
        app.include_router(routes.router)
    app.add_api_route("/metrics", routes_events.metrics, methods=["GET"],
                      response_class=PlainTextResponse, tags=["operations"],
                      include_in_schema=True)
    if ui is not None:
        app.add_api_route("/ui", lambda: RedirectResponse("/ui/"), methods=["GET"],
                          include_in_schema=False)  # what people type
        app.mount("/ui", ui)
    install_error_handlers(app)
    app.add_middleware(BodyLimit, max_bytes=max_body_bytes)
    return app
