"""The vault's decision index answers exactly what the node's ``consent/decide`` query
answers at the same height, over a randomized history of grants, revocations, expiries,
new records, erasures and role changes (issue 20)."""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any

from phrchain.app import BlockResult
from phrchain.client import builder
from phrchain.core import keys
from phrchain.gateway.chain import NoBlocks
from phrchain.gateway.decisions import DecisionIndex
from tests.world import (
    A1,
    A2,
    AE,
    B1,
    HOSPITAL_A,
    HOSPITAL_B,
    IR,
    RR,
    STRANGER,
    P,
    Q,
    World,
    new_id,
    organization,
    practitioner,
)

ACCESSORS = (P, Q, A1, A2, AE, B1, IR, RR, STRANGER, HOSPITAL_A, HOSPITAL_B)
ACTIONS = ("read", "view", "pull", "push", "break_glass")
PURPOSES = ("TREAT", "ETREAT", "HRESCH")
GRANTEES = (practitioner(A1), practitioner(A2), practitioner(B1), organization(HOSPITAL_A),
            organization(HOSPITAL_B), {"kind": "role", "id": "physician"},
            {"kind": "role", "id": "researcher", "organization": HOSPITAL_A.did})


class HarnessChain:
    """The ChainPort the index follows, over the in-process chain harness (a test
    double of LocalChain: heights and each committed block's tx results)."""

    def __init__(self, world: World, serve_blocks: bool = True) -> None:
        self.world, self.serve_blocks = world, serve_blocks
        self.results: dict[int, list[dict[str, Any]]] = {}
        self.asked: list[str] = []
        chain, block = world.chain, world.chain.block

        def recording(txs: Sequence[bytes]) -> BlockResult:
            result = block(txs)
            self.results[result.height] = [r.to_json() for r in result.tx_results]
            return result

        chain.block = recording  # type: ignore[method-assign]

    def ask(self, path: str, data: Mapping[str, Any]) -> Any:
        self.asked.append(path)
        return self.world.chain.app.query(path, dict(data))["value"]

    def at(self, height: int, path: str, **data: Any) -> Any:
        return self.world.chain.app.query(path, data, height)["value"]

    def height(self) -> int:
        return self.world.chain.app.store.version()

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        if not self.serve_blocks:
            raise NoBlocks("not served")
        return self.results.get(height)


class History:
    """Random steps on a World; each step is one block."""

    def __init__(self, world: World, rng: random.Random) -> None:
        self.w, self.rng = world, rng
        self.records = [world.record(author=A1, patient=P), world.record(author=B1, patient=Q)]
        self.consents: list[tuple[keys.SigningKey, str]] = []

    def step(self) -> None:
        w, rng = self.w, self.rng
        kind = rng.choices(["grant", "revoke", "record", "wait", "roles", "erase", "mixed"],
                           [30, 15, 8, 25, 5, 2, 15])[0]
        if kind == "grant" or (kind == "revoke" and not self.consents):
            self.grant()
        elif kind == "revoke":
            patient, consent = self.consents.pop(rng.randrange(len(self.consents)))
            w.ok(patient, {"type": "consent/revoke", "consent": consent})
        elif kind == "record":
            self.records.append(w.record(author=rng.choice([A1, B1, HOSPITAL_A]),
                                         patient=rng.choice([P, Q])))
        elif kind == "wait":
            w.chain.block([])  # a second passes: consents start and end
        elif kind == "roles":
            roles = rng.choice([("physician",), ("emergency", "physician"), ("researcher",)])
            w.ok(HOSPITAL_A, builder.set_roles(A2.did, roles))
        elif kind == "erase" and len(self.records) > 4:
            record = self.records.pop(rng.randrange(len(self.records)))
            patient = P if w.query("records/get", record=record)["patient"] == P.did else Q
            w.ok(patient, {"type": "records/erase", "record": record,
                           "reason": "patient_request"})
        else:  # several txs in one block: a grant and a revocation of the same patient
            self.grant(commit=False)

    def grant(self, commit: bool = True) -> None:
        w, rng = self.w, self.rng
        patient = rng.choice([P, Q])
        start = w.now + rng.randrange(-3000, 4000)
        scope = {"all": True} if rng.random() < 0.7 else \
            {"records": sorted(rng.sample(self.records, min(2, len(self.records))))}
        consent = new_id()
        msg = w.grant_msg(consent, rng.choice(GRANTEES),
                          actions=tuple(rng.sample(["read", "pull", "push"], rng.randint(1, 3))),
                          scope=scope, purposes=tuple(rng.sample(PURPOSES[:1] + PURPOSES[2:],
                                                                 rng.randint(1, 2))),
                          start_ms=start,
                          end_ms=max(start, w.now + 1000) + rng.randrange(1, 9000))
        txs = [w.chain.tx(patient, msg)]
        if not commit and self.consents:
            other, old = self.consents.pop(rng.randrange(len(self.consents)))
            txs.append(w.chain.tx(other, {"type": "consent/revoke", "consent": old}))
        results = w.chain.block(txs).tx_results
        assert all(r.ok for r in results), [r.log for r in results]
        self.consents.append((patient, consent))


