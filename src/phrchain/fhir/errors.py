"""Stable error codes of FHIR handling (codespace ``fhir``). Never renumber.

::

    PhrError
    └── CodedError
        └── FhirError          every refusal of this package; ``.error`` is one of the
                               codes below, ``.path`` the JSON path (FHIRPath-like, e.g.
                               ``Observation.component[0].code``) when one applies,
                               ``.rule`` the violated rule, ``.entry`` the Bundle entry
                               index when the resource came from a Bundle

Messages name paths and rules, never resource *values*: an error message may reach a
log or a transaction result, and a value may be health data. Off chain: a FHIR refusal
is never a consensus code (TxError).
"""

from __future__ import annotations

from phrchain.core.errors import CodedError, ErrorCode, bind_codespace, register

INVALID_RESOURCE = register("fhir", 1, "invalid_resource",
                            "resource is not valid FHIR R4 (4.0.1)")
UNKNOWN_RESOURCE_TYPE = register("fhir", 2, "unknown_resource_type",
                                 "resourceType is not a FHIR R4 resource type")
INVALID_BUNDLE = register("fhir", 3, "invalid_bundle",
                          "bundle cannot be imported")
UNRESOLVED_REFERENCE = register("fhir", 4, "unresolved_reference",
                                "a urn:uuid reference has no entry in the bundle")
INVALID_CONSENT = register("fhir", 5, "invalid_consent",
                           "consent object cannot be mapped to FHIR Consent")
INVALID_AUDIT_ENTRY = register("fhir", 6, "invalid_audit_entry",
                               "audit leaf cannot be mapped to FHIR AuditEvent")
INVALID_CLAIM = register("fhir", 7, "invalid_claim",
                         "claim cannot be mapped to FHIR Claim, ClaimResponse or "
                         "ExplanationOfBenefit")
INVALID_TRIAL = register("fhir", 8, "invalid_trial",
                         "trial state cannot be mapped to FHIR ResearchStudy, "
                         "ResearchSubject or Provenance")


INVALID_SUPPLY = register("fhir", 9, "invalid_supply",
                          "supply state cannot be mapped to FHIR Medication, "
                          "MedicationDispense or SupplyDelivery")

INVALID_RESEARCH = register("fhir", 10, "invalid_research",
                            "research donation cannot be mapped to FHIR Consent")


class FhirError(CodedError):
    """A FHIR resource, Bundle or mapping input that phrchain refuses."""

    def __init__(self, error: ErrorCode, detail: str = "", *, path: str = "",
                 rule: str = "", entry: int | None = None) -> None:
        super().__init__(error, detail)
        self.path = path
        self.rule = rule
        self.entry = entry


bind_codespace("fhir", FhirError)
