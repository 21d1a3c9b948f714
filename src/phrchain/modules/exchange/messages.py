"""Exchange messages (stateless checks): Push, and Pull's request/answer/receipt."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Final

from phrchain.core.errors import TxError
from phrchain.modules import fields
from phrchain.modules.consent.messages import PURPOSES, Scope
from phrchain.modules.exchange.errors import INVALID_FIELD

PUSH: Final = "exchange/push"
REQUEST: Final = "exchange/request"
APPROVE: Final = "exchange/approve"
DENY: Final = "exchange/deny"
RECEIVED: Final = "exchange/received"

# Events the handlers emit (``Event.type``), for clients that filter events.
EXCHANGE_PUSHED: Final = "exchange.pushed"
EXCHANGE_REQUESTED: Final = "exchange.requested"
EXCHANGE_APPROVED: Final = "exchange.approved"
EXCHANGE_DENIED: Final = "exchange.denied"
EXCHANGE_RECEIVED: Final = "exchange.received"
EVENTS: Final = frozenset({EXCHANGE_PUSHED, EXCHANGE_REQUESTED, EXCHANGE_APPROVED,
                           EXCHANGE_DENIED, EXCHANGE_RECEIVED})


@dataclass(frozen=True, slots=True)
class Push:
    record: str
    to: str
    purpose: str

    TYPE: ClassVar[str] = PUSH

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Push:
        fields.exact(msg, INVALID_FIELD, ("record", "to", "purpose"))
        return cls(fields.object_id(msg, "record", INVALID_FIELD),
                   fields.did(msg, "to", INVALID_FIELD),
                   fields.choice(msg, "purpose", PURPOSES, INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "record": self.record, "to": self.to,
                "purpose": self.purpose}


@dataclass(frozen=True, slots=True)
class Request:
    request: str
    patient: str
    scope: Scope
    purpose: str

    TYPE: ClassVar[str] = REQUEST

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

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "request": self.request, "patient": self.patient,
                "scope": self.scope.to_json(), "purpose": self.purpose}


@dataclass(frozen=True, slots=True)
class Approve:
    request: str
    end_ms: int

    TYPE: ClassVar[str] = APPROVE

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Approve:
        fields.exact(msg, INVALID_FIELD, ("request", "end_ms"))
        return cls(fields.object_id(msg, "request", INVALID_FIELD),
                   fields.integer(msg, "end_ms", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "request": self.request, "end_ms": self.end_ms}


@dataclass(frozen=True, slots=True)
class Answer:
    """``exchange/deny``: the request id only."""

    request: str

    TYPE: ClassVar[str] = DENY

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Answer:
        fields.exact(msg, INVALID_FIELD, ("request",))
        return cls(fields.object_id(msg, "request", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "request": self.request}


@dataclass(frozen=True, slots=True)
class Received:
    request: str
    record: str

    TYPE: ClassVar[str] = RECEIVED

    @classmethod
    def parse(cls, msg: Mapping[str, Any]) -> Received:
        fields.exact(msg, INVALID_FIELD, ("request", "record"))
        return cls(fields.object_id(msg, "request", INVALID_FIELD),
                   fields.object_id(msg, "record", INVALID_FIELD))

    def to_msg(self) -> dict[str, Any]:
        return {"type": self.TYPE, "request": self.request, "record": self.record}
