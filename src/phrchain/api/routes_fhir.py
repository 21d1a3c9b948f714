"""FHIR R4 views of chain objects (consents, claims), read through queries; the FHIR
code is imported per request, so a node that never serves these routes never loads it.

Audit entries have no view here: they are sealed on chain, and only a reader holding a
key they are wrapped to makes AuditEvents of them (``phrchain audit log --open --fhir``,
``fhir.mapping.audit_to_fhir`` over ``AuditClient.log``)."""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from fastapi.responses import Response

from phrchain.api.deps import ERRORS, Api
from phrchain.core.errors import NOT_FOUND as QUERY_NOT_FOUND

router = APIRouter(prefix="/v1", responses=ERRORS)


@router.get("/fhir/Consent/{consent}", tags=["fhir"])
def fhir_consent(consent: str, api: Api) -> dict[str, Any]:
    """A consent as a FHIR R4 ``Consent`` resource."""
    from phrchain.fhir.mapping import consent_to_fhir

    value = api.node.query("consent/get", {"consent": consent})["value"]
    if value is None:
        raise QUERY_NOT_FOUND(consent)
    return consent_to_fhir(value, patient_did=value["patient"])


@router.get("/fhir/{resource_type}/{claim}", tags=["fhir"])
def fhir_claim(resource_type: Literal["Claim", "ClaimResponse", "ExplanationOfBenefit"],
               claim: str, api: Api) -> Response:
    """A claim as a FHIR R4 ``Claim``, ``ClaimResponse`` or ``ExplanationOfBenefit``.
    Codes appear as the tags the chain holds (``urn:phrchain:code-tag``): only the
    insurer's product key turns them back into codes (``phrchain claims show --fhir``)."""
    from phrchain.fhir.claims import claim_resources
    from phrchain.fhir.jsonio import dumps
    from phrchain.modules.claims.reasons import REASONS

    c = api.node.query("claims/claim", {"claim": claim})["value"]
    if c is None:
        raise QUERY_NOT_FOUND(claim)
    product = api.node.query("claims/product", {"insurer": c["insurer"],
                                                "product": c["product"],
                                                "version": str(c["version"])})["value"]
    bill = api.node.query("settlement/bill", {"bill": c["bill"]})["value"]

    def time_of(height: int) -> int:
        signed = api.node.header(height)
        return signed.header.time_ms if signed is not None else 0

    resources = claim_resources(
        c, currency=product["currency"], provider=bill["provider"],
        created_ms=time_of(c["filed_height"]),
        decided_ms=time_of(c.get("decided_height") or c["filed_height"]),
        reasons={k: str(v) for k, v in REASONS.items()})
    return Response(dumps(resources[resource_type]), media_type="application/fhir+json")
