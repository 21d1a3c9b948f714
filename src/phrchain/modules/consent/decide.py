"""The access decision: may ``accessor`` do ``action`` on ``record`` for ``purpose`` now?

Pure and deterministic: the vault (policy enforcement point) asks its node for this at
the latest height, and the same state always gives the same answer. Order of checks and
reason codes: ``docs/records.md`` and this module's README.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from phrchain.core.state import Reader
from phrchain.modules import records
from phrchain.modules.consent import keeper
from phrchain.modules.consent.messages import Grantee, Scope
from phrchain.modules.identity import parties

ACTIONS: Final = frozenset({"read", "view", "pull", "push", "break_glass"})
# "custodian": the custodian organization reads its own records (decided on chain);
# "author": the practitioner who wrote it, decided by the custodian's vault from its
# local author (the chain knows no authors, v2), and audited like the others.
PERMIT_REASONS: Final = frozenset({"owner", "author", "custodian", "consent", "break_glass"})
DENY_REASONS: Final = frozenset({
    "unknown_record", "erased", "unknown_accessor", "revoked_accessor", "no_consent",
    "consent_revoked", "consent_not_started", "consent_expired", "action_not_permitted",
    "purpose_not_permitted", "out_of_scope", "not_emergency", "emergency_needs_etreat",
})
REASONS: Final = PERMIT_REASONS | DENY_REASONS
# Which consent action covers a requested action ("view" is reading in place).
_NEEDS: Final = {"read": "read", "view": "read", "pull": "pull", "push": "push"}
_EMERGENCY_ORG_TYPES: Final = frozenset({"hospital", "clinic"})


@dataclass(frozen=True, slots=True)
class Decision:
    permit: bool
    reason: str
    consent: str | None = None
    break_glass: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"permit": self.permit, "reason": self.reason, "consent": self.consent,
                "break_glass": self.break_glass}


def _deny(reason: str) -> Decision:
    return Decision(False, reason)


def grantee_matches(grantee: Grantee, identity: parties.Identity) -> bool:
    if grantee.kind == "practitioner":
        return bool(identity["did"] == grantee.id)
    if grantee.kind == "organization":
        return bool(identity["did"] == grantee.id
                    or (parties.organization_of(identity) == grantee.id
                    and identity["kind"] == "practitioner"))
    return parties.has_role(identity, grantee.id) and (
        grantee.organization is None or identity["organization"] == grantee.organization)


def _evaluate(consent: Mapping[str, Any], identity: parties.Identity, wanted: str,
              record: Mapping[str, Any], purpose: str, now_ms: int) -> tuple[int, str | None]:
    """``(stage reached, deny reason or None)``; stage -1 when the consent is not for
    this accessor at all."""
    if not grantee_matches(Grantee.parse(consent["grantee"]), identity):
        return -1, "no_consent"
    if consent["status"] != "active":
        return 1, "consent_revoked"
    period = consent["period"]
    if now_ms < period["start_ms"]:
        return 2, "consent_not_started"
    if now_ms >= period["end_ms"]:
        return 2, "consent_expired"
    if wanted not in consent["actions"]:
        return 3, "action_not_permitted"
    if purpose not in consent["purposes"]:
        return 4, "purpose_not_permitted"
    if not Scope.stored(consent["scope"]).names(record["record"]):
        return 5, "out_of_scope"
    return 6, None


def _break_glass(state: Reader, identity: parties.Identity, purpose: str) -> Decision:
    org = parties.organization_of(identity)
    if not parties.has_role(identity, "emergency") or org is None \
            or parties.org_type(state, org) not in _EMERGENCY_ORG_TYPES:
        return _deny("not_emergency")
    if purpose != "ETREAT":
        return _deny("emergency_needs_etreat")
    return Decision(True, "break_glass", None, True)


def decide(state: Reader, accessor: str, action: str, record_id: str, purpose: str,
           now_ms: int) -> Decision:
    """The decision, with the consent that permitted it or the reason for denial."""
    record = records.get_record(state, record_id)
    if record is None:
        return _deny("unknown_record")
    if record["status"] == "erased":
        return _deny("erased")
    if parties.get(state, accessor) is None:
        return _deny("unknown_accessor")
    identity = parties.acting(state, accessor)
    if identity is None:
        return _deny("revoked_accessor")
    if action == "break_glass":
        return _break_glass(state, identity, purpose)
    if accessor == record["patient"]:
        return Decision(True, "owner")
    if action in ("read", "view") and accessor == record["custodian"]:
        return Decision(True, "custodian")
    wanted = _NEEDS[action]
    best_stage, best_reason = -1, "no_consent"
    for consent_id in keeper.of_patient(state, record["patient"]):
        consent = keeper.get(state, consent_id)
        assert consent is not None
        stage, reason = _evaluate(consent, identity, wanted, record, purpose, now_ms)
        if reason is None:
            return Decision(True, "consent", consent_id)
        if stage > best_stage:  # ascending ids: ties keep the lowest
            best_stage, best_reason = stage, reason
    return _deny(best_reason)
