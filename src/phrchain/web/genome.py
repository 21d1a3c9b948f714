"""The patient's genomic objects (``docs/genomics.md``): for each identity of the
patient and each vault of the directory, the objects kept there and who read which
region, range or whole object, when, and whether it was permitted — the vault's read
log, which the audited access entries (by request) back on chain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from phrchain.client.http import ApiError
from phrchain.client.session import RecordsError
from phrchain.web.deps import capability, party
from phrchain.web.pseudonyms import acting, describe, dids
from phrchain.web.sessions import Session

router = APIRouter(prefix="/api/patient", tags=["genome"])
PatientReader = Annotated[Session, Depends(capability("patient"))]


@router.get("/genome")
def genome(session: PatientReader) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    unreachable: list[dict[str, Any]] = []
    sdk = session.client.session
    for did in dids(session):
        client = acting(session, did)
        for org in sorted(client.session.directory):
            try:
                found = client.genome.mine(org)
            except (ApiError, RecordsError):
                unreachable.append(party(sdk, org))
                continue
            for obj in found:
                out.append({"id": obj["id"], "record": obj["record"],
                            "custodian": party(sdk, org), "as": describe(session, did),
                            "readers": [party(sdk, r) for r in obj["readers"]],
                            "reads": [{"reader": party(sdk, r["accessor"]),
                                       "what": r["what"], "decision": r["decision"],
                                       "at_ms": r["at_ms"]} for r in obj["reads"]]})
    return {"objects": out, "unreachable": unreachable}
