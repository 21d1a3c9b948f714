"""Stable error codes of the FHIR REST facade (codespace ``fhirapi``) and its SMART on
FHIR authorization (codespace ``smart``). Off chain: never a consensus code. Never
renumber.

::

    PhrError
    └── CodedError
        ├── FhirApiError       a FHIR REST request the facade refuses (an
        │                      OperationOutcome with the HTTP status of STATUS)
        └── SmartError         an authorization refusal (OAuth error body at the token
                               endpoint, OperationOutcome on a FHIR route)

Messages name parameters, types and paths, never values from a record.
"""

from __future__ import annotations

from typing import Final

from phrchain.core.errors import CodedError, ErrorCode, bind_codespace, register

UNKNOWN_TYPE = register("fhirapi", 1, "unknown_type",
                        "the resource type is not served by this FHIR endpoint")
BAD_SEARCH_PARAMETER = register("fhirapi", 2, "bad_search_parameter",
                                "a search parameter is unknown or malformed")
MALFORMED_ID = register("fhirapi", 3, "malformed_id",
                        "a FHIR id is [A-Za-z0-9-.]{1,64}, and this endpoint's ids are "
                        "record ids or patient ids")
NOT_FOUND = register("fhirapi", 4, "not_found", "no such resource here")
GONE = register("fhirapi", 5, "gone", "the resource was erased")
FORBIDDEN = register("fhirapi", 6, "forbidden", "the consent on chain does not permit this")
INVALID_RESOURCE = register("fhirapi", 7, "invalid_resource",
                            "a resource in the request is not valid FHIR R4")
BUNDLE_TOO_LARGE = register("fhirapi", 8, "bundle_too_large",
                            "the Bundle has too many entries or bytes")
BAD_BUNDLE = register("fhirapi", 9, "bad_bundle",
                      "only transaction or batch Bundles are written at [base]")
UNSUPPORTED_FORMAT = register("fhirapi", 10, "unsupported_format",
                              "only application/fhir+json (json) is served")
UNSUPPORTED_INTERACTION = register("fhirapi", 11, "unsupported_interaction",
                                   "this interaction is not supported (see /metadata)")
WRITE_FAILED = register("fhirapi", 12, "write_failed",
                        "the records were not registered on chain")
UNKNOWN_VERSION = register("fhirapi", 13, "unknown_version",
                           "no such version of the resource")
UNSUPPORTED_INCLUDE = register("fhirapi", 16, "unsupported_include",
                               "an _include or _revinclude value is not supported here "
                               "(see searchInclude and searchRevInclude in /metadata)")
BAD_ELEMENTS = register("fhirapi", 17, "bad_elements",
                        "_elements or _summary is malformed, or both are given")

INVALID_TOKEN = register("smart", 1, "invalid_token",
                         "the access token is missing, unknown or expired")
INSUFFICIENT_SCOPE = register("smart", 2, "insufficient_scope",
                              "the token's scopes do not cover this request")
CONSENT_NOT_IN_FORCE = register("smart", 3, "consent_not_in_force",
                                "the consent behind this token is revoked, expired or "
                                "no longer covers the request")
BAD_AUTHORIZATION = register("smart", 4, "bad_authorization",
                             "the authorization request or approval is malformed")
UNKNOWN_APP = register("smart", 5, "unknown_app", "no such registered SMART app")
APPROVAL_REFUSED = register("smart", 6, "approval_refused",
                            "the approval is not signed by the patient or its consent does "
                            "not match the request")


class FhirApiError(CodedError):
    """A FHIR REST request the facade refuses."""


class SmartError(CodedError):
    """A SMART on FHIR authorization refusal."""


bind_codespace("fhirapi", FhirApiError)
bind_codespace("smart", SmartError)

#: HTTP status of each code on a FHIR route.
STATUS: Final[dict[ErrorCode, int]] = {
    UNKNOWN_TYPE: 404, BAD_SEARCH_PARAMETER: 400, MALFORMED_ID: 400, NOT_FOUND: 404,
    GONE: 410, FORBIDDEN: 403, INVALID_RESOURCE: 422, BUNDLE_TOO_LARGE: 413,
    BAD_BUNDLE: 400, UNSUPPORTED_FORMAT: 406, UNSUPPORTED_INTERACTION: 405,
    WRITE_FAILED: 502, UNKNOWN_VERSION: 404, UNSUPPORTED_INCLUDE: 400, BAD_ELEMENTS: 400,
    INVALID_TOKEN: 401, INSUFFICIENT_SCOPE: 403, CONSENT_NOT_IN_FORCE: 403,
    BAD_AUTHORIZATION: 400, UNKNOWN_APP: 400, APPROVAL_REFUSED: 403,
}
