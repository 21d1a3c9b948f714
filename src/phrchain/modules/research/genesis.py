"""Research genesis: the chain's first research parameters (version 1), with the pinned
DUO release and disease hierarchy as data::

    {"params": {"match_batch": int, "max_leaves": int, "min_k": int, "min_l": int,
                "terms": {...DUO table...}, "diseases": {...MONDO subset...}}}

An empty or missing section stores nothing: every research message is then refused with
``research/3 not_enabled`` until an authority sends ``research/set_params``. The tables
shipped with phrchain are in ``phrchain/research/terms/`` (``phrchain.research.terms``
loads them into a section); no rule reads a code constant for them.
"""

from __future__ import annotations

from typing import Any

from phrchain.core.errors import TxError
from phrchain.core.module import Context
from phrchain.modules.research.donors import new_params
from phrchain.modules.research.messages import SetParams


def init_genesis(ctx: Context, section: Any) -> None:
    if not section:
        return
    if not isinstance(section, dict) or set(section) != {"params"} \
            or not isinstance(section["params"], dict):
        raise ValueError('research genesis: {"params": {...}} (README "Genesis")')
    try:
        params = SetParams.parse(section["params"])
    except TxError as exc:
        raise ValueError(f"invalid research genesis: {exc}") from exc
    new_params(ctx.state, params, 0)
