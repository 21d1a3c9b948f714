"""The access decision over every accessor by action by consent state (module level).

The same matrix is driven through the vault in tests/integration/test_vault_matrix.py,
which also checks that no byte is released on a deny and that every decision is audited.
"""

from __future__ import annotations

import pytest

from tests.world import (
    A1,
    A2,
    AE,
    B1,
    DAY_MS,
    HOSPITAL_A,
    HOSPITAL_B,
    IR,
    RR,
    STRANGER,
    P,
    Q,
    World,
    practitioner,
)

ACCESSORS = {"patient": P, "consented": A1, "same_org": A2, "other_org": B1,
             "emergency": AE, "insurer": IR, "researcher": RR, "unregistered": STRANGER}
ACTIONS = ("read", "view", "pull", "push", "break_glass")
STATES = ("none", "active", "expired", "revoked", "wrong_purpose", "wrong_scope",
          "other_patient")
STATE_REASON = {"none": "no_consent", "expired": "consent_expired",
                "revoked": "consent_revoked", "wrong_purpose": "purpose_not_permitted",
                "wrong_scope": "out_of_scope", "other_patient": "no_consent"}
ALL_ACTIONS = ("pull", "push", "read")


def build(state: str) -> tuple[World, str]:
    """A world with one record of P (authored by hospital B itself) and A1's consent in
    ``state``."""
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    grantee = practitioner(A1)
    if state == "active":
        w.grant(P, grantee, actions=ALL_ACTIONS)
    elif state == "expired":
        w.grant(P, grantee, actions=ALL_ACTIONS, end_ms=w.now + 1500)
        w.chain.block([])  # block time passes the end
        w.chain.block([])
    elif state == "revoked":
        consent = w.grant(P, grantee, actions=ALL_ACTIONS)
        w.ok(P, {"type": "consent/revoke", "consent": consent})
    elif state == "wrong_purpose":
        w.grant(P, grantee, actions=ALL_ACTIONS, purposes=("HRESCH",))
    elif state == "wrong_scope":  # another record of the same patient
        other = w.record(author=HOSPITAL_B, patient=P)
        w.grant(P, grantee, actions=ALL_ACTIONS, scope={"records": [other]})
    elif state == "other_patient":
        w.grant(Q, grantee, actions=ALL_ACTIONS)
    return w, record


def expected(who: str, action: str, state: str) -> tuple[bool, str]:
    if who == "unregistered":
        return False, "unknown_accessor"
    if action == "break_glass":
        return (True, "break_glass") if who == "emergency" else (False, "not_emergency")
    if who == "patient":
        return True, "owner"
    if who == "consented":
        return (True, "consent") if state == "active" else (False, STATE_REASON[state])
    return False, "no_consent"


@pytest.mark.parametrize("state", STATES)
def test_access_matrix(state: str) -> None:
    w, record = build(state)
    for who, key in ACCESSORS.items():
        for action in ACTIONS:
            purpose = "ETREAT" if action == "break_glass" else "TREAT"
            d = w.decide(key, action, record, purpose)
            assert (d["permit"], d["reason"]) == expected(who, action, state), \
                (who, action, state, d)
            assert d["break_glass"] == (d["reason"] == "break_glass")
            assert (d["consent"] is not None) == (d["reason"] == "consent")


def test_the_custodian_reads_its_own_records_and_the_chain_knows_no_author() -> None:
    w = World()
    record = w.record(author=A1, patient=P)
    assert w.decide(HOSPITAL_A, "view", record)["reason"] == "custodian"
    assert w.decide(HOSPITAL_A, "read", record)["reason"] == "custodian"
    assert w.decide(HOSPITAL_A, "pull", record)["reason"] == "no_consent"  # not copying
    # the author's permit is the vault's (its local author), not the chain's
    assert w.decide(A1, "read", record)["reason"] == "no_consent"
    assert w.decide(A2, "read", record)["reason"] == "no_consent"


def test_organization_and_role_grantees() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    w.grant(P, {"kind": "organization", "id": HOSPITAL_A.did})
    assert w.decide(A2, "read", record)["permit"]  # staff of the consented organization
    assert not w.decide(RR, "read", record)["permit"]
    w.grant(P, {"kind": "role", "id": "researcher"}, purposes=("HRESCH",),
            scope={"records": [record]})
    assert w.decide(RR, "read", record, "HRESCH")["reason"] == "consent"
    assert w.decide(RR, "read", record, "TREAT")["reason"] == "purpose_not_permitted"


def test_role_grant_limited_to_an_organization() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    w.grant(P, {"kind": "role", "id": "physician", "organization": HOSPITAL_B.did})
    assert w.decide(B1, "read", record)["permit"]
    assert w.decide(A1, "read", record)["reason"] == "no_consent"


def test_consent_not_yet_started_and_the_furthest_reason_wins() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    w.grant(P, practitioner(A1), start_ms=w.now + 10 * DAY_MS, end_ms=w.now + 20 * DAY_MS)
    assert w.decide(A1, "read", record)["reason"] == "consent_not_started"
    w.grant(P, practitioner(A1), purposes=("HPAYMT",))  # gets further: period ok
    assert w.decide(A1, "read", record)["reason"] == "purpose_not_permitted"
    w.grant(P, practitioner(A1), actions=("push",))
    assert w.decide(A1, "read", record)["reason"] == "purpose_not_permitted"


def test_revocation_is_immediate_and_a_revoked_practitioner_is_refused() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    consent = w.grant(P, practitioner(A1))
    assert w.decide(A1, "read", record)["permit"]
    w.ok(P, {"type": "consent/revoke", "consent": consent})
    assert w.decide(A1, "read", record)["reason"] == "consent_revoked"
    w.grant(P, practitioner(A1))
    assert w.decide(A1, "read", record)["permit"]
    w.ok(HOSPITAL_A, {"type": "identity/revoke", "did": A1.did,
                                "reason": "affiliation_changed"})
    assert w.decide(A1, "read", record)["reason"] == "revoked_accessor"


def test_erased_and_unknown_records() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    w.ok(P, {"type": "records/erase", "record": record, "reason": "patient_request"})
    assert w.decide(P, "read", record)["reason"] == "erased"
    assert w.decide(P, "read", "00" * 16)["reason"] == "unknown_record"


def test_decision_is_answered_as_of_a_height() -> None:
    w = World()
    record = w.record(author=HOSPITAL_B, patient=P)
    consent = w.grant(P, practitioner(A1))
    granted_at = w.chain.app.store.version()
    w.ok(P, {"type": "consent/revoke", "consent": consent})
    then = w.chain.app.query("consent/decide", {"accessor": A1.did, "action": "read",
                                                "record": record, "purpose": "TREAT"},
                             height=granted_at)["value"]
    assert then["permit"] and then["height"] == granted_at
    assert not w.decide(A1, "read", record)["permit"]


@pytest.mark.parametrize("data", [
    {"accessor": A1.did, "action": "erase", "record": "00" * 16, "purpose": "TREAT"},
    {"accessor": A1.did, "action": "read", "record": "00" * 16, "purpose": "FUN"},
    {"accessor": A1.did, "action": "read", "purpose": "TREAT"},
])
def test_bad_decision_queries_have_a_clear_error(data: dict[str, str]) -> None:
    from phrchain.core.errors import TxError

    with pytest.raises(TxError) as exc:
        World().chain.app.query("consent/decide", data)
    assert (exc.value.codespace, exc.value.code) == ("query", 2)
