"""Research handlers: validate → change state → emit events (``donors``, ``studies`` and
``datasets`` hold them; this is the table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Handler
from phrchain.modules.research import datasets, donors, studies
from phrchain.modules.research.messages import (
    DESTROY_KEY,
    DONATE,
    MATCH,
    REGISTER_STUDY,
    RELEASE,
    REQUEST,
    REVOKE,
    SET_PARAMS,
)

HANDLERS: Final[Mapping[str, Handler]] = {
    SET_PARAMS: donors.set_params, DONATE: donors.donate, REVOKE: donors.revoke,
    REGISTER_STUDY: studies.register_study, REQUEST: studies.request, MATCH: studies.match,
    RELEASE: datasets.release, DESTROY_KEY: datasets.destroy_key,
}
