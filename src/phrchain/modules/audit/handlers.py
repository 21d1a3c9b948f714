"""Audit handlers: append sealed vault decisions to the patients' logs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from phrchain.core import encoding
from phrchain.core.module import Context, Handler
from phrchain.core.tx import Msg
from phrchain.modules import records
from phrchain.modules.audit import keeper
from phrchain.modules.audit.errors import MISSING_READER, UNAUTHORIZED
from phrchain.modules.audit.messages import APPEND, AUDIT_APPENDED, parse_append
from phrchain.modules.identity import parties


def append(ctx: Context, msg: Msg) -> None:
    entries = parse_append(msg)
    vault = parties.acting(ctx.state, ctx.signer)
    if vault is None or vault["kind"] != "organization":
        raise UNAUTHORIZED("only an active organization appends audit entries")
    holds: dict[str, bool] = {}
    for entry in entries:
        if entry.patient not in holds:
            holds[entry.patient] = records.holds_any(ctx.state, entry.patient, ctx.signer)
        if not holds[entry.patient]:
            raise UNAUTHORIZED(f"{ctx.signer} holds no record of {entry.patient}")
        if entry.patient not in entry.sealed.keys or ctx.signer not in entry.sealed.keys:
            raise MISSING_READER(f"entry of request {entry.request}")
        if keeper.seen(ctx.state, entry.request):
            continue  # a vault re-sending after a crash: already logged, nothing to do
        keeper.mark(ctx.state, entry.request)
        index = keeper.head(ctx.state, entry.patient)["size"]
        leaf = {"patient": entry.patient, "index": index, "height": ctx.height,
                "vault": ctx.signer, "request": entry.request,
                "commitment": entry.commitment, "sealed": entry.sealed.to_json()}
        keeper.append(ctx.state, entry.patient, encoding.encode_trusted(leaf))
        ctx.emit(AUDIT_APPENDED, patient=entry.patient, index=index)


HANDLERS: Final[Mapping[str, Handler]] = {APPEND: append}
