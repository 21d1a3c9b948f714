"""Resources de-identified and released per second, against plain record reads per
second in the same run (issue 17).

Setup (not timed, as ``setup_s``): an in-process chain on a SQLite state store
(``phrchain.testing.Chain``) with the shipped research parameters (DUO v2021-02-23 and
the pinned MONDO subset; k and l thresholds 1 so the figure is not about the data's
shape), hospital A with a release approver, a research institute and researcher;
``--patients`` donors (custodian pseudonyms), each with one Synthea-style bundle of
``--resources`` resources, every resource a record on chain whose FHIR JSON the vault
keeps sealed (AES-256-GCM, a fresh data key per record); every donor donates (HMB; every
fifth donates for asthma only and is excluded); the institute registers a study and a
request, matched against every donor.

Timed, ``resources_per_s`` = released resources / wall time of the release: for every
dataset (donors in groups whose records fit one manifest's ``max_leaves``): match (the
included donors from the chain's per-donor outcomes, then the eligible records from
their outcomes and donations), decrypt each included donor's record, transform it
(Safe Harbor + Korean rules), run the k/l gates and the residual scan, re-encrypt the
NDJSON for the study (``seal_for_study``: AES-256-GCM under a key HPKE-wrapped to the
institute), build and sign the manifest and commit it in a block. ``reads_per_s``:
every record read as a plain permitted read does it — its ``records/get`` descriptor
from state and its decryption and JSON parse.
``ratio`` = resources_per_s / reads_per_s (goal >= 0.3). ``ratio_cpu``: the same
ratio on the process's CPU time of each phase (on a shared machine others' load moves
the wall-clock one a lot between the two phases; CPU time leaves out waiting, such as
each block's fsync, so it is a diagnostic, not the goal).
Last line: ``{"bench": "research_export", "resources_per_s": …, "reads_per_s": …,
"ratio": …, "ratio_cpu": …}``.

    PYTHONPATH=src python bench/research_export.py [--patients 120] [--resources 30] [--quick]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from phrchain.core import keys
from phrchain.deid import default_config
from phrchain.deid.config import parse
from phrchain.fhir.synthetic import generate_patients
from phrchain.modules.identity.messages import RegisterPatient
from phrchain.modules.records.messages import Register, size_bucket
from phrchain.modules.research.messages import (
    Donate,
    Match,
    RegisterStudy,
    Request,
    SetParams,
)
from phrchain.research import terms
from phrchain.research.vault import HeldRecord, release, seal_for_study
from phrchain.storage.sqlite_state import SqliteStateStore
from phrchain.testing import AUTHORITY, Chain, admit_org_msg, admit_practitioner_msg, enc_key

BATCH = 32          # messages per setup tx


def digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def oid(label: str) -> str:
    return digest(label)[:32]


def key(n: int) -> keys.SigningKey:
    return keys.SigningKey(n.to_bytes(32, "big"))


class Vault:
    """Hospital A's sealed copies: record id -> (data key, nonce, ciphertext)."""

    def __init__(self) -> None:
        self.sealed: dict[str, tuple[bytes, bytes, bytes]] = {}

    def put(self, record: str, resource: dict[str, Any]) -> int:
        data_key, nonce = AESGCM.generate_key(256), os.urandom(12)
        blob = AESGCM(data_key).encrypt(nonce, json.dumps(resource).encode(),
                                        bytes.fromhex(record))
        self.sealed[record] = (data_key, nonce, blob)
        return len(blob)

    def open(self, record: str) -> dict[str, Any]:
        data_key, nonce, blob = self.sealed[record]
        found: dict[str, Any] = json.loads(AESGCM(data_key).decrypt(nonce, blob,
                                                                    bytes.fromhex(record)))
        return found


def ok(chain: Chain, signer: keys.SigningKey, *msgs: dict[str, Any]) -> None:
    result = chain.run(signer, *msgs)
    if not result.ok:
        raise SystemExit(f"setup failed: {result.log}")


