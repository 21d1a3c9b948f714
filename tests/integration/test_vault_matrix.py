"""The access matrix through the vault: every accessor by action by consent state.

For each combination the vault's answer must match the chain's decision
(tests/unit/test_consent_decide.py has the expected table), a deny must release no
ciphertext and no key, a permit must release exactly the caller's own wrapped key, and
every decision about a registered caller must appear in the patient's audit log with a
valid inclusion proof. An unregistered caller's refusals are audited once per record
(its first); the others are counted for the patient (``gateway/attempts.py``).
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.breakglass import commit
from phrchain.client.http import ApiError
from phrchain.client.vault import VaultClient
from phrchain.core import rfc9162
from phrchain.vault import crypto
from tests.consortium import (
    A1,
    A2,
    AE,
    B1,
    HOSPITAL_B,
    IR,
    RR,
    STRANGER,
    Consortium,
    P,
    Q,
    running,
)
from tests.unit.test_consent_decide import ACCESSORS, ACTIONS, STATES, expected

WALLETS = {"patient": P, "consented": A1, "same_org": A2, "other_org": B1,
           "emergency": AE, "insurer": IR, "researcher": RR, "unregistered": STRANGER}
DAY = 86_400_000
ALL = ["pull", "push", "read"]


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Consortium]:
    """A fresh consortium per consent state: decisions weigh all of a patient's
    consents, so states must not share a chain."""
    with running(tmp_path) as consortium:
        yield consortium


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def setup_state(c: Consortium, state: str) -> str:
    """A record of P kept by hospital B, and A1's consent in ``state`` scoped to it; the
    patient shares the key when the consent is active (as a wallet would)."""
    record = c.client(HOSPITAL_B).records.add(b'{"resourceType":"Basic"}', P.did,
                                              resource="Observation", category="laboratory")
    p = c.client(P)
    grantee = {"kind": "practitioner", "id": A1.did}
    scope: dict[str, Any] = {"records": [record]}
    kw: dict[str, Any] = {"actions": ALL, "purposes": ["TREAT"], "start_ms": now_ms() - 1000,
                          "end_ms": now_ms() + DAY, "scope": scope}
    if state == "active":
        p.consent.grant(grantee, **kw)
    elif state == "expired":
        p.consent.grant(grantee, **{**kw, "end_ms": now_ms() + 300}, share_existing=False)
        time.sleep(0.4)
        tick(c)  # a block after the end: the chain's time has passed it
    elif state == "revoked":
        p.consent.revoke(p.consent.grant(grantee, **kw))
    elif state == "wrong_purpose":
        p.consent.grant(grantee, **{**kw, "purposes": ["HRESCH"]}, share_existing=False)
    elif state == "wrong_scope":
        other = c.client(HOSPITAL_B).records.add(b'{"resourceType":"Basic"}', P.did,
                                                 resource="Immunization",
                                                 category="immunization")
        p.consent.grant(grantee, **{**kw, "scope": {"records": [other]}},
                        share_existing=False)
    elif state == "other_patient":
        c.client(Q).consent.grant(grantee, **{**kw, "scope": {"all": True}}, share_existing=False)
    return record


def tick(c: Consortium) -> None:
    """Commit one more block (any valid tx of patient Q)."""
    c.client(Q).session.send([{"type": "consent/grant", "consent": secrets.token_hex(16),
                               "grantee": {"kind": "role", "id": "nurse"}, "actions": ["read"],
                               "scope": {"records": ["00" * 16]}, "purposes": ["TREAT"],
                               "period": {"start_ms": 0, "end_ms": now_ms() + DAY}}])


@pytest.mark.parametrize("state", STATES)
def test_vault_access_matrix(c: Consortium, state: str) -> None:
    record = setup_state(c, state)
    vault_url = c.directory[HOSPITAL_B.did]
    asked: list[tuple[str, str, str, bool, str]] = []
    for who in ACCESSORS:
        wallet = WALLETS[who]
        client = VaultClient(vault_url, HOSPITAL_B.did, wallet)
        for action in ACTIONS:
            if action == "push":
                continue  # a push is a chain message, checked below
            purpose = "ETREAT" if action == "break_glass" else "TREAT"
            justification = commit("matrix emergency, no time to ask")[1] \
                if action == "break_glass" else None
            want_permit, want_reason = expected(who, action, state)
            try:
                answer = client.access(record, action, purpose, justification)
            except ApiError as exc:
                assert not want_permit or exc.code == 31, (who, action, state, exc)
                assert want_reason in exc.message or exc.code == 31, (who, action, exc)
                asked.append((who, action, client.last_request, False, want_reason))
                continue
            assert want_permit, (who, action, state)
            assert answer["decision"]["reason"] == want_reason
            key = crypto.unwrap_key(bytes.fromhex(answer["wrapped_key"]),
                                    wallet.encryption_key, bytes.fromhex(record), wallet.did)
            assert len(key) == 32 and answer["parts"]
            asked.append((who, action, client.last_request, True, want_reason))
        client.close()
    # push: hospital B (the custodian) pushes to each provider; the chain decides
    for who in ("consented", "same_org", "other_org", "insurer", "researcher"):
        want_permit, _ = expected(who, "push", state)
        try:
            c.client(HOSPITAL_B).exchange.push(record, WALLETS[who].did)
            pushed = True
        except ApiError as exc:
            assert (exc.codespace, exc.code) == ("exchange", 6)
            pushed = False
        assert pushed == want_permit, (who, state)
    c.flush()
    log = {e["request"]: e for e in c.client(P).audit.log(P.did) if e["record"] == record}
    strangers = [a for a in asked if a[0] == "unregistered"]
    assert strangers and strangers[0][2] in log  # its first refusal on the record
    assert not {a[2] for a in strangers[1:]} & set(log)  # the rest are counted instead
    counted = c.vaults[HOSPITAL_B.did].attempts.of(record)
    assert counted["repeated"]["count"] == len(strangers) - 1
    for who, action, req_hash, _permitted, reason in asked:
        if who == "unregistered" and req_hash != strangers[0][2]:
            continue
        entry = log[req_hash]
        assert entry["accessor"] == WALLETS[who].did and entry["action"] == action
        assert (entry["decision"] == "permit") == (expected(who, action, state)[0])
        assert entry["reason"] == reason and entry["verified"]
    head = c.query("audit/head", patient=P.did)
    assert head["size"] >= len(asked)
    assert bytes.fromhex(head["root"]) != rfc9162.EMPTY_ROOT
