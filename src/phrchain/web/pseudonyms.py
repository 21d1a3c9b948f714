"""A patient's identities in one web session (issue 14, ``docs/web.md``).

A patient's wallet acts through one pseudonym per relationship (its map, saved in the
wallet file); a wallet from before pseudonyms acts as itself. The patient pages show one
view over all of them and act, for each object, as the pseudonym that owns it: a consent
over records kept at Hanbit is granted by the Hanbit pseudonym, a bill is paid by the
pseudonym it was issued to, a claim is filed by the insurer-pseudonym with the link of
the pseudonym whose records it names.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from phrchain.client.patient import PatientWallet
from phrchain.client.phr import Phr
from phrchain.web.deps import party
from phrchain.web.errors import BAD_REQUEST, NOT_FOUND, UiError
from phrchain.web.sessions import Session


def patient_wallet(session: Session) -> PatientWallet:
    """The session's pseudonyms (made on first use; wiped with the session)."""
    if session.pseudonyms is None:
        client = session.client
        session.pseudonyms = PatientWallet(client.node, client.wallet,
                                           client.session.directory)
    return session.pseudonyms


def dids(session: Session) -> list[str]:
    """Every identity this patient acts as: the wallet's own DID when it is a registered
    patient (a wallet from before pseudonyms), then the registered pseudonyms of its map."""
    own = [session.did] if session.identity.get("registered", True) else []
    return own + [p.did for p in session.client.wallet.pseudonyms()
                  if p.registered_height is not None]


def acting(session: Session, did: str) -> Phr:
    """The SDK acting as ``did``, one of this patient's identities (404 otherwise)."""
    if did == session.did and session.identity.get("registered", True):
        return session.client
    if did in dids(session):
        return patient_wallet(session).pseudonym(did)
    raise UiError(404, NOT_FOUND, "not one of your identities")


def owner_of(session: Session, records: Iterable[str]) -> str:
    """The one identity of this patient that owns every record of ``records``."""
    owners = set()
    for record in records:
        found = session.client.session.q("records/get", record=record)
        if found is None or found.get("patient") not in dids(session):
            raise UiError(400, BAD_REQUEST, f"record {record} is not one of your records")
        owners.add(str(found["patient"]))
    if len(owners) != 1:
        raise UiError(400, BAD_REQUEST, "the records belong to different pseudonyms (kept "
                                        "at different institutions): one at a time")
    return owners.pop()


def for_custodian(session: Session, custodian: str) -> str:
    """The pseudonym the patient's records at ``custodian`` are kept under."""
    for entry in session.client.wallet.emergency_card():
        if entry["custodian"] == custodian and entry["pseudonym"] in dids(session):
            return entry["pseudonym"]
    raise UiError(400, BAD_REQUEST, "you have no records at that institution")


def describe(session: Session, did: str) -> dict[str, Any]:
    """How the page names one of the patient's identities: its DID, the relationship
    (kind and counterpart) or "self" for the wallet's own DID."""
    p = session.client.wallet.pseudonym_map.get(did)
    if p is None:
        return {"did": did, "kind": "self", "counterpart": None}
    return {"did": did, "kind": p.kind,
            "counterpart": party(session.client.session, p.counterpart)}
