"""A vault killed right after releasing a record loses no audit entry: the decision was
journaled (fsync) before release, and the next start flushes it to the chain."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.client.http import NodeClient
from phrchain.client.vault import VaultClient
from phrchain.gateway.chain import RemoteChain
from phrchain.gateway.service import Vault, VaultConfig
from tests.consortium import HOSPITAL_A, Consortium, P, running

ROOT = Path(__file__).resolve().parents[2]

_VAULT = textwrap.dedent("""
    import sys, time
    from phrchain.api.server import BackgroundServer
    from phrchain.client.http import NodeClient
    from phrchain.gateway.chain import RemoteChain
    from phrchain.gateway.http import create_vault_app
    from phrchain.gateway.service import Vault, VaultConfig
    from tests.consortium import HOSPITAL_A
    from pathlib import Path
    vault = Vault(VaultConfig(Path(sys.argv[1]), flush_interval_s=3600),
                  RemoteChain(NodeClient(sys.argv[2])), HOSPITAL_A.signing_key,
                  HOSPITAL_A.encryption_key)
    with BackgroundServer(create_vault_app(vault)) as url:  # sender never started
        print(url, flush=True)
        time.sleep(120)
""")


@pytest.fixture
def c(tmp_path: Path) -> Iterator[Consortium]:
    with running(tmp_path) as consortium:
        yield consortium


def test_journaled_decision_survives_sigkill(c: Consortium, tmp_path: Path) -> None:
    record = c.client(HOSPITAL_A).records.add(b'{"resourceType":"Basic"}', P.did,
                                              resource="Basic", category="other")
    c.flush()
    # Hand hospital A's blobs to a vault in a child process that never flushes.
    live = c.vaults[HOSPITAL_A.did]
    directory = tmp_path / "crashing-vault"
    live.sender.stop()
    live.close()
    os.rename(live.config.directory, directory)
    child = subprocess.Popen([sys.executable, "-c", _VAULT, str(directory), c.api_url],
                             stdout=subprocess.PIPE, text=True, cwd=ROOT,
                             env={**os.environ, "PYTHONPATH": f"{ROOT / 'src'}:{ROOT}"})
    try:
        assert child.stdout is not None
        url = child.stdout.readline().strip()
        with VaultClient(url, HOSPITAL_A.did, P) as client:
            answer = client.access(record, "read", "TREAT")
            request = client.last_request
        assert answer["decision"]["reason"] == "owner"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()
    head_before = c.query("audit/head", patient=P.did)["size"]
    # restarted against the node's REST API this time (RemoteChain: submit, wait, query)
    node_api = NodeClient(c.api_url)
    restarted = Vault(VaultConfig(directory, flush_interval_s=3600), RemoteChain(node_api),
                      HOSPITAL_A.signing_key, HOSPITAL_A.encryption_key)
    try:
        assert restarted.journal.backlog() == 1
        restarted.sender.flush()
        assert restarted.journal.backlog() == 0
    finally:
        restarted.close()
        node_api.close()
    deadline = time.monotonic() + 10
    while c.query("audit/head", patient=P.did)["size"] == head_before:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    entries = c.client(P).audit.log(P.did)
    assert [e["request"] for e in entries].count(request) == 1


def test_an_entry_the_chain_refuses_does_not_hold_back_the_others(c: Consortium) -> None:
    """The outbox sends up to 64 entries to a tx; one the chain refuses for good (here:
    an entry for a patient this vault holds no record of) is set aside with its code, the
    rest commit."""
    import hashlib

    from phrchain.gateway.sender import AUDIT
    from phrchain.vault import audit_seal
    from tests.consortium import STRANGER

    ours = c.client(HOSPITAL_A).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                            category="other")
    vault = c.vaults[HOSPITAL_A.did]
    vault.sender.flush()
    height = c.node.status()["height"]

    def entry(patient: str, n: int) -> dict[str, object]:
        decision = {"record": ours, "accessor": P.did, "action": "read", "purpose": "TREAT",
                    "decision": "permit", "reason": "owner", "consent": None,
                    "break_glass": False, "at": height,
                    "request": hashlib.sha256(f"{ours}{patient}{n}".encode()).hexdigest()}
        key = P.encryption_key.public_key
        return audit_seal.seal(decision, patient, {patient: key, HOSPITAL_A.did: key})

    before = c.query("audit/head", patient=P.did)["size"]
    stranger = entry(STRANGER.did, 1)
    for n, patient in enumerate([P.did, STRANGER.did, P.did]):
        body = stranger if patient == STRANGER.did else entry(patient, n)
        vault.journal.accept(f"nonce-{n}-{patient}", P.did, 0, (AUDIT, body))
    # an unsealed (v1) entry left in a journal is set aside, never sent in the clear
    plain = {"record": ours, "accessor": P.did, "request": "ab" * 32}
    vault.journal.accept("nonce-v1", P.did, 0, (AUDIT, plain))
    vault.sender.flush()
    assert vault.journal.backlog() == 0
    assert [(e.get("patient", e.get("record")), code)
            for _, e, code in vault.journal.rejected()] == \
        [(STRANGER.did, "audit/1"), (ours, "audit/2")]
    assert c.query("audit/head", patient=P.did)["size"] == before + 2
