"""Audit handlers: append vault decisions to the patients' logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core import encoding
from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules import records
from phrchain.modules.audit import keeper
from phrchain.modules.audit.errors import FUTURE_HEIGHT, UNAUTHORIZED, UNKNOWN_RECORD
from phrchain.modules.audit.messages import APPEND, AUDIT_APPENDED, AUDIT_BREAK_GLASS, parse_append
from phrchain.modules.identity import parties


def append(ctx: Context, msg: Msg) -> None:
    entries = parse_append(msg)
    vault = parties.acting(ctx.state, ctx.signer)
    if vault is None or vault["kind"] != "organization":
        raise UNAUTHORIZED("only an active organization appends audit entries")
    for entry in entries:
        record = records.get_record(ctx.state, entry["record"])
        if record is None:
            raise UNKNOWN_RECORD(entry["record"])
        if not records.is_holder(ctx.state, entry["record"], ctx.signer):
            raise UNAUTHORIZED(f"{ctx.signer} holds no copy of {entry['record']}")
        if entry["at"] >= ctx.height:
            raise FUTURE_HEIGHT(f"decided at {entry['at']}, included at {ctx.height}")
        if keeper.seen(ctx.state, entry["request"]):
            continue  # a vault re-sending after a crash: already logged, nothing to do
        keeper.mark(ctx.state, entry["request"])
        patient = record["patient"]
        index = keeper.head(ctx.state, patient)["size"]
        leaf = {**entry, "patient": patient, "vault": ctx.signer, "height": ctx.height,
                "index": index}
        keeper.append(ctx.state, patient, encoding.encode_trusted(leaf))
        ctx.emit(AUDIT_APPENDED, patient=patient, index=index, decision=entry["decision"],
                 action=entry["action"])
        if entry["break_glass"]:
            ctx.emit(AUDIT_BREAK_GLASS, patient=patient, record=entry["record"],
                     accessor=entry["accessor"], index=index)


HANDLERS: Final[Mapping[str, Handler]] = {APPEND: append}
