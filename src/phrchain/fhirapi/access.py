"""Each resource's release is decided by the vault's own access path.

For every resource a response would carry, the facade asks
:meth:`phrchain.gateway.service.Vault.access` (action ``read``, the token's purpose, the
token's accessor): the chain's ``consent/decide`` at the latest height, the vault's
author rule, the sealed audit entry journaled before anything is released. A later
change of that path (a local decision index, say) applies here unchanged. A denial is
a withheld resource: a read answers 403 with the chain's reason, a search leaves it
out; either way the decision is in the patient's audit log, under the request hash of
the FHIR request (so the entries of one search page share it and the withheld ones are
counted there, never in the response).

Patient tokens are decided as the patient's own reads (``owner``) and, before that,
against the consent the patient signed for the app (:meth:`Decider.consent_in_force`):
active, this patient's, naming this institution, ``read`` and the token's purpose, in
its period (the gateway's clock), and covering the record (its scope of record ids).
"""

from __future__ import annotations

import hashlib
import logging
import secrets
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from phrchain.core.errors import CodedError
from phrchain.fhirapi.errors import CONSENT_NOT_IN_FORCE, FORBIDDEN, GONE
from phrchain.fhirapi.smart import Grant
from phrchain.gateway.service import Vault, wall_clock_ms
from phrchain.modules.consent.messages import Scope
from phrchain.vault import errors as store_errors
from phrchain.vault import gateway_errors as ge
from phrchain.vault.requests import Verified

log = logging.getLogger(__name__)
PERMIT = "permit"


def request_hash(method: str, url: str, token_client: str) -> str:
    """What the audit entries of one FHIR request name: a fresh digest of it."""
    return hashlib.sha256(f"fhir|{method}|{url}|{token_client}|{secrets.token_hex(16)}"
                          .encode()).hexdigest()


class Decider:
    def __init__(self, vault: Vault) -> None:
        self.vault = vault

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Several decisions for one answer (a search page): their audit entries are
        journaled in one transaction (one fsync, ``Journal.deferred``), committed when
        the block ends and before the answer leaves; then the sender is told."""
        with self.vault.journal.deferred():
            yield
        self.vault.sender.poke()

    def consent_in_force(self, grant: Grant) -> Scope | None:
        """The on-chain scope of a patient token's consent (None for system tokens);
        ``smart/3`` if the consent no longer stands."""
        if grant.consent is None:
            return None
        consent = self.vault.query("consent/get", {"consent": grant.consent})
        why = not_in_force(consent, grant, self.vault.org, wall_clock_ms())
        if why:
            raise CONSENT_NOT_IN_FORCE(why)
        assert consent is not None
        return Scope.stored(consent["scope"])

    def decide(self, grant: Grant, record: str, req_hash: str,
               scope: Scope | None = None, patient: str | None = None, *,
               released: str | None = None, since: float | None = None) -> str:
        """``permit``, or the reason of the denial; the vault audited it either way.
        Each decision has its own request hash (the chain keeps one entry per request),
        derived from the FHIR request's, which the entry names as its ``batch``; a
        patient token's entry names its app (``client``) and the app's consent
        (``grant``). A patient token's own record outside its consent's scope is denied
        ``out_of_scope`` by the vault on the facade's word (``narrow``: the vault alone
        would permit the patient); another patient's record is the vault's to deny,
        audited in that other patient's log. ``released="count"``: the permit releases
        only that the record is counted (``_summary=count``)."""
        own = hashlib.sha256(f"{req_hash}|{record}|{secrets.token_hex(8)}".encode()).hexdigest()
        note: dict[str, str] = {"batch": req_hash}
        if grant.consent is not None:
            note.update(client=grant.client_id, grant=grant.consent)
        if released is not None:
            note["released"] = released
        narrow = "out_of_scope" if scope is not None and patient == grant.patient \
            and not scope.names(record) else None
        req = Verified(grant.accessor, secrets.token_hex(16), wall_clock_ms(), own)
        try:
            self.vault.access(req, record, "read", grant.scopes.purpose, note=note,
                              narrow=narrow, since=since)
        except CodedError as exc:
            if exc.error is ge.NO_KEY_FOR_CALLER:
                return PERMIT  # permitted and audited; the custodian opens it here
            if exc.error is ge.ACCESS_DENIED:
                return exc.detail or "denied"
            if exc.error is ge.ERASED:
                return "erased"
            if exc.error is store_errors.RECORD_NOT_FOUND:
                return "unknown_record"
            raise
        return PERMIT

    def would_permit(self, grant: Grant, record: str, scope: Scope | None = None,
                     patient: str | None = None, *, since: float | None = None) -> bool:
        """Whether :meth:`decide` would permit now, without an audit entry: a search's
        look-ahead for its ``next`` link (nothing is released on it; the next page
        decides the record again, audited, when it is served)."""
        if scope is not None and patient == grant.patient and not scope.names(record):
            return False
        return self.vault.preview(grant.accessor, record, "read",
                                  grant.scopes.purpose, since=since) == PERMIT

    def require(self, grant: Grant, record: str, req_hash: str,
                scope: Scope | None = None, patient: str | None = None, *,
                since: float | None = None) -> None:
        """A read: ``fhirapi/6`` with the reason unless permitted."""
        reason = self.decide(grant, record, req_hash, scope, patient, since=since)
        if reason == "erased":
            raise GONE(f"record {record}")
        if reason != PERMIT:
            raise FORBIDDEN(f"consent decision: {reason}")


def not_in_force(consent: Mapping[str, Any] | None, grant: Grant, org: str,
                  now_ms: int) -> str:
    if consent is None:
        return "the consent is not on chain"
    if consent["status"] != "active":
        return "consent_revoked"
    if consent["patient"] != grant.patient:
        return "the consent is another patient's"
    grantee = consent["grantee"]
    if grantee.get("kind") != "organization" or grantee.get("id") != org:
        return "the consent does not name this institution"
    if "read" not in consent["actions"]:
        return "action_not_permitted"
    if grant.scopes.purpose not in consent["purposes"]:
        return "purpose_not_permitted"
    period = consent["period"]
    if now_ms < period["start_ms"]:
        return "consent_not_started"
    if now_ms >= period["end_ms"]:
        return "consent_expired"
    return ""
