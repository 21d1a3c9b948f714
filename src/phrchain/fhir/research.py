"""A research donation (``modules/research`` state) as a FHIR R4 ``Consent``: scope
``research``, purpose HRESCH, the DUO permission and modifiers as codings (with their
parameters as text), the donated records as ``provision.data``.

The patient is the donor pseudonym's DID (the only name the chain knows)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from phrchain.fhir.errors import INVALID_RESEARCH, FhirError
from phrchain.fhir.mapping import (
    ACT_CODE,
    ACT_REASON,
    CONSENT_SCOPE,
    LOINC,
    PHR_RECORD,
    _coding,
    _did_ref,
    _instant,
)

DUO: Final = "http://purl.obolibrary.org/obo/duo.owl"
MONDO: Final = "http://purl.obolibrary.org/obo/mondo.owl"
PHR_DONATION: Final = "urn:phrchain:research:donation"

__all__ = ["DUO", "MONDO", "donation_to_fhir"]


def donation_to_fhir(donation: Mapping[str, Any], terms: Mapping[str, Any]) -> dict[str, Any]:
    """``donation``: a ``research/donation`` answer; ``terms``: the DUO table of the
    parameters version it is pinned to (``research/params``' ``terms``)."""
    try:
        return _consent(donation, terms)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FhirError(INVALID_RESEARCH, f"malformed donation ({type(exc).__name__})",
                        rule="shape") from None


def _duo(code: str, terms: Mapping[str, Any], param: Any = None) -> dict[str, Any]:
    entry = terms["codes"][code]
    concept: dict[str, Any] = {"coding": [_coding(DUO, entry["id"], entry["label"])]}
    concept["text"] = code if param is None else f"{code} {_param_text(param)}"
    return concept


def _param_text(param: Any) -> str:
    return ",".join(str(p) for p in param) if isinstance(param, list) else str(param)


def _consent(donation: Mapping[str, Any], terms: Mapping[str, Any]) -> dict[str, Any]:
    if donation["status"] not in ("active", "revoked"):
        raise FhirError(INVALID_RESEARCH, "status must be active or revoked", path="status",
                        rule="enum")
    permission = donation["permission"]
    codes = [_duo(permission["code"], terms)]
    if permission["code"] == "DS":
        codes[0]["coding"].append(_coding(MONDO, permission["disease"]))
    codes += [_duo(m["code"], terms, m.get("param")) for m in donation["modifiers"]]
    provision: dict[str, Any] = {
        "type": "permit",
        "period": {"start": _instant(donation["period"]["start_ms"]),
                   "end": _instant(donation["period"]["end_ms"])},
        "purpose": [_coding(ACT_REASON, "HRESCH", "health research")],
        "code": codes}
    if "records" in donation["scope"]:
        provision["data"] = [{"meaning": "instance", "reference": {
            "identifier": {"system": PHR_RECORD, "value": r}}}
            for r in donation["scope"]["records"]]
    donor = str(donation["donor"])
    version = int(donation["version"])
    return {
        "resourceType": "Consent",
        "id": f"donation-{version}",
        "identifier": [{"system": PHR_DONATION, "value": f"{donor}#{version}"}],
        "status": "active" if donation["status"] == "active" else "inactive",
        "scope": {"coding": [_coding(CONSENT_SCOPE, "research", "Research")]},
        "category": [{"coding": [_coding(LOINC, "59284-0", "Patient Consent")]}],
        "patient": _did_ref(donor, "Patient"),
        "dateTime": _instant(int(donation["time_ms"])),
        "performer": [_did_ref(donor, "Patient")],
        "policy": [{"uri": f"urn:phrchain:research:terms:{terms['release']}".replace(" ",
                                                                                      "-")}],
        "policyRule": {"coding": [_coding(ACT_CODE, "OPTIN", "opt-in")]},
        "provision": provision,
    }
