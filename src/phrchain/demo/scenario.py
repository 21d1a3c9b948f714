"""The story ``phrchain demo`` tells, step by step, on a running :mod:`consortium`.

Every step goes through the real SDK, node API and vaults, and says what happened in a
few lines. What it prints names participants by role and records by FHIR type: no name,
birth date or other content of a synthetic patient appears (the privacy test checks).

Every patient acts through per-relationship pseudonyms (``docs/privacy.md``): records at
Hanbit are the patient's Hanbit pseudonym's, at Saebyeok the Saebyeok pseudonym's, and
enrolment and claims the insurer-pseudonym's. The story shows pseudonyms as short ids.
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

    def at_hanbit(self, patient: str) -> Any:
        """The SDK of ``patient`` acting as their Hanbit pseudonym."""
        return self.c.as_patient(patient, "hospital_a")

    def alias(self, patient: str, org: str = "hospital_a", kind: str = "custodian") -> str:
        """``patient``'s pseudonym towards ``org``, shortened for reading."""
        return short(self.c.pseudonym(patient, org, kind))

    # -- the story ---------------------------------------------------------------------
    def run(self, extra_steps: tuple[Callable[[Scenario], None], ...] = ()) -> Outcome:
        self.consortium()
        self.import_patients()
        self.second_hospital()
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
        self.say(f"{self.n} patient wallet(s): each derives one pseudonym per institution "
                 "from its root secret and registers it with that pseudonym's own key")
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
                alias = c.pseudonym(name, "hospital_a")
                ids = doctor.records.import_bundle(bundle, {fhir_id: alias}, bar)
                self.outcome.records[name] = ids[alias]
        finally:
            bar.close()
        count = sum(len(r) for r in self.outcome.records.values())
        kinds: dict[str, int] = {}
        for d in self.at_hanbit("patient_1").records.my_records():
            kinds[d["resource"]] = kinds.get(d["resource"], 0) + 1
        self.say(f"{count} records validated against FHIR R4, each encrypted with its own "
                 "key (AES-256-GCM) in the hospital's vault")
        self.say("the chain holds identities, salted commitments and pointers only; "
                 f"patient 1's Hanbit pseudonym {self.alias('patient_1')} owns "
                 f"{len(self.outcome.records['patient_1'])}: "
                 + ", ".join(f"{k} x{v}" for k, v in sorted(kinds.items())))

    def second_hospital(self) -> None:
        c, p = self.c, self.patient(1)
        self.title("Saebyeok General Hospital treats patient 1 too, under another pseudonym")
        alias = c.pseudonym(p, "hospital_b")
        record = c.client("dr_lee").records.add_resource(HEART_RATE, alias)
        self.outcome.extra["hospital_b_record"] = record
        self.say(f"Dr Lee recorded a heart rate for patient 1's Saebyeok pseudonym "
                 f"{short(alias)}; nothing on chain links it to {self.alias(p)} at Hanbit")
        labels = {w.did: w.label for w in c.wallets.values()}
        self.say("patient 1's emergency card (the break-glass locator the patient carries) "
                 "lists both: " + ", ".join(f"{labels[e['custodian']]} -> "
                                            f"{short(e['pseudonym'])}"
                                            for e in c.patient(p).emergency_card()))

    def _first(self, patient: str, resource: str) -> str:
        for d in self.at_hanbit(patient).records.my_records():
            if d["resource"] == resource:
                return str(d["record"])
        return str(self.outcome.records[patient][-1])

    def standing_consent(self) -> None:
        c, p = self.c, self.patient(1)
        self.title("Standing consent: patient 1 lets Saebyeok General Hospital read and "
                   "receive their vital signs and labs kept at Hanbit")
        start = now_ms() - 60_000
        # v2: the chain knows no categories; the wallet names the records it chose by
        # their (sealed) category
        chosen = [d["record"] for d in self.at_hanbit(p).records.my_records()
                  if d.get("category") in ("encounter", "laboratory", "vital-signs")]
        consent = self.at_hanbit(p).consent.grant(
            {"kind": "organization", "id": c.did("hospital_b")}, actions=["read", "push"],
            scope={"records": chosen}, purposes=["TREAT"], start_ms=start,
            end_ms=start + 30 * DAY_MS)
        self.outcome.consent = consent
        covered = len(c.query("consent/get", consent=consent)["scope"]["records"])
        self.say(f"consent {consent}: signed by patient 1's Hanbit pseudonym "
                 f"{self.alias(p)}, actions read+push, purpose TREAT, 30 days; on chain it "
                 f"names the {covered} record ids those categories matched in the patient's "
                 "wallet (never the categories); exportable as a FHIR Consent")
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
        alias = c.pseudonym(p, "hospital_a")   # patient 2 shows it from their wallet
        # A request names record ids (or all records), never a category: the patient
        # told Dr Lee which record, as a patient's app would (by its id).
        record = self._first(p, "Condition")
        request = c.client("dr_lee").exchange.request_pull(
            alias, {"records": [record]}, "TREAT")
        status = c.query("exchange/get", request=request)["status"]
        self.say(f"request {request[:8]}… names patient 2's Hanbit pseudonym "
                 f"{short(alias)} (shown from the patient's wallet): {status} (no standing "
                 "consent)")
        self.at_hanbit(p).exchange.approve(request, now_ms() + 7 * DAY_MS)
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
        card = c.patient(p).emergency_card()
        alias = next(e["pseudonym"] for e in card if e["custodian"] == c.did("hospital_a"))
        found = c.client("dr_park").session.q("records/patient", patient=alias)["records"]
        if record not in found:
            raise RuntimeError("the emergency card did not lead to the patient's records")
        self.say(f"patient 3's emergency card names their Hanbit pseudonym {short(alias)}: "
                 f"Dr Park finds {len(found)} record(s) kept at Hanbit under it")
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
        self.at_hanbit(p).consent.revoke(self.outcome.consent)
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
        self.at_hanbit(p).records.erase(record)
        shredded = c.sync_erasures()
        try:
            self.at_hanbit(p).records.open(record, action="read", purpose="PATRQT")
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
        names = {w.did: w.label for w in c.wallets.values()}
        labels = {w.did: w.label for w in c.wallets.values()}
        for name in c.wallets:
            if name.startswith("patient_"):   # a patient reading their own record
                names.update({p.did: f"{c.wallets[name].label} as {p.kind} pseudonym "
                                     f"{short(p.did)} ({labels.get(p.counterpart, '')})"
                              for p in c.patient(name).pseudonyms()})
        # entries are sealed on chain: the auditor opens them with the regulator's key
        openers = AuditKey.of_wallet(c.wallets["regulator"]).openers()
        for i in (1, 2, 3):
            p = self.patient(i)
            if p in self.outcome.verified_entries:
                continue
            size, head_count, summary = 0, 0, dict[str, int]()
            for did in c.patient(p).dids():   # one log per pseudonym, from the wallet map
                entries, heads = _log_of(node, did, anchor, names, summary, openers)
                size, head_count = size + entries, head_count + heads
            self.outcome.verified_entries[p] = size
            self.say(f"patient {p.split('_')[1]}: {size} entr"
                     f"{'y' if size == 1 else 'ies'} over {len(c.patient(p).dids())} "
                     "pseudonym log(s), each proven by an inclusion proof; "
                     f"{head_count} log head(s) linked by consistency proofs")
            for key, count in sorted(summary.items()):
                self.say(f"  {key} x{count}")
        self.say(f"validator {short(c.node.key.did)} signed every header; the regulator's "
                 "auditor checked it all without trusting the node")
        self.say("on chain each entry is sealed: only the patient, the institution that "
                 "logged it and the regulator open who read what (each checked against "
                 "its commitment)")


def _log_of(node: Any, did: str, anchor: SoloAnchor, names: dict[str, str],
            summary: dict[str, int], openers: Any) -> tuple[int, int]:
    """Verify one pseudonym's access log, opening its sealed entries with the
    regulator's key; count its entries into ``summary``; return its size and the number
    of heads checked."""
    reader = AuditReader(node, did, anchor, openers=openers)
    latest, heads, _ = reader.verify_all()
    for e in reader.log():
        if e["sealed"]:
            raise RuntimeError("an entry is not sealed to the regulator")
        key = f"{names.get(e['accessor'], short(e['accessor']))} {e['action']} {e['decision']}"
        summary[key] = summary.get(key, 0) + 1
    return latest.size, len(heads)


HEART_RATE: Final = {
    "resourceType": "Observation", "status": "final",
    "category": [{"coding": [{
        "system": "http://terminology.hl7.org/CodeSystem/observation-category",
        "code": "vital-signs"}]}],
    "code": {"coding": [{"system": "http://loinc.org", "code": "8867-4",
                         "display": "Heart rate"}]},
    "subject": {"reference": "Patient/demo"},
    "valueQuantity": {"value": 72, "unit": "/min", "system": "http://unitsofmeasure.org",
                      "code": "/min"}}
