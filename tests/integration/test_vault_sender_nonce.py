"""The vault's audit sender keeps the next nonce after a flush whose txs all committed
(no ``identity/nonce`` question per flush), and a tx signed elsewhere with the
institution's key meanwhile costs one refused replay, never an entry."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.client import builder
from phrchain.client.http import NodeClient
from phrchain.gateway.service import Vault, wall_clock_ms
from phrchain.vault.requests import Verified
from tests.consortium import A1, CHAIN, HOSPITAL_A, Consortium, P, running, wallet


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(Path(tmp_path_factory.mktemp("sender"))) as consortium:
        yield consortium


def audited_read(vault: Vault, record: str) -> None:
    """The patient's own read, decided and journaled (an audit entry in the outbox)."""
    req = Verified(P.did, secrets.token_hex(16), wall_clock_ms(),
                   hashlib.sha256(secrets.token_bytes(16)).hexdigest())
    assert vault.decide_and_audit(req, record, "read", "TREAT", P.did, A1.did)["permit"]


def sent(vault: Vault, record: str) -> None:
    """One audited read, flushed to the chain (by this call or the sender's thread)."""
    audited_read(vault, record)
    vault.sender.flush()
    assert vault.journal.backlog() == 0


def test_the_nonce_is_asked_once_and_a_foreign_tx_is_survived(
        c: Consortium, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = c.vaults[HOSPITAL_A.did]
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    c.flush()
    asked: list[str] = []
    ask = vault.sender.chain.next_nonce
    monkeypatch.setattr(vault.sender.chain, "next_nonce",
                        lambda did: asked.append(did) or ask(did))
    sent(vault, record)
    first = len(asked)
    for _ in range(3):
        sent(vault, record)
    assert len(asked) == first <= 1  # the node was not asked again
    # The institution's key signs a tx elsewhere (an admission): the kept nonce is stale.
    newcomer = wallet(41, "newcomer")
    with NodeClient(c.api_url, timeout=30) as admin:
        req = builder.join_request(newcomer, CHAIN, HOSPITAL_A.did)
        admin.send(HOSPITAL_A, [builder.admit_practitioner(req["did"], ["physician"],
                                                           req["enc_key"], req["pop"])])
    sent(vault, record)  # refused once as a replay, then sent again with a fresh nonce
    assert len(asked) == first + 1
