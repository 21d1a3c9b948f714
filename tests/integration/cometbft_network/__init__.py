"""A real 4-validator CometBFT v0.38 network serving the phrchain application over ABCI.

One network (the package fixture ``net`` of ``conftest.py``) runs the tests of this
package in file order (pytest collects the files by name): ``test_1_consensus`` commits
through different validators, sends invalid txs, has a proposer include an invalid tx and
SIGKILLs a validator under load; ``test_2_proofs`` runs the light client, its fork
detector and the audit log reader against live nodes; ``test_3_events_and_claims``
subscribes to events and adjudicates a claim; and last, ``test_4_replay`` replays every
block through the solo engine's application. Every wait is bounded; the fixture stops
every process it started, also when a test fails.

Needs the CometBFT binary (``scripts/test.sh`` builds it via ``scripts/cometbft.sh``);
without it these tests are skipped.
"""
