"""Request and response bodies of the node API, so the OpenAPI document says what each
route takes and returns."""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

#: The largest integer any parameter takes: heights, indexes and offsets end up in
#: SQLite INTEGER columns (signed 64-bit), where a larger one would overflow (a 500)
#: instead of being refused at the door (422 api/1).
MAX_INT: Final = (1 << 63) - 1


class ErrorDetail(BaseModel):
    codespace: str = Field(description="'tx', 'query', a module name, or 'api'")
    code: int = Field(description="stable within its codespace, never renumbered")
    name: str
    message: str = Field(description="a human sentence; never contains health data")


class ErrorBody(BaseModel):
    error: ErrorDetail


class EventModel(BaseModel):
    type: str
    attributes: list[list[str]] = Field(description="[key, value] string pairs")


class TxResultModel(BaseModel):
    hash: str
    code: int = Field(description="0 means success")
    codespace: str
    log: str
    events: list[EventModel]


class SubmitTxRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tx: str = Field(description="lowercase hex of the signed tx's canonical bytes")
    wait: Literal["commit", "check"] = Field(
        default="commit", description="'check': answer once admitted to the mempool; "
        "'commit': wait (up to 30 s) until the tx is in a block")


class TxStatus(BaseModel):
    hash: str
    status: Literal["pending", "committed", "dropped"]
    height: int | None = None
    index: int | None = None
    result: TxResultModel | None = Field(
        default=None, description="block result: a committed tx may still have failed "
        "(code != 0); it then changed nothing, not even its signer's nonce")


class SubmitTxResponse(TxStatus):
    check: TxResultModel = Field(description="the mempool admission result (always ok)")


class QueryRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    path: str = Field(description="'<module>/<query>' (e.g. 'identity/did') or 'store'")
    data: dict[str, Any] = Field(default_factory=dict)
    height: int | None = Field(default=None, ge=0, le=MAX_INT,
                               description="default: latest")
    prove: bool = False


class SmtLeaf(BaseModel):
    path: str
    value_hash: str


class SmtProofModel(BaseModel):
    siblings: list[str] = Field(description="sibling hashes from the root downward")
    leaf: SmtLeaf | None


class QueryAnswer(BaseModel):
    path: str
    height: int
    app_hash: str
    value: Any
    key: str | None = Field(default=None, description="with prove: the state key (hex)")
    raw_value: str | None = Field(default=None,
                                  description="with prove: stored bytes (hex), null if absent")
    proof: SmtProofModel | None = Field(default=None,
                                        description="with prove: (non-)membership proof")


class HeaderModel(BaseModel):
    app_hash: str
    chain_id: str
    height: int
    num_txs: int
    prev_hash: str
    proposer: str
    results_root: str
    time_ms: int
    tx_root: str
    v: int


class SignedHeaderModel(BaseModel):
    header: HeaderModel
    signature: str


class BlockModel(BaseModel):
    signed_header: SignedHeaderModel
    txs: list[str] = Field(description="raw txs (hex) in block order")
    results: list[TxResultModel]


class BlockResultsModel(BaseModel):
    height: int
    results: list[TxResultModel] = Field(description="each tx's result, in block order")


class StatusModel(BaseModel):
    chain_id: str
    height: int
    app_hash: str
    validator: str
    mempool_txs: int
    healthy: bool
    version: str
