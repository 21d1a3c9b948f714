"""Deterministic synthetic patients as Synthea-style FHIR R4 Bundles.

Everything comes from one ``random.Random`` (UUIDs too), so the same seed and index give
the same bytes on every machine. Names carry Synthea-like digit suffixes
(``Aurelia482 Kessler527``): they look like names and are distinctive enough for a
privacy scan to grep for (:func:`identifying_strings`). No code here reads a clock.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

LOINC: Final = "http://loinc.org"
SNOMED: Final = "http://snomed.info/sct"
RXNORM: Final = "http://www.nlm.nih.gov/research/umls/rxnorm"
CVX: Final = "http://hl7.org/fhir/sid/cvx"
UCUM: Final = "http://unitsofmeasure.org"
OBS_CATEGORY: Final = "http://terminology.hl7.org/CodeSystem/observation-category"
MRN_SYSTEM: Final = "http://hospital.phrchain.example/mrn"
SSN_SYSTEM: Final = "http://hl7.org/fhir/sid/us-ssn"

GIVEN: Final = ("Aurelia", "Benedikt", "Calliope", "Dorian", "Evangeline", "Florian",
                "Genevieve", "Horatio", "Isadora", "Jasper", "Leontine", "Maximilian",
                "Noemi", "Octavian", "Philippa", "Quentin", "Rosalind", "Sebastian",
                "Theodora", "Valentin", "Wilhelmina", "Xavier", "Yolanda", "Zacharias")
FAMILY: Final = ("Abernathy", "Bergstrom", "Castellanos", "Delacroix", "Eriksen",
                 "Fitzgerald", "Gallagher", "Hargreaves", "Ingersoll", "Kessler",
                 "Lindqvist", "Montgomery", "Northcott", "Okonkwo", "Pemberton",
                 "Quiroga", "Rasmussen", "Sandoval", "Thornbury", "Underhill",
                 "Vasquez", "Whitfield", "Yamaguchi", "Zielinski")
STREETS: Final = ("Kessler Orchard", "Marigold Ridge", "Hawthorne Hollow", "Juniper Bluff",
                  "Larkspur Meadow", "Sycamore Landing", "Wintergreen Vale", "Bramblewood")
STREET_KINDS: Final = ("Way", "Lane", "Court", "Drive", "Terrace", "Path")
CITIES: Final = (("Worcester", "MA", "01609"), ("Springfield", "MA", "01103"),
                 ("Burlington", "VT", "05401"), ("Portland", "ME", "04101"),
                 ("Hartford", "CT", "06103"), ("Providence", "RI", "02903"))

CONDITIONS: Final = (("44054006", "Diabetes mellitus type 2 (disorder)"),
                     ("38341003", "Hypertensive disorder, systemic arterial (disorder)"),
                     ("195662009", "Acute viral pharyngitis (disorder)"),
                     ("10509002", "Acute bronchitis (disorder)"),
                     ("40055000", "Chronic sinusitis (disorder)"),
                     ("15777000", "Prediabetes (finding)"),
                     ("233678006", "Childhood asthma (disorder)"))
# (LOINC, display, UCUM unit, low, high, decimals)
VITALS: Final = (("8302-2", "Body Height", "cm", 150.0, 195.0, 1),
                 ("29463-7", "Body Weight", "kg", 48.0, 120.0, 1),
                 ("8867-4", "Heart rate", "/min", 55.0, 100.0, 0),
                 ("9279-1", "Respiratory rate", "/min", 12.0, 20.0, 0),
                 ("8310-5", "Body temperature", "Cel", 36.1, 37.9, 1),
                 ("8480-6", "Systolic blood pressure", "mm[Hg]", 100.0, 160.0, 0))
LABS: Final = (("2339-0", "Glucose [Mass/volume] in Blood", "mg/dL", 70.0, 180.0, 0),
               ("4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "%", 4.5, 9.5, 1),
               ("2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "mg/dL", 140.0,
                260.0, 0),
               ("718-7", "Hemoglobin [Mass/volume] in Blood", "g/dL", 11.0, 17.5, 1),
               ("6690-2", "Leukocytes [#/volume] in Blood by Automated count", "10*3/uL",
                3.5, 11.0, 1))
MEDICATIONS: Final = (("314076", "lisinopril 10 MG Oral Tablet"),
                      ("197361", "amlodipine 5 MG Oral Tablet"),
                      ("860975", "24 HR Metformin hydrochloride 500 MG Extended Release "
                                 "Oral Tablet"),
                      ("617314", "atorvastatin 10 MG Oral Tablet"),
                      ("308182", "amoxicillin 250 MG Oral Capsule"))
PROCEDURES: Final = (("430193006", "Medication Reconciliation (procedure)"),
                     ("710824005", "Assessment of health and social care needs (procedure)"),
                     ("171207006", "Depression screening (procedure)"),
                     ("73761001", "Colonoscopy (procedure)"))
VACCINES: Final = (("140", "Influenza, seasonal, injectable, preservative free"),
                   ("08", "Hep B, adolescent or pediatric"),
                   ("113", "Td (adult) preservative free"),
                   ("133", "Pneumococcal conjugate PCV 13"),
                   ("115", "Tdap"))
ALLERGIES: Final = (("300913006", "Shellfish allergy (disorder)", "food"),
                    ("91935009", "Allergy to peanuts (disorder)", "food"),
                    ("300916003", "Latex allergy (disorder)", "environment"),
                    ("232350006", "House dust mite allergy (disorder)", "environment"))
_DAY = 86_400
_EPOCH_2010 = 1_262_304_000
_EPOCH_2025 = 1_735_689_600


def _cc(system: str, code: str, display: str) -> dict[str, Any]:
    return {"coding": [{"system": system, "code": code, "display": display}],
            "text": display}


def _instant(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class _Builder:
    """Builds one patient's bundle from one rng; ``add`` stamps id and fullUrl."""

    def __init__(self, rng: random.Random, index: int) -> None:
        self.rng = rng
        self.index = index
        self.entries: list[dict[str, Any]] = []

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def add(self, resource: dict[str, Any]) -> str:
        rid = self.uuid()
        resource = {"resourceType": resource.pop("resourceType"), "id": rid, **resource}
        self.entries.append({"fullUrl": f"urn:uuid:{rid}", "resource": resource})
        return f"urn:uuid:{rid}"

    def quantity(self, spec: tuple[str, str, str, float, float, int]) -> dict[str, Any]:
        _, _, unit, low, high, decimals = spec
        value: float | int = round(self.rng.uniform(low, high), decimals)
        if decimals == 0:
            value = int(value)
        return {"value": value, "unit": unit, "system": UCUM, "code": unit}


