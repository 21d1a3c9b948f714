"""Erasures reach a vault by height (issue 13, defect 7): within one sync of the block
that erased the record, with its ciphertext and keys destroyed; a restarted vault
resumes from its saved height; a sync costs the node the same number of requests
whether the vault holds ten records or a thousand."""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

from phrchain.client.http import ApiError
from phrchain.client.vault import VaultClient
from phrchain.gateway.chain import LocalChain
from phrchain.gateway.service import Vault, VaultConfig
from phrchain.vault import crypto
from phrchain.vault.errors import VaultError
from tests.consortium import A1, HOSPITAL_A, Consortium, P, running


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("erasures")) as consortium:
        yield consortium


class Counting(LocalChain):
    """The vault's chain port, counting each request it makes of the node."""

    def __init__(self, c: Consortium) -> None:
        super().__init__(c.node)
        self.calls: Counter[str] = Counter()

    def query(self, path: str, data: Mapping[str, Any]) -> Any:
        self.calls[path] += 1
        return super().query(path, data)

    def height(self) -> int:
        self.calls["height"] += 1
        return super().height()

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        self.calls["block"] += 1
        return super().block_results(height)


def add(c: Consortium) -> str:
    return c.client(A1).records.add(b'{"resourceType":"Basic"}', P.did, resource="Basic",
                                    category="other")


def hold(vault: Vault, n: int) -> None:
    """``n`` sealed records in the vault's store (quick: no chain needed to hold them)."""
    for _ in range(n):
        rid = secrets.token_bytes(16)
        sealed = crypto.seal(rid, P.did, b"{}")
        vault.store.put(sealed.meta, sealed.chunks,
                        {HOSPITAL_A.did: crypto.wrap_key(sealed.data_key,
                                                         HOSPITAL_A.enc_key, rid,
                                                         HOSPITAL_A.did)})


def test_an_erasure_reaches_the_vault_within_one_sync(c: Consortium) -> None:
    """Blob and keys destroyed by the first sync after the erasing block; a custody
    upload of the same bytes afterwards is refused (410 vault/27), nothing stored."""
    vault = c.vaults[HOSPITAL_A.did]
    record = add(c)
    vault.sync_erasures()
    rid = bytes.fromhex(record)
    assert rid in vault.store.record_ids()
    meta, chunks, sealed, msg = c.held(HOSPITAL_A, record)
    keys = {HOSPITAL_A.did: vault.store.get_wrapped_key(rid, HOSPITAL_A.did)}
    c.client(P).records.erase(record)
    assert vault.sync_erasures() == [record]
    assert rid not in vault.store.record_ids()
    for read in (lambda: vault.store.get_meta(rid),
                 lambda: vault.store.get_wrapped_key(rid, HOSPITAL_A.did)):
        with pytest.raises(VaultError):
            read()
    with VaultClient(c.directory[HOSPITAL_A.did], HOSPITAL_A.did, A1) as client, \
            pytest.raises(ApiError) as refused:
        client.upload(meta, keys, chunks, sealed, msg)
    assert (refused.value.status, refused.value.code) == (410, 27)
    assert rid not in vault.store.record_ids()


def test_sync_cost_does_not_grow_with_records_held(c: Consortium, tmp_path: Path) -> None:
    """Ten records or a thousand: an idle sync is one request (the height); a sync after
    new blocks is one more per block. A restart scans nothing."""
    costs = []
    for n in (10, 1000):
        chain = Counting(c)
        vault = Vault(VaultConfig(tmp_path / f"v{n}"), chain, HOSPITAL_A.signing_key,
                      HOSPITAL_A.encryption_key)
        try:
            hold(vault, n)
            vault.sync_erasures()  # the first ever: checks each record once
            assert chain.calls["records/get"] == n
            chain.calls.clear()
            vault.sync_erasures()
            costs.append(sum(chain.calls.values()))
        finally:
            vault.close()
    assert costs == [1, 1]
    record = add(c)
    c.client(P).records.erase(record)
    chain = Counting(c)
    restarted = Vault(VaultConfig(tmp_path / "v1000"), chain, HOSPITAL_A.signing_key,
                      HOSPITAL_A.encryption_key)
    try:
        assert restarted.sync_erasures() == []  # not held here
        assert chain.calls["records/get"] == 0 and chain.calls["height"] == 1
        assert chain.calls["block"] >= 2  # the register and erase blocks, each once
        chain.calls.clear()
        restarted.sync_erasures()
        assert sum(chain.calls.values()) == 1
    finally:
        restarted.close()


def test_a_vault_over_the_node_api_follows_erasures_too(c: Consortium, tmp_path: Path) -> None:
    """RemoteChain reads the same blocks through ``GET /v1/blocks/{h}``."""
    from phrchain.client.http import NodeClient
    from phrchain.gateway.chain import RemoteChain

    record = add(c)
    rid = bytes.fromhex(record)
    held = c.vaults[HOSPITAL_A.did].store
    with NodeClient(c.api_url) as node:
        vault = Vault(VaultConfig(tmp_path / "remote"), RemoteChain(node),
                      HOSPITAL_A.signing_key, HOSPITAL_A.encryption_key)
        try:
            vault.store.put(held.get_meta(rid), list(held.iter_chunks(rid)),
                            {HOSPITAL_A.did: held.get_wrapped_key(rid, HOSPITAL_A.did)})
            assert vault.sync_erasures() == []
            c.client(P).records.erase(record)
            assert vault.sync_erasures() == [record]
            assert rid not in vault.store.record_ids()
        finally:
            vault.close()
