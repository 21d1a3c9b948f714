"""What this endpoint says about itself: the CapabilityStatement (``GET /metadata``)
and the SMART configuration (``/.well-known/smart-configuration``), built from the same
tables the routes use, so they cannot drift apart."""

from __future__ import annotations

from typing import Any, Final

from phrchain.fhirapi.include import REFERENCES
from phrchain.fhirapi.search import SERVED_TYPES, parameters

SOFTWARE_VERSION: Final = "1"
PUBLISHED: Final = "2026-12-07"
OAUTH_URIS: Final = "http://fhir-registry.smarthealthit.org/StructureDefinition/oauth-uris"
SCOPES: Final = ["patient/*.rs", "patient/*.read", "system/*.rs", "system/*.read",
                 "system/*.cud", "launch/patient", "offline_access", "online_access",
                 "purpose/TREAT", "purpose/PATRQT"]


def smart_configuration(base: str) -> dict[str, Any]:
    return {
        "issuer": base.rstrip("/"),
        "authorization_endpoint": base + "auth/authorize",
        "token_endpoint": base + "auth/token",
        "token_endpoint_auth_methods_supported": ["private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["Ed25519"],
        "grant_types_supported": ["authorization_code", "client_credentials",
                                  "refresh_token"],
        "scopes_supported": SCOPES,
        "response_types_supported": ["code"],
        "code_challenge_methods_supported": ["S256"],
        "capabilities": ["launch-standalone", "client-public", "client-confidential-asymmetric",
                         "context-standalone-patient", "permission-patient",
                         "permission-v1", "permission-v2",
                         "permission-offline", "permission-online"],
    }


def capability_statement(base: str) -> dict[str, Any]:
    resources = [_resource(t) for t in sorted(SERVED_TYPES)]
    resources.append({"type": "AuditEvent", "interaction": [{"code": "search-type"}],
                      "searchParam": [{"name": n, "type": t} for n, t in
                                      (("patient", "reference"), ("date", "date"),
                                       ("entity", "reference"), ("agent", "reference"))]})
    return {
        "resourceType": "CapabilityStatement", "status": "active", "date": PUBLISHED,
        "kind": "instance", "fhirVersion": "4.0.1",
        "software": {"name": "phrchain vault gateway", "version": SOFTWARE_VERSION},
        "implementation": {"description": "phrchain FHIR R4 facade: every answer decided "
                                          "by the patient's consent on chain and audited",
                           "url": base.rstrip("/")},
        "format": ["application/fhir+json", "json"],
        "rest": [{
            "mode": "server",
            "security": {
                "service": [{"coding": [{
                    "system": "http://terminology.hl7.org/CodeSystem/restful-security-service",
                    "code": "SMART-on-FHIR"}]}],
                "extension": [{"url": OAUTH_URIS, "extension": [
                    {"url": "authorize", "valueUri": base + "auth/authorize"},
                    {"url": "token", "valueUri": base + "auth/token"}]}],
                "description": "SMART App Launch 2.x (standalone patient launch, PKCE S256) "
                               "and Backend Services (private_key_jwt, Ed25519)"},
            "resource": resources,
            "interaction": [{"code": "transaction"}, {"code": "batch"}],
            "operation": [{"name": "everything",
                           "definition": "http://hl7.org/fhir/OperationDefinition/"
                                         "Patient-everything"}],
        }],
    }


def _resource(resource_type: str) -> dict[str, Any]:
    # search-type: GET [type]?… or POST [type]/_search
    interactions = [{"code": "read"}, {"code": "vread"}, {"code": "search-type"}]
    out: dict[str, Any] = {
        "type": resource_type, "interaction": interactions, "versioning": "versioned",
        "readHistory": False, "updateCreate": False,
        "searchParam": [{"name": n, "type": t} for n, t in parameters(resource_type)],
    }
    if resource_type == "Patient":  # _include / _revinclude (include.py)
        out["searchRevInclude"] = [f"{t}:{r}" for t in sorted(SERVED_TYPES - {"Patient"})
                                   for r in REFERENCES]
    else:
        out["searchInclude"] = ["*", *(f"{resource_type}:{r}" for r in REFERENCES)]
    if resource_type == "Patient":
        out["operation"] = [{"name": "everything", "definition":
                             "http://hl7.org/fhir/OperationDefinition/Patient-everything"}]
    return out
