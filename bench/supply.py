"""Supply events committed per second on the solo engine, against plain transfers in the
same run (issue 15), and the monitoring rules' share of a dispense.

Genesis: an authority, a manufacturer, a wholesaler, a pharmacy and a hospital, the
supply parameter table (``phrchain.testing.supply_params``). Setup (not timed, through
the node): a pharmacist and a physician are admitted, the manufacturer registers an
opioid product, commissions ``--cases`` x ``--per-case`` packs and packs them into
cases; the authority funds ``--cases * --per-case`` accounts.

Timed (``SoloNode.submit_many`` in ordered chunks from one client, signed before the
clock, counted when their block is committed to SQLite): the supply mix, each tx one
EPCIS event: per case a ship manufacturer → wholesaler, a receipt, a ship wholesaler →
pharmacy, a receipt and an unpack, then one dispense per pack, each tx carrying the
prescriber-signed registration of its prescription as on a first fill (patients recur,
so the monitoring state grows: MME sums, episodes, courses). Every unit must end ``dispensed``
(else the bench fails). ``events_per_s`` = supply txs / wall time. Then as many
``settlement/transfer`` txs the same way (``transfers_per_s``); ``ratio`` =
events/transfers (goal ≥ 0.5).

``cpu_us_per_event`` / ``cpu_us_per_transfer``: CPU time of the node (this process and
its verifier and state-writer processes) per tx of each run, and ``cpu_ratio`` their
quotient: what the wall-clock ``ratio`` measures, less moved by other load on a shared
machine (Linux ``/proc``; without it, this process only).

``monitor_share``: the dispense handler timed in process over the same dispenses with
and without the monitoring rules (``monitor.evaluate``), as a fraction of its time.
Last line: ``{"bench": "supply", "events_per_s": …, "transfers_per_s": …, "ratio": …}``.

    python bench/supply.py [--cases 40] [--per-case 25] [--quick] [--profile]
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _solo import cpu_seconds

from phrchain.app import STATE_VERSION
from phrchain.core import keys
from phrchain.core.tx import build_tx, tx_hash
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.modules.identity.messages import RegisterPatient
from phrchain.modules.settlement.messages import Mint, Transfer
from phrchain.modules.supply import gs1
from phrchain.modules.supply.messages import (
    Commission,
    Dispense,
    Ingredient,
    Pack,
    Prescribe,
    Receive,
    RegisterProduct,
    Scan,
    Ship,
    Unpack,
)
from phrchain.testing import admit_practitioner_msg, enc_key, supply_params

GENESIS_DAY = 1_700_000_000_000 // 86_400_000   # the in-process blocks' day
CHAIN_ID = "phr-test"  # the chain id phrchain.testing's admission proofs bind
AUTHORITY, VALIDATOR = keys.SigningKey(bytes([1]) * 32), keys.SigningKey(bytes([2]) * 32)
MANUFACTURER, WHOLESALER, PHARMACY, HOSPITAL = (keys.SigningKey(bytes([n]) * 32)
                                                for n in (3, 4, 5, 6))
PHARMACIST, PHYSICIAN = keys.SigningKey(bytes([7]) * 32), keys.SigningKey(bytes([8]) * 32)
BODY = "0880000000123"
GTIN = BODY + str(gs1.check_digit(BODY))
PRODUCT = RegisterProduct(GTIN, "Morphine 10 mg", (Ingredient("7052", "N02AA01", 10_000),),
                          "tablet", 30, "narcotic")


def event_hash(label: str) -> str:
    return f"ni:///sha-256;{hashlib.sha256(label.encode()).hexdigest()}?ver=CBV2.0"


def sscc(n: int) -> str:
    body = f"0880000{n:010d}"
    return body + str(gs1.check_digit(body))


def genesis() -> dict[str, Any]:
    orgs = [(MANUFACTURER, "manufacturer"), (WHOLESALER, "wholesaler"),
            (PHARMACY, "pharmacy"), (HOSPITAL, "hospital")]
    return {"chain_id": CHAIN_ID, "genesis_time_ms": 1_700_000_000_000,
            "validator": VALIDATOR.did, "app_state": {
                "version": STATE_VERSION,
                "identity": {"authorities": [{"did": AUTHORITY.did, "enc_key": enc_key(1),
                                              "name": "Bench"}],
                             "organizations": [{"did": k.did, "org_type": t, "name": t,
                                                "enc_key": enc_key(10 + n)}
                                               for n, (k, t) in enumerate(orgs)]},
                "supply": {"params": supply_params()}}}


class Signer:
    """Signs txs with consecutive nonces."""

    def __init__(self) -> None:
        self.nonces: dict[str, int] = {}

    def __call__(self, key: keys.SigningKey, *msgs: dict[str, Any]) -> bytes:
        nonce = self.nonces[key.did] = self.nonces.get(key.did, 0) + 1
        return build_tx(key, CHAIN_ID, nonce, list(msgs))


def run(node: SoloNode, raws: list[bytes], chunk: int) -> float:
    """Submit in order, wait for the last of each chunk; seconds taken."""
    start = time.perf_counter()
    for i in range(0, len(raws), chunk):
        part = raws[i:i + chunk]
        bad = [r.log for r in node.submit_many(part) if not r.ok]
        if bad:
            raise SystemExit(f"{len(bad)} txs refused, e.g. {bad[0]}")
    for i in range(0, len(raws), chunk):
        last = raws[min(i + chunk, len(raws)) - 1]
        status = node.wait_committed(tx_hash(last), timeout=600)
        if status["status"] != "committed":
            raise SystemExit(f"not committed: {status}")
    return time.perf_counter() - start


def _rx(n: int, patients: int) -> tuple[str, str, str]:
    """(rx tag, patient tag, commitment) of dispense ``n``."""
    return (hashlib.sha256(b"rx %d" % n).hexdigest(),
            hashlib.sha256(b"patient %d" % (n % patients)).hexdigest(),
            hashlib.sha256(b"c %d" % n).hexdigest())


def dispense_msg(n: int, unit: str, patients: int) -> dict[str, Any]:
    serial = unit.split("/")[1]
    rx, patient, commitment = _rx(n, patients)
    return Dispense(
        f"{n:032x}", (Scan(GTIN, serial, "B1", "301231"),), patient, rx, commitment,
        PHYSICIAN.did, 1, 0, 30, event_hash(f"dispense {n}")).to_msg()


def prescribe_msg(n: int, patients: int, day: int) -> dict[str, Any]:
    """Dispense ``n``'s prescription, signed by the physician (issued on UTC ``day``):
    the pharmacy submits it in the dispense's tx, as on a first fill."""
    unsigned = Prescribe(*_rx(n, patients), 1, 0, day, 366, PHYSICIAN.did, "00" * 64)
    signature = PHYSICIAN.sign(unsigned.signed_bytes(CHAIN_ID)).hex()
    return dataclasses.replace(unsigned, signature=signature).to_msg()


