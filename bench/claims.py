"""Claims adjudicated and settled per second on the solo engine (issue 5).

Genesis: an authority, a hospital and an insurer organization and a validator, keys from
fixed seeds. Setup (timed as ``setup_s``, not part of the figure), through the node:
a physician is admitted, ``--claims`` patients register, enrol in one product (covered
tags for three codes, a deductible, a co-pay, limits, ``refer_above`` 0 so every claim
is decided at once), the physician registers 3 records per patient (descriptors only:
adjudication reads no vault), the hospital bills each patient once, and each patient,
funded by the authority, pays the bill; the insurer is funded for every payout.

Timed, on the solo engine (``SoloNode.submit_many`` in chunks of ``--chunk`` from
``--clients`` threads, signatures checked in the node's verifier process, counted when
their block is committed to SQLite): one ``claims/file`` per patient naming its 3
records and 2 lines (one covered, one not), signed before the clock. Each is adjudicated
``partial`` and paid insurer → patient in its own tx. Afterwards every claim is read
from state and must be ``partial`` with payment ``paid`` (else the bench fails).
``claims_per_s`` = claims / wall time. The same patients then send one
``settlement/transfer`` each, same way (``transfer_per_s``); ``ratio`` = claims/transfers.
``cpu_us_per_claim`` / ``cpu_us_per_transfer``: CPU time of the node (this process and
its verifier and state-writer processes) per tx of each run, and ``cpu_ratio`` their
quotient: what ``ratio`` measures, less moved by other load on a shared machine.

Where time goes: the node's block thread, API threads and helper processes are not
visible to one cProfile, so the stored blocks are replayed in this process on a fresh
``Application`` over a SQLite state store, with the node's steps timed apart: admission
(``check_tx``, which runs the handler once more), Ed25519 verification, execution
(``finalize_block``; of which the ``claims/file`` handler, timed by a wrapper) and the
state commit. The app hash of every replayed block must equal the node's. ``--profile``
prints cProfile's top functions of the replayed claim blocks to stderr (and then the
replay's timings include the profiler's overhead).
Last line: ``{"bench": "claims", "claims_per_s": …, "transfer_per_s": …, …}``.

    PYTHONPATH=src python bench/claims.py [--claims 2000] [--clients 4] [--profile]
"""

from __future__ import annotations

import argparse
import hmac
import io
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _solo import cpu_seconds, submit

from phrchain.app import Application, BlockInfo, new_application
from phrchain.core import keys
from phrchain.core.tx import build_tx, decode_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.modules.claims.messages import Enrol, File, Line, Publish, RecordRef
from phrchain.modules.identity import admission_bytes
from phrchain.modules.identity.messages import AdmitPractitioner, RegisterPatient
from phrchain.modules.records.messages import Register, size_bucket
from phrchain.modules.settlement.messages import Bill, Mint, PayBill, Transfer
from phrchain.storage.blocks import SqliteBlockStore
from phrchain.storage.sqlite_state import SqliteStateStore

CHAIN_ID = "phr-bench-claims"
DAY_MS = 86_400_000
EUR = "EUR"
PRODUCT_KEY = b"bench product key (off chain)"
COVERED_AMOUNT, UNCOVERED_AMOUNT = 12_000, 3_000  # one claim's lines, = its bill
DEDUCTIBLE, COPAY_BPS = 1_000, 2_000
PAYOUT = (COVERED_AMOUNT - DEDUCTIBLE) * (10_000 - COPAY_BPS) // 10_000
TRANSFER_AMOUNT = 100
RECORDS_PER_CLAIM = 3


def key(n: int) -> keys.SigningKey:
    return keys.SigningKey(n.to_bytes(32, "big"))


def enc(n: int) -> str:
    return keys.EncryptionKey((n + 1_000_000).to_bytes(32, "big")).public_key.hex()


def code_tag(code: str) -> str:
    """What the insurer's SDK puts on chain for a code (claims README, Privacy)."""
    return hmac.new(PRODUCT_KEY, f"http://hl7.org/fhir/sid/icd-10|{code}".encode(),
                    "sha256").hexdigest()


COVERED = sorted(code_tag(c) for c in ("A01", "B02", "C03"))
UNCOVERED = code_tag("Z00")


