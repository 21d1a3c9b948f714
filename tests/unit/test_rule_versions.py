"""Upgrades as versioned rules (py-evm's fork classes): a scheduled upgrade at height H
runs blocks >= H with the new version's handlers, blocks < H with the old; a fresh node
replaying the chain from genesis reproduces every app hash; a node whose code lacks the
version stops at H and refuses txs for it, never executing them with the old rules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from phrchain.app import Application, BlockInfo, UpgradeRequired, default_modules
from phrchain.core.module import Context, Handler, StaticModule
from phrchain.core.store import MemoryStateStore
from phrchain.core.tx import Msg
from phrchain.modules.governance.actions import ScheduleUpgrade
from phrchain.modules.governance.errors import INVALID_FIELD
from phrchain.modules.governance.messages import Propose, Vote
from tests.helpers import Chain
from tests.unit.test_governance import A0, A1, A2, PERIOD, council_genesis

# The probe borrows a registered code: registering a test codespace would leak into the
# process-wide registry that the error table is generated from.
PROBE_REFUSED = INVALID_FIELD


def _note_v1(ctx: Context, msg: Msg) -> None:
    ctx.state.set(b"probe/" + msg["name"].encode(), b"v1")


def _note_v2(ctx: Context, msg: Msg) -> None:
    # The "new rule": names must be short, and the stored mark says which rule ran.
    if len(msg["name"]) > 3:
        raise PROBE_REFUSED("names are at most 3 characters from rule version 2")
    ctx.state.set(b"probe/" + msg["name"].encode(), b"v2")


class ProbeModule(StaticModule):
    """A module whose ``probe/note`` changes at rule version 2."""

    name = "probe"
    HANDLERS: Mapping[str, Handler] = {"probe/note": _note_v1}

    def rule_changes(self) -> Mapping[int, Mapping[str, Handler]]:
        return {2: {"probe/note": _note_v2}}


def app_with_probe() -> Application:
    modules, auth = default_modules()
    app = Application(MemoryStateStore(), [*modules, ProbeModule()], auth)
    app.init_chain(council_genesis())
    return app


def app_without_probe_v2() -> Application:
    """The same chain on a node whose code stops at rule version 1."""
    modules, auth = default_modules()

    class OldProbe(StaticModule):
        name = "probe"
        HANDLERS: Mapping[str, Handler] = {"probe/note": _note_v1}

    app = Application(MemoryStateStore(), [*modules, OldProbe()], auth)
    app.init_chain(council_genesis())
    return app


def note(name: str) -> dict[str, Any]:
    return {"type": "probe/note", "name": name}


def test_the_rule_tables_are_cumulative_and_keep_old_versions() -> None:
    app = app_with_probe()
    assert app.latest_rules_version == 2
    assert app._rules[1]["probe/note"] is _note_v1
    assert app._rules[2]["probe/note"] is _note_v2
    assert app._rules[2]["identity/revoke"] is app._rules[1]["identity/revoke"]


def test_an_upgrade_switches_rules_at_its_height_and_replays_identically() -> None:
    chain = Chain(app_with_probe())
    upgrade_at = PERIOD + 8
    blocks: list[tuple[BlockInfo, list[bytes], Any]] = []

    def block(*txs: bytes) -> Any:
        result = chain.block(list(txs))
        blocks.append((BlockInfo(result.height, chain.time_ms), list(txs), result))
        return result

    block(chain.tx(A0, Propose(ScheduleUpgrade(2, upgrade_at, "probe-v2")).to_msg()))
    block(chain.tx(A1, Vote(1, "yes").to_msg()))
    executed = block(chain.tx(A2, Vote(1, "yes").to_msg()))
    assert "governance.executed" in [e.type for e in executed.events]
    marks: dict[int, bytes | None] = {}
    while chain.app.store.version() < upgrade_at + 2:
        height = chain.app.store.version() + 1
        result = block(chain.tx(A0, note(f"n{height}")), chain.tx(A1, note("long-name")))
        if not result.tx_results[1].ok:
            chain.nonces[A1.did] -= 1  # a refused tx uses no nonce
        marks[height] = chain.app.store.get(f"probe/n{height}".encode())
        codes = [r.code for r in result.tx_results]
        assert result.rules_version == (2 if height >= upgrade_at else 1)
        assert codes == ([0, 2] if height >= upgrade_at else [0, 0]), height
        if height == upgrade_at:
            assert "governance.upgraded" in [e.type for e in result.events]
    assert marks[upgrade_at - 1] == b"v1" and marks[upgrade_at] == b"v2"
    assert chain.app.store.get(b"probe/long-name") == b"v1"  # written before H only

    # a fresh node replays every block from genesis to the same app hashes
    fresh = app_with_probe()
    for info, txs, original in blocks:
        replayed = fresh.finalize_block(info, txs)
        fresh.commit()
        assert replayed.app_hash == original.app_hash == chain.app.store.root(info.height)
        assert replayed.results_root == original.results_root, info.height
        assert (replayed.events, replayed.rules_version) \
            == (original.events, original.rules_version)


def test_a_node_without_the_version_stops_at_the_upgrade_height() -> None:
    chain = Chain(app_without_probe_v2())
    upgrade_at = PERIOD + 5
    chain.run(A0, Propose(ScheduleUpgrade(2, upgrade_at, "probe-v2")).to_msg())
    chain.run(A1, Vote(1, "yes").to_msg())
    chain.run(A2, Vote(1, "yes").to_msg())
    while chain.app.store.version() < upgrade_at - 2:
        chain.block([])
    # the mempool refuses txs for the block at H
    assert chain.run(A0, note("ok")).ok  # block H-1 runs version 1
    checked = chain.app.check_tx(chain.tx(A0, note("abc")))
    assert (checked.codespace, checked.code) == ("tx", 21)
    with pytest.raises(UpgradeRequired, match="rule version 2"):
        chain.app.finalize_block(BlockInfo(upgrade_at, chain.time_ms + 1000), [])
    assert chain.app.store.version() == upgrade_at - 1  # nothing executed at H
