"""The demo's research-donation story (issue 17): two patients donate their Hanbit
records under different DUO terms, an AI institute registers a diabetes study, the
chain matches its request against every donor (one included, one excluded with its
reason, both provable), Hanbit's vault de-identifies and releases the dataset through
its release route with the manifest on chain, and each patient obtains the proof that
their data was — or was not — used."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Final

from phrchain.client.research import prove, verify_proof
from phrchain.deid import default_config
from phrchain.modules.research.messages import RegisterStudy
from phrchain.research.vault import open_for_study

if TYPE_CHECKING:
    from phrchain.demo.scenario import Scenario

DAY_MS: Final = 86_400_000
T2D: Final = "MONDO:0005148"      # type 2 diabetes mellitus
ASTHMA: Final = "MONDO:0004979"


def _study(s: Scenario, study: str) -> RegisterStudy:
    return RegisterStudy(
        study=study, purpose={"code": "DS", "disease": T2D}, for_profit=False,
        commercial=False, country="KR", genetic=False, publish=True, returns=False,
        methods=False, clinical_care=False, publication_ms=0, duration_months=12,
        collaborators=(), users=(s.c.did("researcher"),),
        protocol=hashlib.sha256(b"Gaon T2D risk model protocol v1").hexdigest(), k=1, l=1,
        irb=None)


def _config() -> dict[str, Any]:
    """The default Safe Harbor + Korean configuration; a demo of one included donor can
    only reach k = l = 1 (a real release: the chain's floor, k >= 5)."""
    raw: dict[str, Any] = json.loads(json.dumps(default_config().raw))
    raw["parameters"].update({"quasiIdentifiers": ["Patient.gender"], "k": 1, "l": 1})
    return raw


def research_donation(s: Scenario) -> None:
    from phrchain.demo.scenario import now_ms, short

    c = s.c
    s.title("Research donation: DUO terms, matching on chain, a de-identified release, "
            "a proof for every donor")
    donors = {s.patient(1): {"code": "HMB"}}
    if s.n > 1:
        donors[s.patient(2)] = {"code": "DS", "disease": ASTHMA}
    start = now_ms()
    for name, permission in donors.items():
        s.at_hanbit(name).research.donate(permission, [{"code": "NPU"}], {"all": True},
                                          start, start + 365 * DAY_MS)
    s.say("patient 1 donated their Hanbit records for health/medical research (HMB), not "
          "for profit (NPU)" + ("; patient 2 for asthma research only (DS "
                                f"{ASTHMA}, NPU)" if s.n > 1 else ""))
    institute = c.client("researcher").research
    study = hashlib.sha256(b"demo study").hexdigest()[:32]
    institute.register_study(_study(s, study))
    request = institute.request(study)
    s.say(f"Gaon Medical AI Institute registered a not-for-profit study of type 2 "
          f"diabetes ({T2D}); its data request matched {request['included']} donor(s) "
          f"included, {request['excluded']} excluded")
    for name in donors:
        outcome = c.client("researcher").session.q(
            "research/outcome", request=request["request"], donor=c.pseudonym(name,
                                                                               "hospital_a"))
        reason = f" ({outcome['reason']})" if outcome["reason"] else ""
        s.say(f"  {name.replace('_', ' ')} ({s.alias(name)}): {outcome['outcome']}{reason}")
    dataset = hashlib.sha256(b"demo dataset").hexdigest()[:32]
    vault = c.client("privacy").session.vault(c.did("hospital_a"))
    released = vault.research_release(request["request"], dataset, 2026,
                                      "2026-01-01T00:00:00Z", _config())
    manifest, report = released["manifest"], released["report"]
    s.say(f"Hanbit's privacy officer had its vault release dataset {short(dataset)}: "
          f"{manifest['resources']} de-identified resources of {manifest['leaves']} "
          f"records, k = {manifest['k']}, l = {manifest['l']}; the manifest (Merkle "
          "roots, configuration hash, key commitment, approver) is on chain")
    sealed = c.client("researcher").session.vault(c.did("hospital_a")).research_package(
        dataset)
    files = open_for_study(sealed, c.wallets["institute"].encryption_key)
    s.say(f"the institute opened the dataset sealed for it: {', '.join(sorted(files))} "
          f"(residual-identifier findings: {len(report['residual_findings'])})")
    uses = s.at_hanbit(s.patient(1)).research.uses()
    s.say(f"patient 1's Research page lists {len(uses)} study: "
          f"{', '.join(short(u['study']['study']) for u in uses)}")
    proofs = {}
    for name in donors:
        record = s.outcome.records[name][0]
        proven = verify_proof(prove(c.client("researcher").node, dataset, record),
                              c.node.key.did)
        proofs[name] = proven["included"]
        kind = "inclusion" if proven["included"] else "exclusion"
        s.say(f"{name.replace('_', ' ')} obtained an {kind} proof for one of their "
              f"records at height {proven['height']}, verified offline against the "
              "validator's key")
    s.outcome.extra["research"] = {"study": study, "dataset": dataset,
                                   "included": request["included"],
                                   "excluded": request["excluded"], "proofs": proofs}
