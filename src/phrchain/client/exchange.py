"""The exchange module from the client side (``modules/exchange``): a provider asks to
pull a patient's records, the patient approves or denies, the provider pulls a copy
into its institution's vault; or a provider pushes a record it may read to another
institution under the patient's push consent.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from typing import Any

from phrchain.client.consent import ConsentClient
from phrchain.client.records import Opened, RecordsClient
from phrchain.client.session import Session
from phrchain.modules.consent.messages import Scope
from phrchain.modules.exchange.messages import Answer, Approve, Push, Request
from phrchain.vault import crypto
from phrchain.vault.crypto import RecordMeta

__all__ = ["ExchangeClient"]


class ExchangeClient:
    def __init__(self, session: Session) -> None:
        self.session = session
        self._records = RecordsClient(session)

    # -- the patient -------------------------------------------------------------------
    def approve(self, request: str, end_ms: int, share_existing: bool = True) -> None:
        """Approve a pull request; with ``share_existing``, share the keys of the
        records it covers with the requester (``ConsentClient.share``)."""
        self.session.send([Approve(request, end_ms).to_msg()])
        if share_existing:
            req = self.session.q("exchange/get", request=request)
            ConsentClient(self.session).share([req["requester"]], Scope.parse(req["scope"]))

    def deny(self, request: str) -> None:
        self.session.send([Answer(request).to_msg()])  # exchange/deny

    # -- providers ---------------------------------------------------------------------
    def request_pull(self, patient: str, scope: Mapping[str, Any], purpose: str) -> str:
        request = secrets.token_hex(16)
        self.session.send([Request(request, patient, Scope.parse(scope), purpose).to_msg()])
        return request

    def pull(self, request: str, record: str) -> Opened:
        """Fetch a record under an approved pull and keep a copy in my institution's
        vault (which records the copy on chain)."""
        s = self.session
        req = s.q("exchange/get", request=request)
        descriptor, answer, data_key, parts, _ = self._records.fetch(
            record, "pull", req["purpose"], None)
        record_id = bytes.fromhex(record)
        chunks = [p.data for p in parts]
        plaintext = crypto.open_sealed(record_id, descriptor["patient"], data_key, chunks,
                                       expected_hash=bytes.fromhex(descriptor["hash"]),
                                       expected_commitment=bytes.fromhex(
                                           descriptor["commitment"]))
        mine = s.custodian_of_me()
        s.vault(mine).copy(_meta(descriptor),
                           s.wrap_for(data_key, record_id, {s.wallet.did, mine}),
                           chunks, pull=request, descriptor=_sealed(answer))
        return Opened(record, descriptor, plaintext, answer["decision"])

    def push(self, record: str, to: str, purpose: str = "TREAT") -> None:
        """Send a record I may read to another provider's institution, under the
        patient's push consent for that provider."""
        s = self.session
        descriptor, answer, data_key, parts, _ = self._records.fetch(record, "read",
                                                                     purpose, None)
        s.send([Push(record, to, purpose).to_msg()])
        recipient = s.identity(to)
        org = to if recipient["kind"] == "organization" else recipient["organization"]
        s.vault(org).copy(_meta(descriptor),
                          s.wrap_for(data_key, bytes.fromhex(record), {to, org}),
                          [p.data for p in parts], descriptor=_sealed(answer))


def _sealed(answer: Mapping[str, Any]) -> bytes | None:
    """The record's sealed descriptor from a vault answer: the copy carries it."""
    return bytes.fromhex(answer["descriptor"]) if answer.get("descriptor") else None


def _meta(descriptor: Mapping[str, Any]) -> RecordMeta:
    return RecordMeta(bytes.fromhex(descriptor["record"]), descriptor["patient"],
                      bytes.fromhex(descriptor["hash"]), descriptor["size"],
                      descriptor["chunks"], bytes.fromhex(descriptor["commitment"]))

