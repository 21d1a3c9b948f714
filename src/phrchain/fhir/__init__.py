"""FHIR R4 (4.0.1): validation, synthetic patients, Bundle import/export, mappings.

See README.md in this package for the validation choice and the contract.
"""

from phrchain.fhir.errors import FhirError
from phrchain.fhir.validation import RESOURCE_TYPES, category_of, validate
from phrchain.fhir.vocabulary import CATEGORIES, PURPOSES

__all__ = [
    "CATEGORIES",
    "PURPOSES",
    "RESOURCE_TYPES",
    "FhirError",
    "category_of",
    "validate",
]
