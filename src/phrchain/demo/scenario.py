"""The story ``phrchain demo`` tells, step by step, on a running :mod:`consortium`.

Every step goes through the real SDK, node API and vaults, and says what happened in a
few lines. What it prints names participants by role and records by FHIR type: no name,
birth date or other content of a synthetic patient appears (the privacy test checks).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Final, TextIO

from phrchain.client.anchors import SoloAnchor
from phrchain.client.audit import AuditKey, AuditReader
from phrchain.client.http import ApiError
from phrchain.demo.consortium import Consortium
from phrchain.fhir.bundle import split_bundle
from phrchain.fhir.synthetic import generate_patients

DAY_MS: Final = 86_400_000
Progress = Callable[[int], None]
ProgressFactory = Callable[[int, str, str], Any]   # (total, label, unit) -> bar


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def short(did: str) -> str:
    """A DID shortened for reading: ``did:key:z6Mk…abcd``."""
    return did if len(did) <= 24 else f"{did[:12]}…{did[-4:]}"


@dataclass
class Outcome:
    """What the demo did, for its summary and its tests."""

    records: dict[str, list[str]] = field(default_factory=dict)   # patient name -> ids
    consent: str = ""
    pushed: str = ""
    pull_request: str = ""
    pulled: str = ""
    break_glass_record: str = ""
    denied_reason: str = ""
    verified_entries: dict[str, int] = field(default_factory=dict)
    erased: str = ""
    extra: dict[str, Any] = field(default_factory=dict)


class Scenario:
    def __init__(self, c: Consortium, out: TextIO, progress: ProgressFactory,
                 patients: int, seed: int, resources: int = 24) -> None:
        self.c, self.out, self.progress = c, out, progress
        self.n, self.seed, self.resources = patients, seed, resources
        self.outcome = Outcome()
        self._step = 0

    # -- narration ---------------------------------------------------------------------
    def title(self, text: str) -> None:
        self._step += 1
        print(f"\n[{self._step}] {text}", file=self.out, flush=True)

    def say(self, text: str) -> None:
        print(f"    {text}", file=self.out, flush=True)

    def who(self, name: str) -> str:
        return f"{self.c.wallets[name].label} ({short(self.c.did(name))})"

    def patient(self, i: int) -> str:
        """Patient ``i`` (1-based, wrapping round when there are fewer patients)."""
        return f"patient_{(i - 1) % self.n + 1}"

    # -- the story ---------------------------------------------------------------------
    def run(self, extra_steps: tuple[Callable[[Scenario], None], ...] = ()) -> Outcome:
        self.consortium()
        self.import_patients()
        self.standing_consent()
        self.view_in_place()
        self.push()
        self.pull_with_approval()
        self.break_glass()
        self.revoke_and_deny()
        for step in extra_steps:
            step(self)
        self.erase()
        self.verify_access_log()
        return self.outcome

    def consortium(self) -> None:
        c = self.c
        self.title("A consortium on one permissioned chain (embedded solo engine)")
        for m in c.members.values():
            if m.org_type:
                vault = "its own encrypted vault" if c.did(m.name) in c.vaults else "no vault"
                self.say(f"{m.label}: {m.org_type}, {vault}")
        staff = ", ".join(c.wallets[m.name].label for m in c.members.values() if m.roles)
        self.say(f"staff admitted by their organizations: {staff}")
        self.say(f"{self.n} patient(s) registered themselves with their own keys")
        self.say(f"node API {c.api_url}; chain '{c.node.genesis['chain_id']}', "
                 f"height {c.node.status()['height']}")

    def import_patients(self) -> None:
        c = self.c
        self.title(f"Hanbit University Hospital imports {self.n} synthetic patient(s) "
                   f"(FHIR R4, seed {self.seed})")
        bundles = generate_patients(self.n, self.seed, self.resources)
        doctor = c.client("dr_kim")
        total = sum(1 + len(g.resources) for b in bundles for g in split_bundle(b))
        bar = self.progress(total, "sealing and registering", "resources")
        try:
            for i, bundle in enumerate(bundles, start=1):
                name = f"patient_{i}"
                fhir_id = next(e["resource"]["id"] for e in bundle["entry"]
                               if e["resource"]["resourceType"] == "Patient")
                ids = doctor.records.import_bundle(bundle, {fhir_id: c.did(name)}, bar)
                self.outcome.records[name] = ids[c.did(name)]
        finally:
            bar.close()
        count = sum(len(r) for r in self.outcome.records.values())
        kinds: dict[str, int] = {}
        for d in c.client("patient_1").records.my_records():
            kinds[d["resource"]] = kinds.get(d["resource"], 0) + 1
        self.say(f"{count} records validated against FHIR R4, each encrypted with its own "
                 "key (AES-256-GCM) in the hospital's vault")
        self.say("the chain holds identities, salted commitments and pointers only; "
                 f"patient 1 owns {len(self.outcome.records['patient_1'])}: "
                 + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())))

    def _first(self, patient: str, resource: str) -> str:
        for d in self.c.client(patient).records.my_records():
            if d["resource"] == resource:
                return str(d["record"])
        return str(self.outcome.records[patient][-1])

    def standing_consent(self) -> None:
        c, p = self.c, self.patient(1)
        self.title("Standing consent: patient 1 lets Saebyeok General Hospital read and "
                   "receive their vital signs and labs")
        start = now_ms() - 60_000
        # v2: the chain knows no categories; the wallet names the records it chose by
        # their (sealed) category
        chosen = [d["record"] for d in c.client(p).records.my_records()
                  if d.get("category") in ("encounter", "laboratory", "vital-signs")]
        consent = c.client(p).consent.grant(
            {"kind": "organization", "id": c.did("hospital_b")}, actions=["read", "push"],
            scope={"records": chosen}, purposes=["TREAT"], start_ms=start,
            end_ms=start + 30 * DAY_MS)
        self.outcome.consent = consent
        covered = len(c.query("consent/get", consent=consent)["scope"]["records"])
        self.say(f"consent {consent}: signed by the patient, actions read+push, purpose "
                 f"TREAT, 30 days; on chain it names the {covered} record ids those "
                 "categories matched in the patient's wallet (never the categories); "
                 "exportable as a FHIR Consent")
        self.say("the patient's wallet re-wrapped the covered records' keys for the "
                 "hospital and its staff (the vault never sees a data key)")

    def view_in_place(self) -> None:
        c = self.c
        record = self._first(self.patient(1), "Observation")
        self.title("View: Dr Lee (Saebyeok) reads patient 1's Observation in place at "
                   "Hanbit's vault")
        opened = c.client("dr_lee").records.open(record, action="view", purpose="TREAT")
        self.say(f"record {record[:8]}…: permitted by consent {opened.decision['consent']}; "
                 f"{len(opened.plaintext)} bytes decrypted, hash and commitment checked "
                 "against the chain; nothing copied")

    def push(self) -> None:
        c = self.c
        record = self._first(self.patient(1), "Encounter")
        self.title("Push: Dr Kim (Hanbit) sends patient 1's Encounter to Saebyeok")
        # v2: the chain knows the custodian, not the author: Hanbit itself pushes
        c.client("hospital_a").exchange.push(record, c.did("dr_lee"))
        opened = c.client("dr_lee").records.open(record, vault_org=c.did("hospital_b"))
        self.outcome.pushed = record
        self.say(f"record {record[:8]}… now also held in Saebyeok's vault (a holder on "
                 f"chain); Dr Lee opened it there: {opened.descriptor['resource']}, "
                 "verified")

    def pull_with_approval(self) -> None:
        c, p = self.c, self.patient(2)
        self.title("Pull: Dr Lee asks for patient 2's condition record; the patient "
                   "approves")
        # A request names record ids (or all records), never a category: the patient
        # told Dr Lee which record, as a patient's app would (by its id).
        record = self._first(p, "Condition")
        request = c.client("dr_lee").exchange.request_pull(
            c.did(p), {"records": [record]}, "TREAT")
        status = c.query("exchange/get", request=request)["status"]
        self.say(f"request {request[:8]}…: {status} (no standing consent)")
        c.client(p).exchange.approve(request, now_ms() + 7 * DAY_MS)
        opened = c.client("dr_lee").exchange.pull(request, record)
        self.outcome.pull_request, self.outcome.pulled = request, record
        self.say(f"patient 2 approved in their app: a 7-day consent; Dr Lee pulled "
                 f"{opened.descriptor['resource']} {record[:8]}… into Saebyeok's vault")

    def break_glass(self) -> None:
        c, p = self.c, self.patient(3)
        record = self._first(p, "AllergyIntolerance")
        self.title("Break-glass: Dr Park (emergency, Saebyeok) opens patient 3's allergies "
                   "with no consent")
        reason = "unconscious on arrival, allergy status needed before anaesthesia"
        opened = c.client("dr_park").records.open(record, action="break_glass",
                                                  purpose="ETREAT", reason=reason)
        assert opened.receipt is not None
        self.outcome.break_glass_record = record
        self.outcome.extra["break_glass_receipt"] = opened.receipt
        self.say(f"permitted as {opened.decision['reason']}: the access is flagged in the "
                 "patient's audit log and the patient gets a notice")
        self.say(f"the reason stays with the hospital; its salted commitment "
                 f"{opened.receipt.justification[:12]}… is signed into the request the "
                 "audit entry names, so it can be proven later and never changed")

    def revoke_and_deny(self) -> None:
        c, p = self.c, self.patient(1)
        record = self._first(p, "Observation")
        self.title("Revocation: patient 1 revokes Saebyeok's consent; Dr Lee is refused")
        c.client(p).consent.revoke(self.outcome.consent)
        try:
            c.client("dr_lee").records.open(record, purpose="TREAT")
        except ApiError as exc:
            self.outcome.denied_reason = exc.name
            self.say(f"vault answered {exc.status} {exc.name}: {exc.message}")
            self.say("the refusal is itself an entry of the patient's audit log")
            return
        raise RuntimeError("the vault released a record after its consent was revoked")

    def erase(self) -> None:
        c, p = self.c, self.patient(2)
        record = self.outcome.pulled
        self.title("Erasure: patient 2 erases the pulled record; every vault destroys it")
        c.client(p).records.erase(record)
        shredded = c.sync_erasures()
        try:
            c.client(p).records.open(record, action="read", purpose="PATRQT")
        except ApiError as exc:
            self.outcome.erased = record
            self.say(f"{shredded} copies shredded (Hanbit and Saebyeok); reading it now "
                     f"answers {exc.status} {exc.name}")
            self.say("the chain keeps a tombstone with no type, size, hash or commitment")
            return
        raise RuntimeError("an erased record could still be read")

    def verify_access_log(self) -> None:
        c = self.c
        self.title("Access logs, verified with Merkle proofs against signed headers")
        c.flush()
        node = c.client("auditor").node
        anchor = SoloAnchor(node, c.node.key.did, str(c.node.genesis["chain_id"]))
        for i in (1, 2, 3):
            p = self.patient(i)
            if p in self.outcome.verified_entries:
                continue
            # entries are sealed on chain: the auditor opens them with the regulator's key
            reader = AuditReader(node, c.did(p), anchor,
                                 openers=AuditKey.of_wallet(c.wallets["regulator"]).openers())
            latest, heads, _ = reader.verify_all()
            entries = reader.log()
            self.outcome.verified_entries[p] = latest.size
            names = {w.did: w.label for w in c.wallets.values()}
            summary: dict[str, int] = {}
            for e in entries:
                if e["sealed"]:
                    raise RuntimeError("an entry is not sealed to the regulator")
                key = (f"{names.get(e['accessor'], short(e['accessor']))} {e['action']} "
                       f"{e['decision']}")
                summary[key] = summary.get(key, 0) + 1
            self.say(f"patient {p.split('_')[1]}: {latest.size} entr"
                     f"{'y' if latest.size == 1 else 'ies'}, each proven by an inclusion "
                     f"proof; {len(heads)} log head(s) linked by consistency proofs")
            for key, count in sorted(summary.items()):
                self.say(f"  {key} x{count}")
        self.say(f"validator {short(c.node.key.did)} signed every header; the regulator's "
                 "auditor checked it all without trusting the node")
        self.say("on chain each entry is sealed: only the patient, the institution that "
                 "logged it and the regulator open who read what (each checked against "
                 "its commitment)")