@dataclass
class Cast:
    """Everyone on the bench chain, with the next nonce of each signer."""

    patients: list[keys.SigningKey]
    authority: keys.SigningKey = field(default_factory=lambda: key(1))
    validator: keys.SigningKey = field(default_factory=lambda: key(2))
    hospital: keys.SigningKey = field(default_factory=lambda: key(101))
    insurer: keys.SigningKey = field(default_factory=lambda: key(103))
    physician: keys.SigningKey = field(default_factory=lambda: key(201))
    product: str = "b3" * 16
    nonces: dict[str, int] = field(default_factory=dict)

    def tx(self, signer: keys.SigningKey, *msgs: dict[str, Any]) -> bytes:
        nonce = self.nonces[signer.did] = self.nonces.get(signer.did, 0) + 1
        return build_tx(signer, CHAIN_ID, nonce, list(msgs))

    def genesis(self) -> dict[str, Any]:
        orgs = [{"did": k.did, "org_type": kind, "name": name, "enc_key": enc(n)}
                for n, (k, kind, name) in enumerate(((self.hospital, "hospital", "Hospital"),
                                                     (self.insurer, "insurer", "Insurer")))]
        return {"chain_id": CHAIN_ID, "genesis_time_ms": 0, "validator": self.validator.did,
                "app_state": {"version": 2, "identity": {
                    "authorities": [{"did": self.authority.did, "enc_key": enc(99),
                                     "name": "Bench"}],
                    "organizations": orgs}}}


# --- driving the node ------------------------------------------------------------------


def block_time(node: SoloNode) -> int:
    header = node.header()
    return header.header.time_ms if header else 0


def records_msg(patient: keys.SigningKey, rng: random.Random) -> list[dict[str, Any]]:
    # A sealed 500-byte record: 548 ciphertext bytes, on chain its bucket (v2).
    return [Register(record=rng.randbytes(16).hex(), patient=patient.did,
                     hash=rng.randbytes(32).hex(), size=size_bucket(548),
                     commitment=rng.randbytes(32).hex(),
                     descriptor=rng.randbytes(32).hex()).to_msg()
            for _ in range(RECORDS_PER_CLAIM)]


def product_msg(product: str) -> dict[str, Any]:
    return Publish(product=product, name="Bench care", currency=EUR, deductible=DEDUCTIBLE,
                   copay_bps=COPAY_BPS, per_claim_limit=100_000, yearly_limit=500_000,
                   waiting_ms=0, max_term_ms=400 * DAY_MS, covered=tuple(COVERED),
                   excluded=(), refer_above=0, review_window_ms=7 * DAY_MS,
                   appeal_window_ms=30 * DAY_MS).to_msg()


def setup(node: SoloNode, cast: Cast) -> dict[str, Any]:
    """Admit, register, publish, enrol, register records, bill, fund and pay; return
    what claims need: each patient's records and bill, and the enrolment start."""
    h, ins, auth = cast.hospital, cast.insurer, cast.authority
    rng = random.Random("bench/claims")
    enc_doc = enc(201)
    pop = cast.physician.sign(admission_bytes(CHAIN_ID, h.did, cast.physician.did,
                                              bytes.fromhex(enc_doc)))
    wave = [cast.tx(h, AdmitPractitioner(cast.physician.did, ("physician",),
                                         bytes.fromhex(enc_doc), pop).to_msg()),
            cast.tx(ins, product_msg(cast.product))]
    wave += [cast.tx(p, RegisterPatient(bytes.fromhex(enc(1000 + i))).to_msg())
             for i, p in enumerate(cast.patients)]
    submit(node, wave, 500, 1)
    # Enrolment may not start before its block: leave room for the enrolment blocks.
    start_ms = block_time(node) + 2_000 + 2 * len(cast.patients)
    submit(node, [cast.tx(p, Enrol(ins.did, cast.product, start_ms,
                                   start_ms + 365 * DAY_MS).to_msg()) for p in cast.patients],
           500, 1)
    records = {p.did: records_msg(p, rng) for p in cast.patients}
    bills = {p.did: rng.randbytes(16).hex() for p in cast.patients}
    bill_amount = COVERED_AMOUNT + UNCOVERED_AMOUNT
    # registered by the hospital (its vault, for the physician: v2)
    wave = [cast.tx(h, *records[p.did]) for p in cast.patients]
    wave += [cast.tx(h, Bill(bills[p.did], p.did, bill_amount, EUR,
                             rng.randbytes(32).hex()).to_msg()) for p in cast.patients]
    wave += [cast.tx(auth, Mint(p.did, bill_amount + TRANSFER_AMOUNT, EUR).to_msg())
             for p in cast.patients]
    wave.append(cast.tx(auth, Mint(ins.did, PAYOUT * len(cast.patients), EUR).to_msg()))
    submit(node, wave, 500, 1)
    while time.time() * 1000 <= start_ms + 10:  # the next blocks are past the start
        time.sleep(0.05)
    submit(node, [cast.tx(p, PayBill(bills[p.did]).to_msg()) for p in cast.patients],
           500, 1)
    if block_time(node) <= start_ms:
        raise SystemExit("the chain's time did not pass the enrolment start")
    return {"records": records, "bills": bills, "start_ms": start_ms}


