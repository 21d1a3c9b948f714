"""The crash campaign's quick version: ``kill -9`` of the node, of its state-writer child
and of a vault at a few random moments under load (tests/crash_harness.py). Nothing
acknowledged may be lost, and ``phrchain verify`` must pass. ``bench/crash_campaign.py``
runs twenty or more kill points per target and prints the figures."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from tests.crash_harness import node_campaign, vault_campaign

POINTS = 3


@pytest.mark.slow
@pytest.mark.parametrize("target", ["node", "writer"])
def test_kill_9_of_the_node_or_its_state_writer_loses_no_committed_tx(
        tmp_path: Path, target: str) -> None:
    outcome = node_campaign(tmp_path, POINTS, target, random.Random(f"crash-{target}"))
    assert outcome.kill_points == POINTS
    assert outcome.checked >= 30, "the load was too light to mean anything"
    assert outcome.lost == 0, outcome.row()
    assert outcome.verify_ok, outcome.row()


@pytest.mark.slow
def test_kill_9_of_a_vault_loses_no_record_and_no_audit_entry(tmp_path: Path) -> None:
    outcome = vault_campaign(tmp_path, POINTS, random.Random("crash-vault"))
    assert outcome.kill_points == POINTS
    assert outcome.detail["records_acked"] >= 3 and outcome.detail["reads_answered"] >= 3, \
        outcome.row()
    assert outcome.lost == 0 and outcome.detail["outbox_left"] == 0, outcome.row()
    assert outcome.verify_ok, outcome.row()
