"""Research donation routes (``modules/research``), through
:class:`~phrchain.client.research.ResearchClient`:

- patient: for each of its identities (the pseudonyms that own records), its donation
  (DUO terms, period, status) and every study that used its data — the datasets whose
  manifests hold its records, with the study's declared purpose and the k and l the
  release reached.

Donations, studies and manifests are public chain data named only by pseudonyms.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends

from phrchain.web.deps import capability, party
from phrchain.web.pseudonyms import acting, dids
from phrchain.web.sessions import Session

patient_router = APIRouter(prefix="/api/patient", tags=["research"])
PatientReader = Annotated[Session, Depends(capability("patient"))]


def _use(client: Any, item: dict[str, Any]) -> dict[str, Any]:
    study, manifest = item["study"], item["manifest"]
    return {"dataset": item["dataset"], "study": study["study"],
            "institute": party(client, study["institute"]), "purpose": study["purpose"],
            "for_profit": study["for_profit"], "country": study["country"],
            "released_ms": manifest["time_ms"], "k": manifest["k"], "l": manifest["l"],
            "custodian": party(client, manifest["custodian"]),
            "key_destroyed": manifest["key_destroyed_height"] is not None}


@patient_router.get("/research")
def my_research(session: PatientReader) -> dict[str, Any]:
    """Each identity's donation and the studies that used its data."""
    client = session.client.session
    out = []
    for did in dids(session):
        me = acting(session, did).research
        donation = client.q("research/donation", donor=did)
        out.append({"pseudonym": did, "donation": donation,
                    "uses": [_use(client, u) for u in me.uses(did)]})
    return {"identities": out}
