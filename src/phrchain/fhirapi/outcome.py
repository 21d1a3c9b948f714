"""Refusals as FHIR ``OperationOutcome`` with the HTTP status of the code."""

from __future__ import annotations

from typing import Any, Final

from fastapi.responses import JSONResponse

from phrchain.core.errors import CodedError
from phrchain.fhirapi.errors import STATUS
from phrchain.vault import gateway_errors as ge

FHIR_JSON: Final = "application/fhir+json"
ERROR_SYSTEM: Final = "urn:phrchain:error"
REASON_SYSTEM: Final = "urn:phrchain:consent-reason"
_ISSUE: Final = {400: "invalid", 401: "login", 403: "forbidden", 404: "not-found",
                 405: "not-supported", 406: "not-supported", 410: "deleted",
                 413: "too-costly", 422: "invalid", 429: "throttled", 502: "transient",
                 503: "transient"}
_VAULT_STATUS: Final = {ge.RATE_LIMITED: 429, ge.CHAIN_UNAVAILABLE: 503,
                        ge.MALFORMED_REQUEST: 400, ge.ACCESS_DENIED: 403, ge.ERASED: 410}


def fhir_response(body: Any, status: int = 200, headers: dict[str, str] | None = None
                  ) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=FHIR_JSON, headers=headers)


def status_of(exc: CodedError) -> int:
    return STATUS.get(exc.error) or _VAULT_STATUS.get(exc.error, 400)


def outcome(exc: CodedError, *, paths: list[str] | None = None,
            reason: str | None = None) -> JSONResponse:
    status = status_of(exc)
    headers = {"WWW-Authenticate": 'Bearer error="invalid_token"'} if status == 401 else None
    return fhir_response(outcome_body(exc, paths, reason), status, headers)


def outcome_body(exc: CodedError, paths: list[str] | None = None,
                 reason: str | None = None) -> dict[str, Any]:
    status = status_of(exc)
    coding = [{"system": ERROR_SYSTEM, "code": f"{exc.codespace}/{exc.code}",
               "display": exc.error.name}]
    if reason:
        coding.append({"system": REASON_SYSTEM, "code": reason})
    issue: dict[str, Any] = {"severity": "error", "code": _ISSUE.get(status, "exception"),
                             "details": {"coding": coding, "text": exc.log}}
    if paths:
        issue["expression"] = paths
    return {"resourceType": "OperationOutcome", "issue": [issue]}


def crashed() -> JSONResponse:
    return fhir_response({"resourceType": "OperationOutcome", "issue": [{
        "severity": "fatal", "code": "exception",
        "details": {"text": "the request failed inside the gateway"}}]}, 500)
