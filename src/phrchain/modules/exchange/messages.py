"""Exchange messages (stateless checks): Push, and Pull's request/answer/receipt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core.errors import TxError
from phrchain.modules import fields
from phrchain.modules.consent.messages import PURPOSES, Scope
from phrchain.modules.exchange.errors import INVALID_FIELD

PUSH: Final = "exchange/push"
REQUEST: Final = "exchange/request"
APPROVE: Final = "exchange/approve"
DENY: Final = "exchange/deny"
RECEIVED: Final = "exchange/received"


@dataclass(frozen=True, slots=True)
class Push:
    record: str
    to: str
    purpose: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Push:
        fields.exact(msg, INVALID_FIELD, ("record", "to", "purpose"))
        return cls(fields.object_id(msg, "record", INVALID_FIELD),
                   fields.did(msg, "to", INVALID_FIELD),
                   fields.choice(msg, "purpose", PURPOSES, INVALID_FIELD))


@dataclass(frozen=True, slots=True)
class Request:
    request: str
    patient: str
    scope: Scope
    purpose: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Request:
        fields.exact(msg, INVALID_FIELD, ("request", "patient", "scope", "purpose"))
        try:
            scope = fields.apply(Scope.parse, msg.get("scope"), INVALID_FIELD, "scope")
        except TxError as exc:  # the consent module's scope check: report it as ours
            raise INVALID_FIELD(exc.detail) from None
        return cls(fields.object_id(msg, "request", INVALID_FIELD),
                   fields.did(msg, "patient", INVALID_FIELD), scope,
                   fields.choice(msg, "purpose", PURPOSES, INVALID_FIELD))


@dataclass(frozen=True, slots=True)
class Approve:
    request: str
    end_ms: int

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Approve:
        fields.exact(msg, INVALID_FIELD, ("request", "end_ms"))
        return cls(fields.object_id(msg, "request", INVALID_FIELD),
                   fields.integer(msg, "end_ms", INVALID_FIELD))


@dataclass(frozen=True, slots=True)
class Answer:
    """``exchange/deny``: the request id only."""

    request: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Answer:
        fields.exact(msg, INVALID_FIELD, ("request",))
        return cls(fields.object_id(msg, "request", INVALID_FIELD))


@dataclass(frozen=True, slots=True)
class Received:
    request: str
    record: str

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Received:
        fields.exact(msg, INVALID_FIELD, ("request", "record"))
        return cls(fields.object_id(msg, "request", INVALID_FIELD),
                   fields.object_id(msg, "record", INVALID_FIELD))
