"""A consortium whose hospital A holds a patient's imported records, for the FHIR REST
facade's tests: SMART backend-services assertions, patient-launch approvals, and plain
HTTP helpers. Everything runs on 127.0.0.1."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
from joserfc import jwk, jwt

from phrchain.client.wallet import Wallet
from phrchain.fhir import generate_bundle
from phrchain.fhirapi.index import patient_id
from phrchain.gateway.service import wall_clock_ms
from phrchain.vault.requests import sign_request
from tests.consortium import A1, HOSPITAL_A, Consortium

DAY_MS = 86_400_000


def base_of(c: Consortium, org: Wallet = HOSPITAL_A) -> str:
    return c.directory[org.did] + "/fhir/"


def assertion(org: Wallet, token_url: str, *, lifetime_s: int = 240) -> str:
    """A private_key_jwt client assertion signed by the organization's chain key."""
    key = jwk.OKPKey.import_key({
        "kty": "OKP", "crv": "Ed25519",
        "x": _b64(org.signing_key.public_key), "d": _b64(org.signing_key.seed)})
    now = int(time.time())
    return jwt.encode({"alg": "Ed25519", "typ": "JWT"},
                      {"iss": org.did, "sub": org.did, "aud": token_url, "iat": now,
                       "exp": now + lifetime_s, "jti": secrets.token_hex(8)},
                      key, algorithms=["Ed25519"])


def backend_token(c: Consortium, org: Wallet, scope: str,
                  base: str | None = None) -> str:
    base = base or base_of(c)
    answer = httpx.post(base + "auth/token", data={
        "grant_type": "client_credentials", "scope": scope,
        "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
        "client_assertion": assertion(org, base + "auth/token")})
    assert answer.status_code == 200, answer.text
    return str(answer.json()["access_token"])


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def import_patient(c: Consortium, patient: Wallet, seed: int, resources: int = 30
                   ) -> dict[str, Any]:
    """A synthetic patient's bundle imported at hospital A by A1: ``{"records", "pid",
    "bundle"}``."""
    bundle = generate_bundle(seed, resources=resources)
    source_pid = next(e["resource"]["id"] for e in bundle["entry"]
                      if e["resource"]["resourceType"] == "Patient")
    records = c.client(A1).records.import_bundle(bundle, {source_pid: patient.did})
    return {"records": records[patient.did], "pid": patient_id(patient.did),
            "bundle": bundle}


def grant(c: Consortium, patient: Wallet, grantee: Wallet, *, purposes: list[str],
          start_ms: int | None = None, end_ms: int | None = None,
          scope: dict[str, Any] | None = None) -> str:
    now = wall_clock_ms()
    return c.client(patient).consent.grant(
        {"kind": "organization", "id": grantee.did}, actions=["read"],
        scope=scope or {"all": True}, purposes=purposes,
        start_ms=now - 60_000 if start_ms is None else start_ms,
        end_ms=now + DAY_MS if end_ms is None else end_ms, share_existing=False)


def get(base: str, path: str, token: str | None, **params: str) -> httpx.Response:
    """A FHIR GET; every FHIR answer (success or OperationOutcome) must parse with
    fhir.resources' strict models (:func:`parses`)."""
    headers = {"Accept": "application/fhir+json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    url = path if path.startswith("http") else base + path
    answer = httpx.get(url, params=params or None, headers=headers, timeout=30)
    if answer.headers.get("content-type", "").startswith("application/fhir+json"):
        parses(answer.json())
    return answer


def parses(body: dict[str, Any]) -> Any:
    """fhir.resources' strict pydantic models accept ``body`` (R4B, the package's
    release nearest R4 4.0.1: nothing served here differs between them), and so do the
    entries of a Bundle."""
    from fhir.resources.R4B import get_fhir_model_class

    model = get_fhir_model_class(body["resourceType"]).model_validate(body)
    for entry in body.get("entry", []) if body["resourceType"] == "Bundle" else ():
        if "resource" in entry:
            get_fhir_model_class(entry["resource"]["resourceType"]).model_validate(
                entry["resource"])
    return model


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()
                                         ).rstrip(b"=").decode()
    return verifier, challenge


def approve(c: Consortium, patient: Wallet, base: str, pending: str, consent: str
            ) -> httpx.Response:
    """The wallet's signed approval of a pending SMART request (what the web UI sends)."""
    url = f"{base}auth/requests/{pending}/approve"
    body = json.dumps({"consent": consent}).encode()
    headers = sign_request(patient.signing_key, patient.did, HOSPITAL_A.did, "POST",
                           urlsplit(url).path, {}, body, wall_clock_ms())
    return httpx.post(url, content=body, headers=headers, timeout=30)


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
