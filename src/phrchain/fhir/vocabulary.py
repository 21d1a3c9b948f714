"""The fixed vocabularies of docs/records.md that FHIR handling maps onto.

They are consensus values ("add, never change"); ``tests/unit/test_fhir_validation.py``
checks these tuples against the text of docs/records.md so the two cannot drift.
"""

from __future__ import annotations

from typing import Final

CATEGORIES: Final[tuple[str, ...]] = (
    "administrative", "allergy", "care-plan", "condition", "device", "diagnostic-report",
    "document", "encounter", "financial", "genomic", "imaging", "immunization",
    "laboratory", "medication", "observation", "other", "procedure", "vital-signs",
)

# HL7 v3 PurposeOfUse codes (system http://terminology.hl7.org/CodeSystem/v3-ActReason).
PURPOSES: Final[tuple[str, ...]] = (
    "CAREMGT", "CLINTRCH", "CLMATTCH", "COVERAGE", "ETREAT", "HLEGAL", "HOPERAT",
    "HPAYMT", "HRESCH", "PATRQT", "PUBHLTH", "TREAT",
)
