"""A vault over a remote node passes on the node's refusal of a question as the caller's
error, and says "chain unavailable" only when the node cannot answer (issue: an invalid
purpose answered 503 chain_unavailable, "try again")."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from phrchain.api.server import BackgroundServer
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.vault import VaultClient
from phrchain.gateway.chain import RemoteChain
from phrchain.gateway.http import create_vault_app
from phrchain.gateway.service import Vault, VaultConfig
from tests.consortium import A1, HOSPITAL_A, Consortium, P, running


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("chain-errors")) as consortium:
        yield consortium


def _remote_vault(c: Consortium, node_url: str) -> Vault:
    return Vault(VaultConfig(c.vaults[HOSPITAL_A.did].config.directory,
                             sync_interval_s=3600),
                 RemoteChain(NodeClient(node_url)), HOSPITAL_A.signing_key,
                 HOSPITAL_A.encryption_key)


def test_a_question_the_node_refuses_is_a_client_error(c: Consortium) -> None:
    record = c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                      category="other")
    c.flush()
    c.vaults[HOSPITAL_A.did].close()  # one process per vault directory
    vault = _remote_vault(c, c.api_url)
    try:
        with BackgroundServer(create_vault_app(vault)) as url, \
                VaultClient(url, HOSPITAL_A.did, A1) as client:
            with pytest.raises(ApiError) as refused:
                client.access(record, "read", "XYZ")
            assert refused.value.status == 400
            assert (refused.value.codespace, refused.value.code) == ("query", 2)
            assert client.access(record, "read", "TREAT") is not None
    finally:
        vault.close()


def test_an_unreachable_node_is_chain_unavailable(c: Consortium, tmp_path: Path) -> None:
    vault = Vault(VaultConfig(tmp_path / "lonely", sync_interval_s=3600),
                  RemoteChain(NodeClient("http://127.0.0.1:9")), HOSPITAL_A.signing_key,
                  HOSPITAL_A.encryption_key)
    try:
        with BackgroundServer(create_vault_app(vault)) as url, \
                VaultClient(url, HOSPITAL_A.did, A1) as client:
            with pytest.raises(ApiError) as refused:
                client.access("00" * 16, "read", "TREAT")
            assert (refused.value.status, refused.value.codespace,
                    refused.value.code) == (503, "vault", 35)
    finally:
        vault.close()
