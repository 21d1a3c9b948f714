"""phrchain.fhirapi — a FHIR R4 REST facade and SMART on FHIR authorization for a vault
gateway (``docs/fhir-rest.md``). An edge package: the gateway mounts it with
:func:`include_fhir_api`; nothing in core, modules, vault or fhir imports it."""

from phrchain.fhirapi.routes import FhirApi, include_fhir_api

__all__ = ["FhirApi", "include_fhir_api"]
