"""Auditor and regulator routes: is the chain the node serves the one the trust anchor
signs, and a patient's audit log with every proof shown and checked.

Audit entries are sealed on chain: anyone with the node's API sees only where each
entry is (patient pseudonym, index, height, vault, request hash). The regulator's
auditors open them with the regulator organization's key: the session's own keys when
the regulator organization itself signs in, else the audit key files the UI's
configuration lists for the auditor's wallet (``WalletEntry.audit_keys``). An entry no
such key opens is shown sealed, never guessed.
"""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query

from phrchain.client.audit import AuditKey, opening_keys
from phrchain.client.session import RecordsError
from phrchain.client.verify import query_key, verify_header, verify_query_against_header
from phrchain.core.errors import CryptoError, ProofError
from phrchain.core.keys import EncryptionKey
from phrchain.web.auditlog import verified_log
from phrchain.web.deps import Ui, UiState, capability, party
from phrchain.web.sessions import Session

log = logging.getLogger(__name__)
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


def _openers(ui: UiState, session: Session) -> dict[str, tuple[EncryptionKey, ...]]:
    """The session wallet's own keys, and the audit key files configured for it."""
    out = opening_keys(session.client.wallet)
    entry = ui.config.wallets.get(session.wallet_name)
    for path in entry.audit_keys if entry is not None else ():
        try:
            out.update(AuditKey.load(path).openers())
        except RecordsError:
            log.warning("audit key file %s is unreadable", path)
    return out


@router.get("/audit")
def audit(session: Reader, ui: Ui,
          patient: Annotated[str, Query(min_length=8, max_length=200)]) -> dict[str, Any]:
    client = session.client.session
    answer = verified_log(client.node, patient, session.anchor, proofs=True,
                          openers=_openers(ui, session))
    for entry in answer["entries"]:
        if entry.get("accessor"):
            entry["accessor_party"] = party(client, entry["accessor"])
    answer["anchored"] = session.anchored
    return answer