def test_index_equals_the_chain_query_over_a_random_history() -> None:
    rng = random.Random(2020)
    world = World()
    port = HarnessChain(world)
    index = DecisionIndex(port.ask, port)  # type: ignore[arg-type]
    history = History(world, rng)
    history.records += [world.record(author=A1, patient=P), world.record(author=B1, patient=Q)]
    unknown = new_id()

    def question(records: list[str]) -> tuple[str, str, str, str]:
        return (rng.choice(ACCESSORS).did, rng.choice(ACTIONS), rng.choice(records),
                rng.choice(PURPOSES))

    # Standing questions, asked again after every block (answers kept across blocks,
    # through expiries), and fresh ones.
    standing = [question([*history.records, unknown]) for _ in range(24)]
    cases = 0
    for _ in range(160):
        history.step()
        fresh = [question([*history.records, unknown]) for _ in range(2)]
        for accessor, action, record, purpose in rng.sample(standing, 5) + fresh * 2:
            got = index.decide(accessor, action, record, purpose)
            assert index.height == port.height()
            expected = port.at(index.height, "consent/decide", accessor=accessor,
                               action=action, record=record, purpose=purpose)
            assert got == expected, (accessor, action, record, purpose, index.height)
            assert index.record(record) == port.at(index.height, "records/get", record=record)
            cases += 1
        who = rng.choice(ACCESSORS).did
        assert index.identity(who) == port.at(index.height, "identity/did", did=who)
    assert cases >= 1000
    # The index must actually serve: most repeated questions come from it, not the node.
    assert index.hits > cases // 3, (index.hits, index.misses)
    assert index.enabled


def test_audit_only_blocks_keep_every_answer() -> None:
    world = World()
    port = HarnessChain(world)
    index = DecisionIndex(port.ask, port)  # type: ignore[arg-type]
    record = world.record(author=A1, patient=P)
    consent = world.grant(P, practitioner(B1))
    assert index.decide(B1.did, "read", record, "TREAT")["consent"] == consent
    asked = len(port.asked)
    # Blocks whose txs are audit-only, failed, or empty change nothing decided: no query.
    world.chain.block([])
    port.results[port.height()] = [
        {"code": 0, "events": [{"type": "message", "attributes": [["action", "audit/append"]]}]},
        {"code": 5, "events": []}]
    again = index.decide(B1.did, "read", record, "TREAT")
    assert again["height"] == port.height() and again["permit"]
    assert port.asked[asked:] == ["consent/decide"]  # the probe for the new height's time
    # The patient revokes: the next answer is the node's new one.
    world.ok(P, {"type": "consent/revoke", "consent": consent})
    assert index.decide(B1.did, "read", record, "TREAT")["reason"] == "consent_revoked"


def test_a_node_without_block_results_is_asked_every_time() -> None:
    world = World()
    port = HarnessChain(world, serve_blocks=False)
    index = DecisionIndex(port.ask, port)  # type: ignore[arg-type]
    record = world.record(author=A1, patient=P)
    world.chain.block([])
    for _ in range(3):
        assert index.decide(P.did, "read", record, "TREAT")["reason"] == "owner"
        world.chain.block([])
    assert not index.enabled and index.hits == 0
    assert port.asked.count("consent/decide") >= 3


class GatedChain:
    """A node whose height question waits at a gate (the first time): calls to
    ``follow`` pile up behind a probe in flight."""

    def __init__(self) -> None:
        self.gate, self.entered = threading.Event(), threading.Event()
        self.heights = 0

    def height(self) -> int:
        self.heights += 1
        self.entered.set()
        assert self.gate.wait(10)
        return 5

    def ask(self, path: str, data: Mapping[str, Any]) -> Any:
        return {"height": 5, "time_ms": 0}

    def block_results(self, height: int) -> list[dict[str, Any]] | None:
        return []


def test_concurrent_follows_share_only_probes_begun_after_they_were_called() -> None:
    port = GatedChain()
    index = DecisionIndex(port.ask, port)  # type: ignore[arg-type]
    first = threading.Thread(target=index.follow)
    first.start()
    assert port.entered.wait(10)
    # Called while the first probe is in flight: it began before them, so it answers
    # neither; the next probe, begun after both were called, answers both.
    waiting = [threading.Thread(target=index.follow) for _ in range(2)]
    for t in waiting:
        t.start()
    time.sleep(0.3)
    port.gate.set()
    for t in (first, *waiting):
        t.join(10)
    assert port.heights == 2 and index.height == 5
    index.follow()  # a later call is never answered by an earlier probe
    assert port.heights == 3


def test_one_requests_later_questions_share_its_first_probe() -> None:
    port = GatedChain()
    port.gate.set()
    index = DecisionIndex(port.ask, port)  # type: ignore[arg-type]
    arrived = time.monotonic()
    index.record("ab" * 16)  # the request's first question: probed (twice on a miss)
    probes = port.heights
    assert probes >= 1
    index.record("ab" * 16, since=arrived)  # a later question of the same request
    assert port.heights == probes
    index.record("ab" * 16)  # a new request: the node is asked its height again
    assert port.heights == probes + 1