def setup(chain: Chain, vault: Vault, patients: int, resources: int
          ) -> tuple[str, list[str], keys.SigningKey]:
    hospital, institute, researcher, officer = key(101), key(104), key(206), key(211)
    ok(chain, AUTHORITY, SetParams.parse(terms.params(min_k=1, min_l=1)).to_msg())
    ok(chain, AUTHORITY, admit_org_msg(hospital, "hospital"))
    ok(chain, AUTHORITY, admit_org_msg(institute, "research_institute"))
    ok(chain, institute, admit_practitioner_msg(institute, researcher, ("researcher",)))
    ok(chain, hospital, admit_practitioner_msg(hospital, officer, ("auditor",)))
    records: list[str] = []
    for i, bundle in enumerate(generate_patients(patients, seed=29,
                                                 resources_per_patient=resources)):
        donor = key(10_000 + i)
        ok(chain, donor, RegisterPatient(bytes.fromhex(enc_key(9))).to_msg())
        msgs = []
        for j, entry in enumerate(bundle["entry"]):
            record = oid(f"record {i}/{j}")
            size = vault.put(record, entry["resource"])
            msgs.append(Register(record, donor.did, digest(f"h{i}/{j}"), size_bucket(size),
                                 digest(f"c{i}/{j}"), digest(f"d{i}/{j}"),
                                 hospital.did).to_msg())
            records.append(record)
        for start in range(0, len(msgs), BATCH):
            ok(chain, donor, *msgs[start:start + BATCH])
        permission = {"code": "DS", "disease": "MONDO:0004979"} if i % 5 == 4 \
            else {"code": "HMB"}
        ok(chain, donor, Donate(permission, [{"code": "NPU"}], {"all": True}, chain.time_ms,
                                chain.time_ms + 86_400_000 * 365).to_msg())
    study = RegisterStudy(
        study=oid("study"), purpose={"code": "DS", "disease": "MONDO:0005148"},
        for_profit=False, commercial=False, country="KR", genetic=False, publish=True,
        returns=False, methods=False, clinical_care=False, publication_ms=0,
        duration_months=12, collaborators=(), users=(researcher.did,),
        protocol=digest("protocol"), k=1, l=1, irb=None)
    ok(chain, researcher, study.to_msg())
    ok(chain, researcher, Request(oid("request"), oid("study")).to_msg())
    while not chain.app.query("research/request", {"request": oid("request")})[
            "value"]["done"]:
        ok(chain, researcher, Match(oid("request")).to_msg())
    return oid("request"), records, officer


def run(patients: int, resources: int, work: Path) -> dict[str, Any]:
    chain = Chain.new(SqliteStateStore(work / "state.db"))
    vault = Vault()
    started = time.perf_counter()
    request, records, officer = setup(chain, vault, patients, resources)
    setup_s = time.perf_counter() - started

    def query(path: str, **data: Any) -> Any:
        return chain.app.query(path, data)["value"]

    raw = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 1, "l": 1})
    config = parse(raw)
    institute, institute_enc = key(104), keys.EncryptionKey(bytes([7]) * 32)
    per_dataset = max(1, terms.DEFAULTS["max_leaves"] // resources)
    donors = sorted({query("records/get", record=r)["patient"] for r in records})
    by_donor: dict[str, list[str]] = {}
    for r in records:
        by_donor.setdefault(query("records/get", record=r)["patient"], []).append(r)
    released = 0
    started, cpu = time.perf_counter(), time.process_time()
    for n, first in enumerate(range(0, len(donors), per_dataset)):
        # match: as the vault's release route does, only included donors' records are
        # opened (their outcome is one state key each); release() re-checks every one
        group = [r for d in donors[first:first + per_dataset]
                 if (query("research/outcome", request=request, donor=d) or {}).get(
                     "outcome") == "included" for r in by_donor[d]]
        held = [HeldRecord(r, vault.open(r)) for r in group]          # decrypt
        result = release(query, request, held, config=config, key=bytes(32),
                         dataset=oid(f"dataset {n}"), reference_year=2026,
                         recorded="2026-12-07T00:00:00Z", now_ms=chain.time_ms,
                         approver=officer)
        seal_for_study(result.dataset, oid(f"dataset {n}"), institute.did,   # for the study
                       institute_enc.public_key)
        ok(chain, key(101), result.manifest.to_msg())
        released += len(result.manifest.leaves)
    release_s, release_cpu = time.perf_counter() - started, time.process_time() - cpu
    started, cpu = time.perf_counter(), time.process_time()
    for r in records:
        descriptor = query("records/get", record=r)
        if descriptor is None or vault.open(r)["resourceType"] is None:
            raise SystemExit("a read failed")
    reads_s, reads_cpu = time.perf_counter() - started, time.process_time() - cpu
    resources_per_s, reads_per_s = released / release_s, len(records) / reads_s
    return {"bench": "research_export", "patients": patients, "records": len(records),
            "released": released, "setup_s": round(setup_s, 2),
            "release_s": round(release_s, 3), "release_cpu_s": round(release_cpu, 3),
            "reads_cpu_s": round(reads_cpu, 3), "resources_per_s": round(resources_per_s, 1),
            "reads_per_s": round(reads_per_s, 1),
            "ratio": round(resources_per_s / reads_per_s, 3),
            # the same on this process's CPU time (a shared machine's other load moves
            # the wall-clock ratio a lot; CPU time leaves out waiting, e.g. each fsync)
            "ratio_cpu": round((released / release_cpu) / (len(records) / reads_cpu), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--patients", type=int, default=120)
    parser.add_argument("--resources", type=int, default=30)
    parser.add_argument("--quick", action="store_true", help="10 patients of 10 resources")
    args = parser.parse_args(argv)
    if args.quick:
        args.patients, args.resources = 10, 10
    with tempfile.TemporaryDirectory(prefix="phr-bench-research-") as work:
        figures = run(args.patients, args.resources, Path(work))
    print(f"released {figures['released']} of {figures['records']} resources in "
          f"{figures['release_s']} s", file=sys.stderr)
    print(json.dumps(figures))
    return 0


if __name__ == "__main__":
    sys.exit(main())
