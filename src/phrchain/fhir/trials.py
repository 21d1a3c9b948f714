"""On-chain clinical trials as FHIR R4 ``ResearchStudy``, ``ResearchSubject`` (with its
``Consent``) and ``Provenance``.

R4 has no outcome element, so a trial version's outcomes are the ``goal`` list of a
contained ``PlanDefinition`` the study's ``protocol`` points at: ``goal.id`` the outcome
id, ``description.text`` the measure, ``priority`` high/medium/low for
primary/secondary/other, the time frame and (after results) each COMPare label as
extensions. A participant is only ever its trial pseudonym (``individual`` names that
DID); its ``Consent`` (scope research, purpose HRESCH) names the protocol version and
commitment it consented to. A case-report entry's ``Provenance`` carries the
signatures with their meaning (author, verifier for review, attester for approval) and,
for a correction, the entry it revises and why. Documents and data stay off chain; the
resources carry ids and commitments only. Every output is validated against the R4
schema before it is returned.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Final

from phrchain.fhir.errors import INVALID_TRIAL, FhirError
from phrchain.fhir.mapping import (
    ACT_REASON,
    CONSENT_SCOPE,
    LOINC,
    URI,
    _coding,
    _did_ref,
    _instant,
    _validate_output,
)

PHR_TRIAL: Final = "urn:phrchain:trial"
PHR_ENTRY: Final = "urn:phrchain:trial-entry"
PHR_COMMITMENT: Final = "urn:phrchain:commitment"
EXT_TIME_FRAME: Final = "urn:phrchain:trials:time-frame"
EXT_LABEL: Final = "urn:phrchain:trials:outcome-label"
GOAL_PRIORITY: Final = "http://terminology.hl7.org/CodeSystem/goal-priority"
PROVENANCE_ROLE: Final = "http://terminology.hl7.org/CodeSystem/provenance-participant-type"
SIGNATURE_TYPE: Final = "urn:iso-astm:E1762-95:2013"
_PRIORITY: Final = {"primary": "high-priority", "secondary": "medium-priority",
                    "other": "low-priority"}
# meaning on chain -> (Provenance agent type, ASTM E1762 signature type)
_MEANINGS: Final = {"authorship": ("author", "1.2.840.10065.1.12.1.1"),
                    "review": ("verifier", "1.2.840.10065.1.12.1.5"),
                    "approval": ("attester", "1.2.840.10065.1.12.1.6")}


def _checked(make: Any) -> dict[str, Any]:
    try:
        resource: dict[str, Any] = make()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FhirError(INVALID_TRIAL, f"malformed trial state ({type(exc).__name__})",
                        rule="shape") from None
    _validate_output(resource, INVALID_TRIAL)
    return resource


def _status(trial: Mapping[str, Any]) -> str:
    if trial["reported_height"] is not None:
        return "completed"
    if trial["locked_height"] is not None:
        return "closed-to-accrual-and-intervention"
    return "active"


def _goal(outcome: Mapping[str, Any], labels: Sequence[str]) -> dict[str, Any]:
    return {"id": outcome["id"],
            "extension": [{"url": EXT_TIME_FRAME, "valueString": outcome["time_frame"]},
                          *({"url": EXT_LABEL, "valueCode": label} for label in labels)],
            "description": {"text": outcome["measure"]},
            "priority": {"coding": [_coding(GOAL_PRIORITY, _PRIORITY[outcome["kind"]])]}}


def research_study(trial: Mapping[str, Any], version: Mapping[str, Any],
                   labels: Mapping[str, Sequence[str]] | None = None) -> dict[str, Any]:
    """A trial version as ``ResearchStudy``; ``labels`` (outcome id → labels) from the
    results, if any."""
    def make() -> dict[str, Any]:
        registration = version["registration"]
        outcome_ids = {o["id"] for o in version["outcomes"]}
        added = sorted(set(labels or {}) - outcome_ids)
        plan = {"resourceType": "PlanDefinition", "id": "protocol",
                "identifier": [{"system": PHR_COMMITMENT, "value": version["protocol"]}],
                "version": str(version["version"]), "status": "active",
                "goal": [_goal(o, (labels or {}).get(o["id"], ()))
                         for o in version["outcomes"]]}
        return {
            "resourceType": "ResearchStudy", "id": trial["trial"],
            "contained": [plan],
            "identifier": [{"system": PHR_TRIAL, "value": trial["trial"]},
                           *({"system": URI, "value": f"urn:trial-registry:{r}"}
                             for r in registration["registry_ids"])],
            "title": registration["title"],
            "protocol": [{"reference": "#protocol"}],
            "status": _status(trial),
            "category": [{"text": registration["study_type"]}],
            "condition": [{"text": c} for c in registration["conditions"]],
            "keyword": [{"text": i} for i in registration["interventions"]],
            "location": [{"coding": [_coding("urn:iso:std:iso:3166", c)]}
                         for c in registration["countries"]],
            "description": registration["scientific_title"],
            "period": {"start": _instant(trial["start_ms"])},
            "sponsor": _did_ref(trial["sponsor"], "Organization"),
            "site": [_did_ref(s, "Location") for s in version["sites"]],
            "note": [{"text": f"registered {_instant(trial['registered_ms'])} (block "
                              f"{trial['registered_height']}); protocol version "
                              f"{version['version']}; pre-specified baseline: version "
                              f"{trial['baseline']}"},
                     *({"text": f"outcome {o} was reported but not registered: "
                                f"{', '.join((labels or {})[o])}"} for o in added)],
            "arm": [{"name": a} for a in version["arms"]],
        }
    return _checked(make)


def research_subject(trial: Mapping[str, Any], participant: Mapping[str, Any]
                     ) -> dict[str, Any]:
    """A participant (by its trial pseudonym) with its research ``Consent`` contained."""
    def make() -> dict[str, Any]:
        pseudonym = participant["participant"]
        active = participant["status"] == "active"
        consent = {
            "resourceType": "Consent", "id": "consent",
            "status": "active" if active else "inactive",
            "scope": {"coding": [_coding(CONSENT_SCOPE, "research", "Research")]},
            "category": [{"coding": [_coding(LOINC, "59284-0", "Patient Consent")]}],
            "patient": _did_ref(pseudonym, "Patient"),
            "dateTime": _instant(participant["enrolled_ms"]),
            "policy": [{"uri": f"{PHR_TRIAL}:{trial['trial']}:protocol:"
                               f"{participant['consent_version']}:{participant['protocol']}"}],
            "provision": {"type": "permit",
                          "purpose": [_coding(ACT_REASON, "HRESCH", "research")]},
        }
        return {
            "resourceType": "ResearchSubject", "id": f"{trial['trial'][:16]}-subject",
            "contained": [consent],
            "identifier": [{"system": URI, "value": pseudonym}],
            "status": "on-study" if active else "withdrawn",
            "period": {"start": _instant(participant["enrolled_ms"])},
            "study": {"reference": f"ResearchStudy/{trial['trial']}"},
            "individual": _did_ref(pseudonym, "Patient"),
            "consent": {"reference": "#consent"},
        }
    return _checked(make)


def provenance(trial: str, entry: Mapping[str, Any],
               signatures: Sequence[Mapping[str, Any]] = ()) -> dict[str, Any]:
    """A case-report entry's ``Provenance``: who recorded it when, with each signature's
    meaning, and the entry it corrects."""
    def make() -> dict[str, Any]:
        signed = [{"meaning": "authorship", "signer": entry["signer"],
                   "time_ms": entry["time_ms"]}, *signatures]
        resource: dict[str, Any] = {
            "resourceType": "Provenance", "id": entry["entry"],
            "target": [{"identifier": {"system": PHR_ENTRY,
                                       "value": f"{trial}/{entry['entry']}"}}],
            "recorded": _instant(entry["time_ms"]),
            "agent": [{"type": {"coding": [_coding(PROVENANCE_ROLE,
                                                   _MEANINGS[s["meaning"]][0])]},
                       "who": _did_ref(s["signer"], "Practitioner"),
                       "onBehalfOf": _did_ref(entry["site"], "Organization")}
                      for s in signed],
            "signature": [{"type": [_coding(SIGNATURE_TYPE, _MEANINGS[s["meaning"]][1])],
                           "when": _instant(s["time_ms"]),
                           "who": _did_ref(s["signer"], "Practitioner")}
                          for s in signed],
            "entity": [{"role": "source",
                        "what": {"identifier": {"system": PHR_COMMITMENT,
                                                "value": entry["commitment"]}}}],
        }
        if entry["corrects"] is not None:
            resource["entity"].append({"role": "revision", "what": {"identifier": {
                "system": PHR_ENTRY, "value": f"{trial}/{entry['corrects']}"}}})
            resource["reason"] = [{"text": entry["reason"]}]
        return resource
    return _checked(make)