def claim_txs(cast: Cast, facts: dict[str, Any]) -> tuple[list[bytes], list[str]]:
    rng = random.Random("bench/claims/ids")
    raws, ids = [], []
    for p in cast.patients:
        claim = rng.randbytes(16).hex()
        ids.append(claim)
        raws.append(cast.tx(p, File(
            claim=claim, insurer=cast.insurer.did, product=cast.product, version=1,
            bill=facts["bills"][p.did], service_ms=facts["start_ms"],
            records=tuple(RecordRef(r["record"], r["commitment"])
                          for r in facts["records"][p.did]),
            lines=(Line(COVERED[0], COVERED_AMOUNT), Line(UNCOVERED, UNCOVERED_AMOUNT)),
            amount=COVERED_AMOUNT + UNCOVERED_AMOUNT,
            consent_end_ms=facts["start_ms"] + 90 * DAY_MS).to_msg()))
    return raws, ids


def check_decided(node: SoloNode, ids: list[str]) -> int:
    """Count the claims decided partial and paid; fail loudly on any other."""
    wrong = []
    for claim in ids:
        found = node.query("claims/claim", {"claim": claim})["value"] or {}
        if (found.get("status"), found.get("payment"), found.get("paid_amount")) != \
                ("partial", "paid", PAYOUT):
            wrong.append({k: found.get(k) for k in ("claim", "status", "payment", "reasons",
                                                    "paid_amount")})
    if wrong:
        raise SystemExit(f"{len(wrong)} of {len(ids)} claims not decided partial and paid "
                         f"{PAYOUT}, e.g. {wrong[0]}")
    return len(ids)


class NodeMeter:
    """Calls and seconds of the node's own steps (``check_tx`` at admission and at the
    mempool recheck after each block, ``finalize_block``, state ``persist``, block store
    ``save``), by wrapping them on the node's instances. ``check_tx`` and
    ``finalize_block`` run under the node lock, one at a time; ``save`` and ``persist``
    (the two fsyncs) run outside it, overlapping admission, so the sums may exceed the
    wall time."""

    STEPS = (("app", "check_tx"), ("app", "finalize_block"), ("app", "persist"),
             ("blocks", "save"))

    def __init__(self, node: SoloNode) -> None:
        self.calls = dict.fromkeys((m for _, m in self.STEPS), 0)
        self.spent = dict.fromkeys((m for _, m in self.STEPS), 0.0)
        for owner, method in self.STEPS:
            self._wrap(getattr(node, owner), method)

    def _wrap(self, obj: Any, method: str) -> None:
        original = getattr(obj, method)

        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return original(*args, **kw)
            finally:
                self.spent[method] += time.perf_counter() - t0
                self.calls[method] += 1
        setattr(obj, method, timed)

    def snapshot(self) -> tuple[dict[str, int], dict[str, float]]:
        return dict(self.calls), dict(self.spent)

    @staticmethod
    def between(before: tuple[dict[str, int], dict[str, float]],
                after: tuple[dict[str, int], dict[str, float]]) -> dict[str, Any]:
        return {m: {"calls": after[0][m] - before[0][m], "s": after[1][m] - before[1][m]}
                for m in before[0]}


def run_node(home: Path, cast: Cast, args: argparse.Namespace) -> dict[str, Any]:
    node = SoloNode(home)
    meter = NodeMeter(node)
    node.start()
    try:
        t0 = time.perf_counter()
        facts = setup(node, cast)
        setup_s = time.perf_counter() - t0
        claims, ids = claim_txs(cast, facts)
        transfers = [cast.tx(p, Transfer(cast.insurer.did, TRANSFER_AMOUNT, EUR).to_msg())
                     for p in cast.patients]
        h0, m0, cpu0 = node.blocks.height(), meter.snapshot(), cpu_seconds()
        claims_s = submit(node, claims, args.chunk, args.clients)
        h1, m1, cpu1 = node.blocks.height(), meter.snapshot(), cpu_seconds()
        decided = check_decided(node, ids)
        m2, cpu2 = meter.snapshot(), cpu_seconds()
        transfer_s = submit(node, transfers, args.chunk, args.clients)
        h2, m3, cpu3 = node.blocks.height(), meter.snapshot(), cpu_seconds()
    finally:
        node.close()
    return {"setup_s": setup_s, "claims_s": claims_s, "transfer_s": transfer_s,
            "claims_cpu_s": cpu1 - cpu0, "transfer_cpu_s": cpu3 - cpu2,
            "decided": decided, "claim_blocks": (h0 + 1, h1), "transfer_blocks": (h1 + 1, h2),
            "claim_steps": meter.between(m0, m1), "transfer_steps": meter.between(m2, m3)}