def _patient(b: _Builder) -> dict[str, Any]:
    rng = b.rng
    given = f"{rng.choice(GIVEN)}{rng.randrange(100, 1000)}"
    middle = f"{rng.choice(GIVEN)}{rng.randrange(100, 1000)}"
    family = f"{rng.choice(FAMILY)}{rng.randrange(100, 1000)}"
    gender = rng.choice(("female", "male"))
    born = _EPOCH_2010 - rng.randrange(0, 80 * 365) * _DAY
    city, state, postal = rng.choice(CITIES)
    return {
        "resourceType": "Patient",
        "identifier": [
            {"use": "usual",
             "type": _cc("http://terminology.hl7.org/CodeSystem/v2-0203", "MR",
                         "Medical Record Number"),
             "system": MRN_SYSTEM, "value": f"MRN-{b.index:04d}{rng.randrange(10**7):07d}"},
            {"use": "official",
             "type": _cc("http://terminology.hl7.org/CodeSystem/v2-0203", "SS",
                         "Social Security Number"),
             "system": SSN_SYSTEM,
             "value": f"999-{rng.randrange(10, 100)}-{rng.randrange(1000, 10000)}"},
        ],
        "name": [{"use": "official", "family": family, "given": [given, middle],
                  "prefix": ["Ms." if gender == "female" else "Mr."]}],
        "telecom": [{"system": "phone", "use": "home",
                     "value": f"555-{rng.randrange(200, 1000)}-{rng.randrange(10000):04d}"}],
        "gender": gender,
        "birthDate": datetime.fromtimestamp(born, tz=UTC).strftime("%Y-%m-%d"),
        "address": [{"use": "home",
                     "line": [f"{rng.randrange(10, 9999)} {rng.choice(STREETS)} "
                              f"{rng.choice(STREET_KINDS)}"],
                     "city": city, "state": state, "postalCode": postal, "country": "US"}],
        "maritalStatus": _cc("http://terminology.hl7.org/CodeSystem/v3-MaritalStatus",
                             "M", "Married"),
    }


