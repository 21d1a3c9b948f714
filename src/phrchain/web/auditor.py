"""Auditor and regulator routes: is the chain the node serves the one the trust anchor
signs, and a patient's audit log with every proof shown and checked.

Audit logs hold pseudonymous DIDs and record ids, never health data; anyone with the
node's API can read them, so this view only adds the checking and the display.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from phrchain.client.verify import query_key, verify_header, verify_query_against_header
from phrchain.core.errors import CryptoError, ProofError
from phrchain.web.auditlog import verified_log
from phrchain.web.deps import capability, party
from phrchain.web.sessions import Session

router = APIRouter(prefix="/api/auditor", tags=["auditor"])
Reader = Annotated[Session, Depends(capability("auditor"))]


@router.get("/chain")
def chain(session: Reader) -> dict[str, Any]:
    """The latest header checked against the anchor (signature, chain id), and its app
    hash checked by proving one state key (this session's identity) against it."""
    node, anchor = session.client.node, session.anchor
    status = node.status()
    out: dict[str, Any] = {"anchor": anchor.validator, "anchored": session.anchored,
                           "chain_id": anchor.chain_id, "node_height": status["height"],
                           "node_validator": status.get("validator")}
    try:
        signed = node.header()
        header = verify_header(signed, anchor.validator, anchor.chain_id)
        data = {"did": session.did}
        answer = node.query("identity/did", data, height=header.height, prove=True)
        verify_query_against_header(answer, signed, anchor.validator,
                                    expected_key=query_key("identity/did", data),
                                    chain_id=anchor.chain_id)
    except (ProofError, CryptoError) as exc:
        return {**out, "verified": False, "why": str(exc)}
    return {**out, "verified": True, "height": header.height, "time_ms": header.time_ms,
            "app_hash": header.app_hash.hex(), "num_txs": header.num_txs,
            "proposer": header.proposer}


@router.get("/audit")
def audit(session: Reader, patient: Annotated[str, Query(min_length=8, max_length=200)]
          ) -> dict[str, Any]:
    client = session.client.session
    answer = verified_log(client.node, patient, session.anchor, proofs=True)
    for entry in answer["entries"]:
        if entry.get("accessor"):
            entry["accessor_party"] = party(client, entry["accessor"])
    answer["anchored"] = session.anchored
    return answer