# --- where time goes: the same blocks, replayed in this process ------------------------


@dataclass
class Split:
    """Seconds spent per step of the replayed blocks of one phase."""

    admission: float = 0.0
    verify: float = 0.0
    execute: float = 0.0
    handler: float = 0.0
    commit: float = 0.0
    blocks: int = 0
    txs: int = 0


def timed_handler(app: Application, msg_type: str) -> list[float]:
    """Wrap the handler of ``msg_type``; the returned cell sums its seconds (at admission
    and in blocks alike: the caller takes differences)."""
    # The app keeps its handler table private; a bench may wrap one entry to time it.
    handler: Callable[..., None] = app._handlers[msg_type]
    spent = [0.0]

    def timed(ctx: Any, msg: Any) -> None:
        t0 = time.perf_counter()
        try:
            handler(ctx, msg)
        finally:
            spent[0] += time.perf_counter() - t0
    app._handlers[msg_type] = timed
    return spent


def replay_block(app: Application, height: int, time_ms: int, raws: list[bytes],
                 split: Split | None, handler_s: list[float]) -> bytes:
    """Execute one stored block as the solo node does: admission of each tx, Ed25519,
    then ``finalize_block`` and ``commit``; time each step into ``split``."""
    if split is None:
        result = app.finalize_block(BlockInfo(height, time_ms), raws)
        app.commit()
        return result.app_hash
    t0 = time.perf_counter()
    jobs = []
    for raw in raws:
        tx = decode_tx(raw)
        jobs.append((tx.hash, keys.public_key_from_did(tx.signer), tx.sig, tx.sign_bytes()))
    t1 = time.perf_counter()
    for _, public_key, sig, signed in jobs:
        keys.verify(public_key, sig, signed)
    t2 = time.perf_counter()
    for job in jobs:
        app.note_verified(job[0], job[1])
    for raw in raws:
        assert app.check_tx(raw).ok
    t3, handler0 = time.perf_counter(), handler_s[0]
    result = app.finalize_block(BlockInfo(height, time_ms), raws)
    t4 = time.perf_counter()
    split.handler += handler_s[0] - handler0
    app.commit()
    t5 = time.perf_counter()
    split.verify += t2 - t1
    split.admission += (t1 - t0) + (t3 - t2)  # decoding is the admission's work too
    split.execute += t4 - t3
    split.commit += t5 - t4
    split.blocks += 1
    split.txs += len(raws)
    return result.app_hash


def replay(home: Path, genesis: dict[str, Any], phases: dict[str, tuple[int, int]],
           profile: bool, tmp: Path) -> dict[str, Split]:
    splits = {name: Split() for name in phases}
    store = SqliteStateStore(tmp / "replay-state.db", writer=NodeConfig().state_writer)
    blocks = SqliteBlockStore(home / "data" / "blocks.db")
    profiler = None
    if profile:  # profilers are imported only under --profile
        import cProfile

        profiler = cProfile.Profile()
    try:
        app = new_application(store)
        app.init_chain(genesis)
        handler_s = timed_handler(app, "claims/file")
        for height in range(1, blocks.height() + 1):
            signed = blocks.header(height)
            assert signed is not None
            phase = next((n for n, (lo, hi) in phases.items() if lo <= height <= hi), None)
            profiling = profiler is not None and phase == "claims"
            if profiling:
                profiler.enable()
            app_hash = replay_block(app, height, signed.header.time_ms,
                                    [t.raw for t in blocks.txs(height)],
                                    splits[phase] if phase else None, handler_s)
            if profiling:
                profiler.disable()
            if app_hash != signed.header.app_hash:
                raise SystemExit(f"replayed block {height} gives another app hash")
    finally:
        blocks.close()
        store.close()
    if profiler is not None:
        import pstats

        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(25)
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(
            "claims|settlement|app.py|sqlite_state|smt", 25)
        print(text.getvalue(), file=sys.stderr)
    return splits


# --- report ----------------------------------------------------------------------------


def per_tx_ms(split: Split) -> dict[str, float]:
    n = split.txs
    return {"admission": 1e3 * split.admission / n, "verify": 1e3 * split.verify / n,
            "execute": 1e3 * split.execute / n, "commit": 1e3 * split.commit / n}


