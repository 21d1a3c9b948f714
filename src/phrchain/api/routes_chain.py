"""Transactions and the chain itself: submit and look up txs, signed headers, blocks,
status."""

from __future__ import annotations

from typing import Annotated, Any, Final

from fastapi import APIRouter, Path
from fastapi.responses import JSONResponse

from phrchain import __version__
from phrchain.api.deps import ERRORS, Api, Height
from phrchain.api.errors import NOT_FOUND, HttpError, error_json
from phrchain.api.models import (
    BlockModel,
    BlockResultsModel,
    ErrorBody,
    SignedHeaderModel,
    StatusModel,
    SubmitTxRequest,
    SubmitTxResponse,
    TxStatus,
)
from phrchain.core import encoding
from phrchain.core.errors import MALFORMED_TX, REGISTRY, PhrError

HASH_RE: Final = r"^[0-9a-f]{64}$"

router = APIRouter(prefix="/v1", responses=ERRORS)


# -- transactions ---------------------------------------------------------------------------
@router.post("/txs", response_model=SubmitTxResponse, tags=["txs"],
             responses={202: {"model": SubmitTxResponse, "description": "still pending"},
                        503: {"model": ErrorBody, "description": "api/7 node_stopped: the "
                              "node can no longer commit (e.g. a full disk)"}})
def submit_tx(body: SubmitTxRequest, api: Api) -> JSONResponse:
    """Submit a signed tx. Runs in the threadpool: the commit wait blocks a worker
    thread, never the event loop."""
    try:
        raw = encoding.hex_bytes(body.tx, what="tx")
    except PhrError as exc:
        api.count(rejected=True)
        raise MALFORMED_TX(str(exc)) from None
    check = api.node.submit(raw)
    api.count(rejected=not check.ok)
    if not check.ok:
        known = REGISTRY.get((check.codespace, check.code))
        return error_json(422, check.codespace, check.code,
                          known.name if known else "rejected", check.log)
    answer: dict[str, Any] = {"hash": check.hash.hex(), "check": check.to_json(),
                              "status": "pending", "height": None, "index": None,
                              "result": None}
    if body.wait == "commit":
        answer.update(api.node.wait_committed(check.hash, api.commit_timeout))
    return JSONResponse(answer, status_code=202 if answer["status"] == "pending" else 200)


@router.get("/txs/{tx_hash}", response_model=TxStatus, tags=["txs"])
def get_tx(tx_hash: Annotated[str, Path(pattern=HASH_RE)], api: Api) -> dict[str, Any]:
    status = api.node.tx_status(bytes.fromhex(tx_hash))
    if status["status"] == "unknown":
        raise HttpError(404, NOT_FOUND, f"no tx {tx_hash} in the mempool or the chain")
    return {"hash": tx_hash, **status}


# -- chain ------------------------------------------------------------------------------------
@router.get("/headers/latest", response_model=SignedHeaderModel, tags=["chain"])
def latest_header(api: Api) -> dict[str, Any]:
    signed = api.node.header()
    if signed is None:
        raise HttpError(404, NOT_FOUND, "no block has been produced yet")
    return signed.to_json()


@router.get("/headers/{height}", response_model=SignedHeaderModel, tags=["chain"])
def header_at(height: Height, api: Api) -> dict[str, Any]:
    signed = api.node.header(height)
    if signed is None:
        raise HttpError(404, NOT_FOUND, f"no block at height {height}")
    return signed.to_json()


@router.get("/blocks/{height}", response_model=BlockModel, tags=["chain"])
def block_at(height: Height, api: Api) -> dict[str, Any]:
    block = api.node.block(height)
    if block is None:
        raise HttpError(404, NOT_FOUND, f"no committed block at height {height}")
    signed, txs = block
    return {"signed_header": signed.to_json(), "txs": [t.raw.hex() for t in txs],
            "results": [t.result for t in txs]}


@router.get("/blocks/{height}/results", response_model=BlockResultsModel, tags=["chain"])
def block_results_at(height: Height, api: Api) -> dict[str, Any]:
    """The tx results of a committed block, served by every engine (a CometBFT network,
    which has no solo blocks, too): how a vault follows erasures by height."""
    results = api.node.block_results(height)
    if results is None:
        raise HttpError(404, NOT_FOUND, f"no committed block at height {height}")
    return {"height": height, "results": results}


@router.get("/status", response_model=StatusModel, tags=["chain"])
def status(api: Api) -> dict[str, Any]:
    return {**api.node.status(), "version": __version__}
