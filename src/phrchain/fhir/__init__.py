"""FHIR R4 (4.0.1): validation, synthetic patients, Bundle import/export, mappings.

See README.md in this package for the validation choice and the contract.
"""

from phrchain.fhir.bundle import BundleSplit, PatientRecords, export_bundle, split_bundle
from phrchain.fhir.errors import FhirError
from phrchain.fhir.jsonio import dumps, loads
from phrchain.fhir.mapping import audit_event_id, audit_to_fhir, consent_to_fhir
from phrchain.fhir.synthetic import generate_bundle, generate_patients, identifying_strings
from phrchain.fhir.validation import FHIR_VERSION, RESOURCE_TYPES, category_of, validate
from phrchain.fhir.vocabulary import CATEGORIES, PURPOSES

__all__ = [
    "CATEGORIES",
    "FHIR_VERSION",
    "PURPOSES",
    "RESOURCE_TYPES",
    "BundleSplit",
    "FhirError",
    "PatientRecords",
    "audit_event_id",
    "audit_to_fhir",
    "category_of",
    "consent_to_fhir",
    "dumps",
    "export_bundle",
    "generate_bundle",
    "generate_patients",
    "identifying_strings",
    "loads",
    "split_bundle",
    "validate",
]