def _encounter_group(b: _Builder, patient: str, org: str, pract: str,
                     start: int, first: bool) -> list[Callable[[], str]]:
    """Resources of one visit, as thunks so the caller can stop at an exact count."""
    rng = b.rng
    ref = {"reference": patient}
    state: dict[str, str] = {}
    labs: list[str] = []
    when = _instant(start)

    def encounter() -> str:
        state["enc"] = b.add({
            "resourceType": "Encounter", "status": "finished",
            "class": {"system": "http://terminology.hl7.org/CodeSystem/v3-ActCode",
                      "code": "AMB", "display": "ambulatory"},
            "type": [_cc(SNOMED, "185349003", "Encounter for check up (procedure)")],
            "subject": ref,
            "participant": [{"individual": {"reference": pract}}],
            "period": {"start": when, "end": _instant(start + 1800)},
            "serviceProvider": {"reference": org}})
        return state["enc"]

    def observation(spec: tuple[str, str, str, float, float, int], category: str) -> str:
        return b.add({
            "resourceType": "Observation", "status": "final",
            "category": [_cc(OBS_CATEGORY, category,
                             "vital signs" if category == "vital-signs" else "laboratory")],
            "code": _cc(LOINC, spec[0], spec[1]), "subject": ref,
            "encounter": {"reference": state["enc"]}, "effectiveDateTime": when,
            "issued": _instant(start + 600), "valueQuantity": b.quantity(spec)})

    def vital(spec: tuple[str, str, str, float, float, int]) -> Callable[[], str]:
        return lambda: observation(spec, "vital-signs")

    def lab(spec: tuple[str, str, str, float, float, int]) -> Callable[[], str]:
        def make() -> str:
            labs.append(observation(spec, "laboratory"))
            return labs[-1]
        return make

    def condition() -> str:
        code, display = rng.choice(CONDITIONS)
        return b.add({
            "resourceType": "Condition",
            "clinicalStatus": _cc("http://terminology.hl7.org/CodeSystem/condition-clinical",
                                  "active", "Active"),
            "verificationStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/condition-ver-status", "confirmed",
                "Confirmed"),
            "code": _cc(SNOMED, code, display), "subject": ref,
            "encounter": {"reference": state["enc"]}, "onsetDateTime": when,
            "recordedDate": when})

    def medication() -> str:
        code, display = rng.choice(MEDICATIONS)
        return b.add({
            "resourceType": "MedicationRequest", "status": "active", "intent": "order",
            "medicationCodeableConcept": _cc(RXNORM, code, display), "subject": ref,
            "encounter": {"reference": state["enc"]}, "authoredOn": when,
            "requester": {"reference": pract},
            "dosageInstruction": [{"sequence": 1, "text": "Take one tablet daily",
                                   "timing": {"repeat": {"frequency": 1, "period": 1,
                                                         "periodUnit": "d"}}}]})

    def procedure() -> str:
        code, display = rng.choice(PROCEDURES)
        return b.add({
            "resourceType": "Procedure", "status": "completed",
            "code": _cc(SNOMED, code, display), "subject": ref,
            "encounter": {"reference": state["enc"]},
            "performedPeriod": {"start": when, "end": _instant(start + 900)}})

    def immunization() -> str:
        code, display = rng.choice(VACCINES)
        return b.add({
            "resourceType": "Immunization", "status": "completed",
            "vaccineCode": _cc(CVX, code, display), "patient": ref,
            "encounter": {"reference": state["enc"]}, "occurrenceDateTime": when,
            "primarySource": True})

    def allergy() -> str:
        code, display, category = rng.choice(ALLERGIES)
        return b.add({
            "resourceType": "AllergyIntolerance",
            "clinicalStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                "active", "Active"),
            "verificationStatus": _cc(
                "http://terminology.hl7.org/CodeSystem/allergyintolerance-verification",
                "confirmed", "Confirmed"),
            "type": "allergy", "category": [category], "criticality": "low",
            "code": _cc(SNOMED, code, display), "patient": ref, "recordedDate": when})

    def report() -> str:
        return b.add({
            "resourceType": "DiagnosticReport", "status": "final",
            "category": [_cc("http://terminology.hl7.org/CodeSystem/v2-0074", "LAB",
                             "Laboratory")],
            "code": _cc(LOINC, "51990-0", "Basic metabolic panel - Blood"),
            "subject": ref, "encounter": {"reference": state["enc"]},
            "effectiveDateTime": when, "issued": _instant(start + 3600),
            "performer": [{"reference": org}],
            "result": [{"reference": r} for r in labs]})

    group: list[Callable[[], str]] = [encounter]
    group += [vital(spec) for spec in rng.sample(VITALS, 4)]
    group += [condition, medication, procedure]
    if first or rng.random() < 0.5:
        group.append(immunization)
    if first:
        group.append(allergy)
    group += [lab(spec) for spec in rng.sample(LABS, 2)] + [report]
    return group