def report(args: argparse.Namespace, node: dict[str, Any], splits: dict[str, Split]) -> None:
    n = args.claims
    claims_per_s, transfer_per_s = n / node["claims_s"], n / node["transfer_s"]
    c, t = splits["claims"], splits["transfers"]
    print(f"setup: {node['setup_s']:.1f} s for {n} patients (not timed)\n"
          f"claims:    {claims_per_s:8,.0f}/s  ({n} filed, adjudicated partial and paid, "
          f"in {c.blocks} blocks)\n"
          f"transfers: {transfer_per_s:8,.0f}/s  (in {t.blocks} blocks)\n"
          f"\nreplayed in this process (ms per tx; commit per block in brackets):",
          file=sys.stderr)
    for name, split in splits.items():
        ms = per_tx_ms(split)
        print(f"  {name:<10} admission {ms['admission']:.3f}  ed25519 {ms['verify']:.3f}  "
              f"execute {ms['execute']:.3f}  commit {ms['commit']:.3f} "
              f"({1e3 * split.commit / split.blocks:.1f}/block)", file=sys.stderr)
    for name in ("claim", "transfer"):
        steps = node[f"{name}_steps"]
        print(f"node, {name}s (wall s in the node's own steps; calls): " + ", ".join(
            f"{m} {v['s']:.2f} ({v['calls']})" for m, v in steps.items()), file=sys.stderr)
    print(f"  claims/file handler: {1e3 * c.handler / c.txs:.3f} ms per claim in blocks "
          f"(of the execute figure; it runs again at admission)", file=sys.stderr)
    ms, tms = per_tx_ms(c), per_tx_ms(t)
    cpu_claim, cpu_transfer = (1e6 * node[f"{k}_cpu_s"] / n for k in ("claims", "transfer"))
    print(f"node CPU (this process, verifier and state writer) per tx: claim "
          f"{cpu_claim:,.0f} µs, transfer {cpu_transfer:,.0f} µs", file=sys.stderr)
    print(json.dumps({
        "bench": "claims", "claims_per_s": round(claims_per_s),
        "transfer_per_s": round(transfer_per_s),
        "ratio": round(claims_per_s / transfer_per_s, 3), "claims": node["decided"],
        "records_per_claim": RECORDS_PER_CLAIM,
        "exec_ms_per_claim": round(ms["execute"], 3),
        "handler_ms_per_claim": round(1e3 * c.handler / c.txs, 3),
        "admission_ms_per_claim": round(ms["admission"], 3),
        "verify_ms_per_claim": round(ms["verify"], 3),
        "commit_ms_per_claim": round(ms["commit"], 3),
        "commit_ms_per_block": round(1e3 * c.commit / c.blocks, 1),
        "claim_blocks": c.blocks,
        "node_s_per_claims_run": {m: round(v["s"], 2) for m, v in node["claim_steps"].items()},
        "check_tx_per_claim": round(node["claim_steps"]["check_tx"]["calls"] / n, 2),
        "exec_ms_per_transfer": round(tms["execute"], 3),
        "admission_ms_per_transfer": round(tms["admission"], 3),
        "commit_ms_per_transfer": round(tms["commit"], 3),
        "cpu_us_per_claim": round(cpu_claim), "cpu_us_per_transfer": round(cpu_transfer),
        "cpu_ratio": round(cpu_transfer / cpu_claim, 3),
        "setup_s": round(node["setup_s"], 1), "clients": args.clients, "chunk": args.chunk,
        "profiled": args.profile, "loadavg_1m": round(os.getloadavg()[0], 1)}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--claims", type=int, default=2000)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--clients", type=int, default=4,
                        help="concurrent in-process clients (API threads do the same)")
    parser.add_argument("--profile", action="store_true",
                        help="cProfile of the replayed claim blocks, to stderr")
    parser.add_argument("--quick", action="store_true", help="200 claims in chunks of 50")
    args = parser.parse_args()
    if args.quick:
        args.claims, args.chunk = 200, 50
    cast = Cast([key(10_000 + i) for i in range(args.claims)])
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "node"
        init_home(home, cast.genesis(), cast.validator.seed,
                  NodeConfig(block_interval_ms=50, max_block_txs=2000))
        node = run_node(home, cast, args)
        splits = replay(home, cast.genesis(), {"claims": node["claim_blocks"],
                                               "transfers": node["transfer_blocks"]},
                        args.profile, Path(tmp))
    report(args, node, splits)


if __name__ == "__main__":
    main()