def setup_txs(sign: Signer, cases: int, per_case: int) -> tuple[list[bytes], list[list[str]]]:
    """Admissions, the product, commissioning and packing: ``(txs, units per case)``."""
    txs = [sign(PHARMACY, admit_practitioner_msg(PHARMACY, PHARMACIST, ("pharmacist",))),
           sign(HOSPITAL, admit_practitioner_msg(HOSPITAL, PHYSICIAN, ("physician",))),
           sign(MANUFACTURER, PRODUCT.to_msg())]
    packed = []
    for c in range(cases):
        serials = sorted(f"C{c:04d}U{u:04d}" for u in range(per_case))
        units = [f"{GTIN}/{s}" for s in serials]
        txs.append(sign(MANUFACTURER, Commission(GTIN, "B1", "301231", tuple(serials),
                                                 event_hash(f"commission {c}")).to_msg()))
        txs.append(sign(MANUFACTURER, Pack(sscc(c), tuple(units),
                                           event_hash(f"pack {c}")).to_msg()))
        packed.append(units)
    return txs, packed


def funding_txs(sign: Signer, accounts: int) -> list[bytes]:
    """Accounts that exist and hold money, for the transfers."""
    txs = [sign(account(n), RegisterPatient(bytes.fromhex(enc_key(50_000 + n))).to_msg())
           for n in range(accounts)]
    return txs + [sign(AUTHORITY, Mint(account(n).did, 1000, "EUR").to_msg())
                  for n in range(accounts)]


def account(n: int) -> keys.SigningKey:
    return keys.SigningKey((100_000 + n).to_bytes(32, "big"))