def generate_bundle(rng_or_seed: random.Random | int, index: int = 0, *,
                    resources: int = 30, bundle_type: str = "transaction") -> dict[str, Any]:
    """One synthetic patient as a FHIR Bundle of exactly ``resources`` entries.

    Entries: the Patient, an Organization and a Practitioner (shared resources), then
    visits (Encounter, vital signs, Condition, MedicationRequest, Procedure,
    Immunization, AllergyIntolerance, lab Observations, DiagnosticReport) until the count
    is reached. ``bundle_type`` is ``transaction`` (entries carry ``request: POST``),
    ``batch`` or ``collection``. An int seed is combined with ``index``; a given
    ``random.Random`` is used as is.
    """
    if resources < 4:
        raise ValueError("a synthetic bundle needs at least 4 resources")
    if bundle_type not in ("transaction", "batch", "collection"):
        raise ValueError("bundle_type must be transaction, batch or collection")
    rng = (rng_or_seed if isinstance(rng_or_seed, random.Random)
           else random.Random(f"phrchain/fhir/synthetic/{rng_or_seed}/{index}"))  # noqa: S311
    b = _Builder(rng, index)
    patient = b.add(_patient(b))
    org = b.add({
        "resourceType": "Organization", "active": True, "name": "Hawthorne Community Clinic",
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                        "value": f"{rng.randrange(10**9, 2 * 10**9)}"}],
        "type": [_cc("http://terminology.hl7.org/CodeSystem/organization-type", "prov",
                     "Healthcare Provider")]})
    pract = b.add({
        "resourceType": "Practitioner", "active": True,
        "identifier": [{"system": "http://hl7.org/fhir/sid/us-npi",
                        "value": f"{rng.randrange(10**9, 2 * 10**9)}"}],
        "name": [{"family": rng.choice(FAMILY), "given": [rng.choice(GIVEN)],
                  "prefix": ["Dr."]}]})
    start = rng.randrange(_EPOCH_2010, _EPOCH_2025)
    first = True
    while len(b.entries) < resources:
        for make in _encounter_group(b, patient, org, pract, start, first):
            if len(b.entries) >= resources:
                break
            make()
        start += rng.randrange(30, 400) * _DAY
        first = False
    if bundle_type != "collection":
        for entry in b.entries:
            entry["request"] = {"method": "POST", "url": entry["resource"]["resourceType"]}
    return {"resourceType": "Bundle", "id": b.uuid(), "type": bundle_type,
            "entry": b.entries}


def generate_patients(n: int, seed: int, resources_per_patient: int = 30, *,
                      bundle_type: str = "transaction") -> list[dict[str, Any]]:
    """``n`` patient bundles; patient ``i`` is ``generate_bundle(seed, i, ...)``."""
    return [generate_bundle(seed, i, resources=resources_per_patient, bundle_type=bundle_type)
            for i in range(n)]


def identifying_strings(bundle: Mapping[str, Any]) -> list[str]:
    """What a privacy scan must not find on chain or in logs for this bundle's patients:
    names (each part and given+family), birth dates, address lines, identifier values
    and telecom values. Sorted and unique."""
    found: set[str] = set()
    for entry in bundle.get("entry", []):
        resource = entry.get("resource", {})
        if resource.get("resourceType") != "Patient":
            continue
        for name in resource.get("name", []):
            parts = [*name.get("given", []), name.get("family", "")]
            found.update(p for p in parts if p)
            if name.get("given") and name.get("family"):
                found.add(f"{name['given'][0]} {name['family']}")
        if resource.get("birthDate"):
            found.add(resource["birthDate"])
        for address in resource.get("address", []):
            found.update(address.get("line", []))
        found.update(i["value"] for i in resource.get("identifier", []) if i.get("value"))
        found.update(t["value"] for t in resource.get("telecom", []) if t.get("value"))
    return sorted(found)
