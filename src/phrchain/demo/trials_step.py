"""The demo's clinical-trial story (M10): one honest trial and one that switches its
primary outcome after the first enrolment; the chain labels both against the frozen
baseline, and the regulator verifies the whole trail offline."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Final

from phrchain.client import builder
from phrchain.client.http import NodeClient
from phrchain.client.phr import Phr
from phrchain.client.trials import Sealed, trial_wallet, verify_audit
from phrchain.modules.trials.messages import Protocol, Registration
from phrchain.modules.trials.outcomes import Outcome

if TYPE_CHECKING:
    from phrchain.demo.scenario import Scenario

BASELINE: Final = (
    Outcome("mortality", "All-cause mortality", "12 months", "primary"),
    Outcome("qol", "Quality of life (EQ-5D-5L)", "6 months", "secondary"),
    Outcome("readmission", "Unplanned readmission", "30 days", "secondary"),
)
SWITCHED: Final = (   # version 2 of the second trial, after its first enrolment
    Outcome("mortality", "All-cause mortality", "12 months", "secondary"),
    Outcome("qol", "Quality of life (EQ-5D-5L)", "6 months", "secondary"),
    Outcome("readmission", "Unplanned readmission", "30 days", "primary"),
)


def _protocol(s: Scenario, title: str, outcomes: tuple[Outcome, ...], doc: bytes
              ) -> tuple[Protocol, Sealed]:
    sealed = Sealed.of(doc)
    registration = Registration(
        registry_ids=(), title=title, scientific_title=f"{title}: a randomised, "
        "placebo-controlled trial", conditions=("Heart failure",),
        interventions=("Drug X", "Placebo"), study_type="interventional", target_size=100,
        countries=("KR",), ethics_ref="IRB-HANBIT-2026-01",
        ipd_sharing="No individual participant data will be shared.")
    sites = tuple(sorted((s.c.did("hospital_a"), s.c.did("hospital_b"))))
    return Protocol(registration, sites, ("drug", "placebo"), outcomes, sealed.commitment,
                    "retain"), sealed


def clinical_trials(s: Scenario) -> None:
    from phrchain.demo.scenario import now_ms

    c = s.c
    s.title("Clinical trials: registered before enrolment, consent bound to the protocol, "
            "outcome switching caught")
    sponsor = c.client("hospital_a").trials
    start = now_ms() + 1_500
    trials, protocols = {}, {}
    for name, title in (("honest", "HEART-1"), ("switching", "HEART-2")):
        document = f"{title} protocol v1".encode()
        protocol, sealed = _protocol(s, title, BASELINE, document)
        trial = sponsor.register(start, protocol)
        sponsor.documents.store(trial, "protocol", document, sealed.salt)
        for kind, text in (("sap", f"{title} statistical analysis plan"),
                           ("randomisation", f"{title} randomisation list")):
            committed = sponsor.commit(trial, kind, text.encode())
            sponsor.documents.store(trial, kind, text.encode(), committed.salt)
        trials[name], protocols[name] = trial, sealed.commitment
    s.say(f"Hanbit registered HEART-1 and HEART-2 at the block's time (height "
          f"{sponsor.trial(trials['honest'])['registered_height']}), with both hospitals "
          "as sites; the protocol, analysis plan and randomisation list are salted hashes "
          "on chain, the documents encrypted in Hanbit's vault")
    while now_ms() < start + 200:
        time.sleep(0.05)
    sites = {"hospital_a": "dr_kim", "hospital_b": "dr_lee"}
    people = []
    enrolling = list(sites)[:min(2, s.n)]   # one patient per site, never one twice
    for name, trial in sorted(trials.items()):
        for k, site in enumerate(enrolling):
            patient = c.wallets[s.patient(2 + k)]
            me = trial_wallet(patient, trial)
            with Phr(NodeClient(c.api_url, timeout=60), me, c.directory) as participant:
                participant.node.send(me, [builder.register_patient(me.enc_key)])
                participant.trials.enrol(trial, c.did(site))
                participant.node.close()
            people.append((name, trial, site, me.did))
            if name == "switching" and k == 0:
                # After the first enrolment: version 2 makes readmission the primary.
                protocol, _ = _protocol(s, "HEART-2", SWITCHED, b"HEART-2 protocol v2")
                sponsor.amend(trial, protocol, "primary endpoint changed", False)
    s.say(f"{len(enrolling)} patient(s) enrolled in each trial under a pseudonym per "
          "trial (nothing on chain links it to their records); each consent names the "
          "protocol version and its commitment")
    s.say("HEART-2 was amended after its first enrolment (readmission made primary): "
          "version 1, in force at the first enrolment, stays the pre-specified baseline")
    for i, (_, trial, site, pseudonym) in enumerate(people):
        c.client(sites[site]).trials.entry(trial, pseudonym, f"visit {i}".encode())
    s.say(f"{len(people)} case-report entries anchored by the sites' investigators "
          "(salted hashes; the data stays at the site)")
    reports = {}
    for name, trial in trials.items():
        sponsor.lock(trial)
        sponsor.unblind(trial)
        reported = BASELINE if name == "honest" else SWITCHED
        reports[name] = sponsor.results(trial, reported, f"{name} results".encode())
    for name, report in reports.items():
        labelled = ", ".join(f"{o}: {'/'.join(ls)}" for o, ls in sorted(report["labels"]
                                                                           .items()))
        s.say(f"{'HEART-1' if name == 'honest' else 'HEART-2'} results: {labelled}")
    audit = c.client("auditor").trials.export_audit(trials["switching"])
    proven = verify_audit(audit, c.node.key.did)
    document = c.client("auditor").trials.documents.fetch(
        trials["switching"], "protocol", protocols["switching"])
    s.say(f"the regulator fetched HEART-2's protocol v1 from Hanbit's vault "
          f"({len(document)} bytes), checked against its commitment on chain")
    s.say(f"the regulator exported HEART-2's trail ({len(proven['state'])} state entries "
          f"with proofs, {len(audit):,} bytes) and verified it offline against the "
          "validator's key")
    s.outcome.extra["trials"] = {"trials": trials, "reports": reports,
                                 "audit_entries": len(proven["state"])}
