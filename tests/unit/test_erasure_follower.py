"""The vault follows erasures by height (``gateway/erasures.py``, issue 13 defect 7),
against a chain double that counts every request: an idle pass costs one request
whatever the vault holds, each new block one more, a restart resumes from the
journaled height, and a node whose API serves no blocks gets a scan now and then."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phrchain.gateway.chain import NoBlocks
from phrchain.gateway.erasures import MAX_BLOCKS_PER_PASS, PROGRESS, ErasureFollower, erased_in
from phrchain.gateway.journal import Journal


def erased(record: str, ok: bool = True) -> dict[str, Any]:
    return {"code": 0 if ok else 5, "codespace": "" if ok else "records", "events": [
        {"type": "records.erased", "attributes": [["record", record], ["patient", "did:p"],
                                                  ["holders", "did:a"], ["reason", "x"]]}]}


class Chain:
    """Blocks of tx results; counts the requests a follower makes."""

    def __init__(self, serves_blocks: bool = True) -> None:
        self.blocks: list[list[dict[str, Any]]] = []
        self.serves_blocks = serves_blocks
        self.requests = 0

    def height(self) -> int:
        self.requests += 1
        return len(self.blocks)

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        self.requests += 1
        if not self.serves_blocks:
            raise NoBlocks("404 api/2")
        return None if height > len(self.blocks) else self.blocks[height - 1]


class Vault:
    """What the follower needs of a vault: the records held, shred, the slow scan."""

    def __init__(self, held: set[str], chain: Chain) -> None:
        self.held, self.chain, self.scans = held, chain, 0
        self.erased_on_chain: set[str] = set()

    def shred(self, record: str) -> bool:
        if record not in self.held:
            return False
        self.held.remove(record)
        return True

    def scan(self) -> list[str]:
        self.scans += 1
        self.chain.requests += len(self.held)  # one records/get per record held
        found = sorted(self.held & self.erased_on_chain)
        self.held -= set(found)
        return found


def follower(tmp: Path, chain: Chain, vault: Vault, clock: list[float] | None = None
             ) -> ErasureFollower:
    now = clock or [0.0]
    return ErasureFollower(chain, Journal(tmp), vault.shred, vault.scan,  # type: ignore[arg-type]
                           rescan_interval_s=600, clock=lambda: now[0])


def test_erased_in_reads_only_successful_erasures() -> None:
    results = [erased("a" * 32), erased("b" * 32, ok=False),
               {"code": 0, "events": [{"type": "records.registered",
                                       "attributes": [["record", "c" * 32]]}]}]
    assert list(erased_in(results)) == ["a" * 32]


def test_an_idle_pass_costs_one_request_whatever_the_vault_holds(tmp_path: Path) -> None:
    costs = []
    for held in (10, 5000):
        chain = Chain()
        chain.blocks = [[] for _ in range(7)]
        vault = Vault({f"{i:032x}" for i in range(held)}, chain)
        f = follower(tmp_path / str(held), chain, vault)
        f.sync()  # first pass: no saved height, one scan
        assert vault.scans == 1
        chain.requests = 0
        for _ in range(5):
            assert f.sync() == []
        costs.append(chain.requests)
    assert costs == [5, 5]  # one height request per pass, held 10 or 5000


def test_an_erasure_reaches_the_vault_in_one_pass(tmp_path: Path) -> None:
    chain = Chain()
    vault = Vault({"a" * 32, "b" * 32}, chain)
    f = follower(tmp_path, chain, vault)
    f.sync()
    chain.blocks += [[erased("a" * 32)], [], [erased("f" * 32)]]  # f: not held here
    chain.requests = 0
    assert f.sync() == ["a" * 32]
    assert vault.held == {"b" * 32}
    assert chain.requests == 1 + 3  # the height, then each new block once
    assert f.journal.progress(PROGRESS) == 3
    # every erased id is remembered, held or not: a late upload of one is refused
    assert f.journal.erased_among(["a" * 32, "b" * 32, "f" * 32]) == ["a" * 32, "f" * 32]


def test_a_restart_resumes_from_the_saved_height(tmp_path: Path) -> None:
    chain = Chain()
    chain.blocks = [[] for _ in range(40)]
    vault = Vault({"a" * 32, "b" * 32}, chain)
    first = follower(tmp_path, chain, vault)
    first.sync()
    first.journal.close()
    chain.blocks += [[], [erased("b" * 32)]]
    chain.requests = 0
    again = follower(tmp_path, chain, vault)  # the same journal: a restarted vault
    assert again.sync() == ["b" * 32]
    assert vault.scans == 1 and chain.requests == 1 + 2  # no scan, only the two new blocks
    assert again.journal.progress(PROGRESS) == 42


def test_a_long_gap_is_read_in_bounded_passes(tmp_path: Path) -> None:
    chain = Chain()
    vault = Vault({"a" * 32}, chain)
    f = follower(tmp_path, chain, vault)
    f.sync()
    chain.blocks = [[] for _ in range(MAX_BLOCKS_PER_PASS + 10)]
    chain.blocks[-1] = [erased("a" * 32)]
    assert f.sync() == []
    assert f.journal.progress(PROGRESS) == MAX_BLOCKS_PER_PASS
    assert f.sync() == ["a" * 32]


def test_a_node_behind_the_saved_height_is_a_new_chain(tmp_path: Path) -> None:
    chain = Chain()
    chain.blocks = [[] for _ in range(9)]
    vault = Vault({"a" * 32}, chain)
    f = follower(tmp_path, chain, vault)
    f.sync()
    chain.blocks = chain.blocks[:2]
    vault.erased_on_chain = {"a" * 32}
    assert f.sync() == ["a" * 32] and vault.scans == 2
    assert f.journal.progress(PROGRESS) == 2


def test_an_api_without_blocks_falls_back_to_a_scan_now_and_then(tmp_path: Path) -> None:
    chain = Chain(serves_blocks=False)
    chain.blocks = [[] for _ in range(3)]
    vault = Vault({"a" * 32}, chain)
    clock = [0.0]
    f = follower(tmp_path, chain, vault, clock)
    f.sync()
    vault.erased_on_chain = {"a" * 32}
    chain.blocks.append([erased("a" * 32)])
    chain.requests = 0
    assert f.sync() == [] and chain.requests == 1  # within the interval: no scan
    clock[0] = 601.0
    assert f.sync() == ["a" * 32] and vault.scans == 2
