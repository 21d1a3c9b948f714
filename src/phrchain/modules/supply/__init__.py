"""Supply module (M9, issue 15): serialized drug packs from factory to patient, custody
checked at commit time, dispensing bound to a prescription and a patient by monitoring
tags only, and deterministic controlled-substance monitoring with alerts as state.

Genesis section (optional)::

    {"params": <parameter table>}     stored as version 1 (``params.py``)
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from phrchain.core.errors import TxError
from phrchain.core.module import Context, SignatureJob, StaticModule
from phrchain.modules.supply import keeper, prescribe
from phrchain.modules.supply.errors import INVALID_FIELD
from phrchain.modules.supply.handlers import HANDLERS
from phrchain.modules.supply.params import parse_params
from phrchain.modules.supply.queries import QUERIES

__all__ = ["SupplyModule"]


class SupplyModule(StaticModule):
    name = "supply"
    HANDLERS = HANDLERS
    QUERIES = QUERIES

    def message_signatures(self) -> Mapping[str, SignatureJob]:
        return {"supply/prescribe": prescribe.prescription_signature}

    def init_genesis(self, ctx: Context, section: Any) -> None:
        if not section:
            return
        if not isinstance(section, dict) or set(section) != {"params"}:
            raise ValueError("supply genesis: {\"params\": <parameter table>} or nothing")
        try:
            keeper.put_params(ctx.state, parse_params(section["params"], INVALID_FIELD), 0)
        except TxError as exc:
            raise ValueError(f"invalid supply genesis: {exc}") from exc
