"""Case-report entries committed per second with 100 trial sites, against plain
transfers per second in the same run (issue 16).

Genesis: an authority, a research institute (the sponsor), ``--sites`` hospitals (100)
and the recommended trials parameters, keys from fixed seeds. Setup (timed as
``setup_s``, not part of the figure), through the solo node: each site admits
investigators (physicians), ``--entries`` participant pseudonyms register as patients,
the sponsor registers one trial with every hospital as a site and commits its SAP and
randomisation list, each participant enrols at site ``i mod sites``, and the authority
funds each participant for one transfer.

Timed, on the solo engine (``SoloNode.submit_many`` in chunks of ``--chunk`` from
``--clients`` threads, counted when their block is committed to SQLite): one
``trials/entry`` per participant, signed by an investigator of its site (one tx each,
so no signer's nonces race across threads), every entry a salted commitment. Afterwards
every entry is read from state and must name its participant and site (else the bench
fails). ``entries_per_s`` = entries / wall time. The same participants then send one
``settlement/transfer`` each, same way (``transfers_per_s``); ``ratio`` =
entries/transfers (goal ≥ 0.5). Each phase starts after a 3 s pause, so the setup's
last blocks have persisted; ``--transfers-first`` swaps the order (on a loaded machine
whichever runs first after the setup measured slower). An entry writes three new state
keys (the entry, its index, the investigator's first nonce) where a transfer updates
existing balances: new keys grow the Merkle tree.
Last line: ``{"bench": "trials", "entries_per_s": …, "transfers_per_s": …, "ratio": …}``.

    PYTHONPATH=src python bench/trials.py [--entries 2000] [--sites 100] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _solo import submit

from phrchain.core import keys
from phrchain.core.tx import build_tx
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.modules.identity import admission_bytes
from phrchain.modules.identity.messages import AdmitPractitioner, RegisterPatient
from phrchain.modules.settlement.messages import Mint, Transfer
from phrchain.modules.trials.genesis import RECOMMENDED
from phrchain.modules.trials.messages import (
    Commit,
    Enrol,
    Entry,
    Protocol,
    Register,
    Registration,
)
from phrchain.modules.trials.outcomes import Outcome

CHAIN_ID = "phr-bench-trials"
EUR = "EUR"
SETTLE_S = 3.0   # whichever phase ran first right after the setup was slower (order effect)
BATCH = 32   # messages per setup tx (the most a tx carries)


def key(n: int) -> keys.SigningKey:
    return keys.SigningKey(n.to_bytes(32, "big"))


def enc(n: int) -> str:
    return keys.EncryptionKey((n + 1_000_000).to_bytes(32, "big")).public_key.hex()


def digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


@dataclass
class Cast:
    """Everyone on the bench chain, with the next nonce of each signer."""

    sites: list[keys.SigningKey]
    participants: list[keys.SigningKey]
    investigators: list[keys.SigningKey]   # investigator i works at site i mod sites
    authority: keys.SigningKey = field(default_factory=lambda: key(1))
    validator: keys.SigningKey = field(default_factory=lambda: key(2))
    sponsor: keys.SigningKey = field(default_factory=lambda: key(104))
    trial: str = "7a" * 16
    nonces: dict[str, int] = field(default_factory=dict)

    def tx(self, signer: keys.SigningKey, *msgs: dict[str, Any]) -> bytes:
        nonce = self.nonces[signer.did] = self.nonces.get(signer.did, 0) + 1
        return build_tx(signer, CHAIN_ID, nonce, list(msgs))

    def site_of(self, i: int) -> keys.SigningKey:
        return self.sites[i % len(self.sites)]

    def genesis(self) -> dict[str, Any]:
        orgs = [{"did": self.sponsor.did, "org_type": "research_institute",
                 "name": "Sponsor", "enc_key": enc(104)}]
        orgs += [{"did": s.did, "org_type": "hospital", "name": f"Site {n}",
                  "enc_key": enc(500 + n)} for n, s in enumerate(self.sites)]
        # Genesis at the wall clock: the first txs are checked as of its time.
        return {"chain_id": CHAIN_ID, "genesis_time_ms": time.time_ns() // 1_000_000,
                "validator": self.validator.did,
                "app_state": {"version": 2, "identity": {
                    "authorities": [{"did": self.authority.did, "enc_key": enc(99),
                                     "name": "Bench"}],
                    "organizations": orgs}, "trials": RECOMMENDED}}


def protocol(cast: Cast) -> Protocol:
    registration = Registration(
        registry_ids=("ISRCTN00000000",), title="Bench trial", scientific_title="Bench trial",
        conditions=("Condition Y",), interventions=("Drug X", "Placebo"),
        study_type="interventional", target_size=len(cast.participants),
        countries=("DE",), ethics_ref="EC-BENCH", ipd_sharing="None.")
    return Protocol(registration, tuple(sorted(s.did for s in cast.sites)),
                    ("drug", "placebo"),
                    (Outcome("death", "All-cause mortality", "12 months", "primary"),),
                    digest("protocol"), "retain")


def batches(cast: Cast, signer: keys.SigningKey, msgs: list[dict[str, Any]]) -> list[bytes]:
    return [cast.tx(signer, *msgs[i:i + BATCH]) for i in range(0, len(msgs), BATCH)]


def setup(node: SoloNode, cast: Cast) -> None:
    """Admit investigators, register participants and the trial, commit, enrol, fund."""
    wave: list[bytes] = []
    for n, site in enumerate(cast.sites):
        admits = []
        for i in range(n, len(cast.investigators), len(cast.sites)):
            who, enc_doc = cast.investigators[i], enc(20_000 + i)
            pop = who.sign(admission_bytes(CHAIN_ID, site.did, who.did, bytes.fromhex(enc_doc)))
            admits.append(AdmitPractitioner(who.did, ("physician",), bytes.fromhex(enc_doc),
                                            pop).to_msg())
        wave += batches(cast, site, admits)
    wave += [cast.tx(p, RegisterPatient(bytes.fromhex(enc(40_000 + i))).to_msg())
             for i, p in enumerate(cast.participants)]
    start_ms = time.time_ns() // 1_000_000 + 1_000   # solo block time is the wall clock
    submit(node, [cast.tx(cast.sponsor, Register(cast.trial, start_ms,
                                                 protocol(cast)).to_msg(),
                          Commit(cast.trial, "sap", digest("sap")).to_msg(),
                          Commit(cast.trial, "randomisation", digest("list")).to_msg())],
           1, 1)
    submit(node, wave, 500, 1)
    while time.time_ns() // 1_000_000 <= start_ms + 50:
        time.sleep(0.05)
    # Funding makes blocks after the start: a tx is admitted as of the last block's time.
    submit(node, batches(cast, cast.authority, [Mint(p.did, 10, EUR).to_msg()
                                                for p in cast.participants]), 500, 1)
    submit(node, [cast.tx(p, Enrol(cast.trial, 1, digest("protocol"),
                                   cast.site_of(i).did).to_msg())
                  for i, p in enumerate(cast.participants)], 500, 1)


def entry_txs(cast: Cast) -> tuple[list[bytes], list[str]]:
    raws, ids = [], []
    for i, p in enumerate(cast.participants):
        entry = digest(f"entry {i}")[:32]
        ids.append(entry)
        raws.append(cast.tx(cast.investigators[i], Entry(
            cast.trial, entry, p.did, digest(f"crf {i}")).to_msg()))
    return raws, ids


def check_entries(node: SoloNode, cast: Cast, ids: list[str]) -> int:
    wrong = []
    for i, entry in enumerate(ids):
        found = node.query("trials/entry", {"trial": cast.trial, "entry": entry})["value"] or {}
        if (found.get("participant"), found.get("site")) != \
                (cast.participants[i].did, cast.site_of(i).did):
            wrong.append(entry)
    if wrong:
        raise SystemExit(f"{len(wrong)} of {len(ids)} entries not on record, e.g. {wrong[0]}")
    return len(ids)


def run(home: Path, cast: Cast, args: argparse.Namespace) -> dict[str, Any]:
    node = SoloNode(home)
    node.start()
    try:
        t0 = time.perf_counter()
        setup(node, cast)
        setup_s = time.perf_counter() - t0
        time.sleep(SETTLE_S)   # the setup's last blocks finish persisting before the clock
        entries, ids = entry_txs(cast)
        transfers = [cast.tx(p, Transfer(cast.sponsor.did, 1, EUR).to_msg())
                     for p in cast.participants]
        if args.transfers_first:
            transfers_s = submit(node, transfers, args.chunk, args.clients)
        entries_s = submit(node, entries, args.chunk, args.clients)
        recorded = check_entries(node, cast, ids)
        time.sleep(SETTLE_S)
        if not args.transfers_first:
            transfers_s = submit(node, transfers, args.chunk, args.clients)
    finally:
        node.close()
    return {"setup_s": setup_s, "entries_s": entries_s, "transfers_s": transfers_s,
            "recorded": recorded}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=2000)
    parser.add_argument("--sites", type=int, default=100)
    parser.add_argument("--chunk", type=int, default=250)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="200 entries in chunks of 50")
    parser.add_argument("--transfers-first", action="store_true",
                        help="time the transfers before the entries (order effects)")
    args = parser.parse_args()
    if args.quick:
        args.entries, args.chunk = 200, 50
    if not 1 <= args.sites <= int(RECOMMENDED["params"]["max_sites"]):
        raise SystemExit(f"--sites must be from 1 to {RECOMMENDED['params']['max_sites']}")
    cast = Cast(sites=[key(1_000 + n) for n in range(args.sites)],
                participants=[key(100_000 + i) for i in range(args.entries)],
                investigators=[key(200_000 + i) for i in range(args.entries)])
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "node"
        init_home(home, cast.genesis(), cast.validator.seed,
                  NodeConfig(block_interval_ms=50, max_block_txs=2000))
        result = run(home, cast, args)
    n = args.entries
    entries_per_s, transfers_per_s = n / result["entries_s"], n / result["transfers_s"]
    print(f"sites {args.sites}, entries {n} (recorded {result['recorded']}), setup "
          f"{result['setup_s']:.1f} s", file=sys.stderr)
    print(f"case-report entries: {entries_per_s:,.0f}/s; transfers: {transfers_per_s:,.0f}/s",
          file=sys.stderr)
    print(json.dumps({"bench": "trials", "sites": args.sites, "entries": n,
                      "entries_per_s": round(entries_per_s, 1),
                      "transfers_per_s": round(transfers_per_s, 1),
                      "ratio": round(entries_per_s / transfers_per_s, 3),
                      "setup_s": round(result["setup_s"], 2)}))


if __name__ == "__main__":
    main()
