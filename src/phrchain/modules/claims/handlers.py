"""Claims handlers (validate → change state → emit events), by message type."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Handler
from phrchain.modules.claims.filing import file
from phrchain.modules.claims.messages import (
    APPEAL,
    ENROL,
    FILE,
    LAPSE,
    LEAVE,
    PUBLISH,
    REVIEW,
    SETTLE,
)
from phrchain.modules.claims.products import enrol, leave, publish
from phrchain.modules.claims.review import appeal, lapse, review, settle

HANDLERS: Final[Mapping[str, Handler]] = {
    PUBLISH: publish, ENROL: enrol, LEAVE: leave, FILE: file, REVIEW: review,
    LAPSE: lapse, APPEAL: appeal, SETTLE: settle,
}