def supply_txs(sign: Signer, packed: list[list[str]], day: int) -> list[bytes]:
    txs = []
    for c, _ in enumerate(packed):
        ship1, ship2 = f"{2 * c:032x}", f"{2 * c + 1:032x}"
        for frm, to, sid in ((MANUFACTURER, WHOLESALER, ship1), (WHOLESALER, PHARMACY, ship2)):
            txs.append(sign(frm, Ship(sid, to.did, (), (sscc(c),),
                                      event_hash(f"s {sid}")).to_msg()))
            txs.append(sign(to, Receive(sid, (), (sscc(c),), event_hash(f"r {sid}")).to_msg()))
        txs.append(sign(PHARMACY, Unpack(sscc(c), event_hash(f"u {c}")).to_msg()))
    units = [u for case in packed for u in case]
    patients = max(1, len(units) // 3)
    txs += [sign(PHARMACIST, prescribe_msg(n, patients, day), dispense_msg(n, u, patients))
            for n, u in enumerate(units)]
    return txs


def monitor_share(cases: int, per_case: int) -> tuple[float, float]:
    """(µs per dispense, the monitoring rules' share of it), in process: the dispense
    handler and, inside it, ``monitor.evaluate`` timed over the same dispenses."""
    from phrchain.app import BlockInfo, new_application
    from phrchain.core.store import MemoryStateStore
    from phrchain.modules.supply import dispense as module

    app = new_application(MemoryStateStore())
    app.init_chain(genesis())
    sign = Signer()
    setup, packed = setup_txs(sign, cases, per_case)
    txs = supply_txs(sign, packed, GENESIS_DAY)
    n = cases * per_case
    spent = {"dispense": 0.0, "monitor": 0.0}
    handler, evaluate = module.dispense, module.monitor.evaluate

    def timer(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any) -> Any:
            start = time.perf_counter()
            try:
                return func(*args)
            finally:
                spent[name] += time.perf_counter() - start
        return timed

    app._handlers["supply/dispense"] = timer("dispense", handler)
    module.monitor.evaluate = timer("monitor", evaluate)
    try:
        for height, block in enumerate((setup, txs[:-n], txs[-n:]), start=1):
            result = app.finalize_block(BlockInfo(height, 1_700_000_000_000 + height), block)
            app.commit()
            bad = [r.log for r in result.tx_results if not r.ok]
            if bad:
                raise SystemExit(f"in-process run refused {len(bad)}: {bad[0]}")
    finally:
        module.monitor.evaluate = evaluate
    return spent["dispense"] / n * 1e6, spent["monitor"] / spent["dispense"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--per-case", type=int, default=25)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--quick", action="store_true", help="4 cases of 20 packs")
    args = parser.parse_args()
    if args.quick:
        args.cases, args.per_case = 4, 20
    sign = Signer()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "node"
        init_home(home, genesis(), VALIDATOR.seed,
                  NodeConfig(block_interval_ms=50, max_block_txs=2000))
        node = SoloNode(home)
        node.start()
        try:
            setup, packed = setup_txs(sign, args.cases, args.per_case)
            run(node, setup, args.chunk)
            run(node, funding_txs(sign, args.cases * args.per_case), args.chunk)
            # checked after the setup's blocks, whose times are the wall clock's
            txs = supply_txs(sign, packed, time.time_ns() // 1_000_000 // 86_400_000)
            profiler = None
            if args.profile:  # profilers are imported only under --profile
                import cProfile

                profiler = cProfile.Profile()
                profiler.enable()
            cpu = cpu_seconds()
            events_s = run(node, txs, args.chunk)
            events_cpu = cpu_seconds() - cpu
            if profiler:
                profiler.disable()
                import pstats

                pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
            units = [u for case in packed for u in case]
            for unit in units:
                found = node.query("supply/unit", {"unit": unit})["value"]
                if found["status"] != "dispensed":
                    raise SystemExit(f"{unit} is {found['status']}, not dispensed")
            alerts = node.query("supply/alerts", {"limit": 1000})["value"]["alerts"]
            transfers = [sign(account(n % len(units)), Transfer(
                account((n + 1) % len(units)).did, 1, "EUR").to_msg()) for n in range(len(txs))]
            cpu = cpu_seconds()
            transfers_s = run(node, transfers, args.chunk)
            transfers_cpu = cpu_seconds() - cpu
        finally:
            node.close()
    us_per_dispense, share = monitor_share(args.cases, args.per_case)
    events_per_s, transfers_per_s = len(txs) / events_s, len(transfers) / transfers_s
    cpu_event, cpu_transfer = events_cpu / len(txs) * 1e6, transfers_cpu / len(transfers) * 1e6
    print(f"supply events: {events_per_s:,.0f}/s ({len(txs)} txs, {len(units)} dispenses, "
          f"{len(alerts)} open alerts); transfers: {transfers_per_s:,.0f}/s; CPU per tx "
          f"{cpu_event:,.0f} µs vs {cpu_transfer:,.0f} µs; dispense "
          f"{us_per_dispense:,.0f} µs in process, monitoring {share:.0%} of it",
          file=sys.stderr)
    print(json.dumps({"bench": "supply", "events_per_s": round(events_per_s),
                      "transfers_per_s": round(transfers_per_s),
                      "ratio": round(events_per_s / transfers_per_s, 3),
                      "events": len(txs), "dispenses": len(units), "alerts": len(alerts),
                      "cpu_us_per_event": round(cpu_event),
                      "cpu_us_per_transfer": round(cpu_transfer),
                      "cpu_ratio": round(cpu_transfer / cpu_event, 3),
                      "us_per_dispense": round(us_per_dispense),
                      "monitor_share": round(share, 3)}))


if __name__ == "__main__":
    main()
