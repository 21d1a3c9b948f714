"""Trials handlers: validate → change state → emit events (``sponsor``, ``participants``
and ``data`` hold them; this is the table)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core.module import Handler
from phrchain.modules.trials import data, participants, sponsor
from phrchain.modules.trials.messages import (
    AMEND,
    COMMIT,
    ENROL,
    ENTRY,
    LOCK,
    RECONSENT,
    REGISTER,
    RESULTS,
    SET_PARAMS,
    SIGN,
    UNBLIND,
    WITHDRAW,
)

HANDLERS: Final[Mapping[str, Handler]] = {
    SET_PARAMS: sponsor.set_params, REGISTER: sponsor.register, AMEND: sponsor.amend,
    COMMIT: sponsor.commit, LOCK: sponsor.lock, UNBLIND: sponsor.unblind,
    RESULTS: sponsor.results, ENROL: participants.enrol, RECONSENT: participants.reconsent,
    WITHDRAW: participants.withdraw, ENTRY: data.entry, SIGN: data.sign,
}
