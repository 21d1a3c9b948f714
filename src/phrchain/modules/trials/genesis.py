"""Trials genesis: the chain's first trials parameters (version 1).

::

    {"params": {"start_window_ms": int, "max_sites": int, "max_arms": int,
                "max_outcomes": int, "max_versions": int}}

An empty or missing section stores nothing: every trials message is then refused with
``trials/21 not_enabled`` until an authority sends ``trials/set_params``. Rules read the
stored parameters (the version a trial was registered under), never a code constant.
"""

from __future__ import annotations

from typing import Any

from phrchain.core.errors import TxError
from phrchain.core.module import Context
from phrchain.modules.trials.messages import SetParams
from phrchain.modules.trials.sponsor import new_params


def init_genesis(ctx: Context, section: Any) -> None:
    if not section:
        return
    if not isinstance(section, dict) or set(section) != {"params"} \
            or not isinstance(section["params"], dict):
        raise ValueError('trials genesis: {"params": {...}} (README "Genesis")')
    try:
        params = SetParams.parse(section["params"])
    except TxError as exc:
        raise ValueError(f"invalid trials genesis: {exc}") from exc
    new_params(ctx.state, params, 0)


# What the repo's genesis writers (net init, demo, testing) put in a new chain.
RECOMMENDED: dict[str, Any] = {"params": {
    "start_window_ms": 365 * 86_400_000, "max_sites": 128, "max_arms": 16,
    "max_outcomes": 64, "max_versions": 100}}
