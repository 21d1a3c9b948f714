"""On-chain consents and audit leaves as FHIR R4 ``Consent`` and ``AuditEvent``.

Identities are DIDs, written as identifier references (system ``urn:ietf:rfc:3986``,
value the DID); phrchain's own ids and codes use ``urn:phrchain:<kind>`` systems so the
mapping is lossless. Both outputs are validated before they are returned. See README.md
for the element-by-element table.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from phrchain.fhir.errors import INVALID_AUDIT_ENTRY, INVALID_CONSENT, FhirError
from phrchain.fhir.validation import validate
from phrchain.fhir.vocabulary import PURPOSES

URI: Final = "urn:ietf:rfc:3986"
ACT_REASON: Final = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
ACT_CODE: Final = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONSENT_SCOPE: Final = "http://terminology.hl7.org/CodeSystem/consentscope"
CONSENT_ACTION: Final = "http://terminology.hl7.org/CodeSystem/consentaction"
PARTICIPATION: Final = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
LOINC: Final = "http://loinc.org"
DCM: Final = "http://dicom.nema.org/resources/ontology/DCM"
RESTFUL: Final = "http://hl7.org/fhir/restful-interaction"
SOURCE_TYPE: Final = "http://terminology.hl7.org/CodeSystem/security-source-type"
ENTITY_TYPE: Final = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
OBJECT_ROLE: Final = "http://terminology.hl7.org/CodeSystem/object-role"
# phrchain's own code systems and identifier systems.
PHR_ACTION: Final = "urn:phrchain:action"
PHR_ROLE: Final = "urn:phrchain:role"
PHR_CONSENT: Final = "urn:phrchain:consent"
PHR_RECORD: Final = "urn:phrchain:record"
PHR_FLAG: Final = "urn:phrchain:flag"

CONSENT_ACTIONS: Final = {"read": "access", "pull": "disclose", "push": "disclose"}
AUDIT_ACTIONS: Final = {"read": "R", "view": "R", "pull": "R", "push": "R", "break_glass": "E"}
GRANTEE_TYPES: Final = {"practitioner": "Practitioner", "organization": "Organization"}


def _instant(ms: int) -> str:
    """A FHIR instant/dateTime in UTC with millisecond precision."""
    if isinstance(ms, bool) or not isinstance(ms, int) or ms < 0:
        raise ValueError("time must be a non-negative integer of milliseconds")
    return (datetime.fromtimestamp(ms // 1000, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
            + f".{ms % 1000:03d}Z")


def _did_ref(did: str, resource_type: str | None = None) -> dict[str, Any]:
    ref: dict[str, Any] = {"identifier": {"system": URI, "value": did}}
    if resource_type:
        ref["type"] = resource_type
    return ref


def _coding(system: str, code: str, display: str | None = None) -> dict[str, str]:
    out = {"system": system, "code": code}
    if display:
        out["display"] = display
    return out


def _require(obj: Mapping[str, Any], fields: Iterable[str], error: Any) -> None:
    for field in fields:
        if field not in obj:
            raise FhirError(error, f"missing field '{field}'", path=field, rule="required")


def _strings(value: Any, field: str, error: Any, allowed: Iterable[str] | None = None
             ) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise FhirError(error, f"'{field}' must be a list of strings", path=field, rule="type")
    if allowed is not None:
        unknown = sorted(set(value) - set(allowed))
        if unknown:
            raise FhirError(error, f"'{field}' has unknown values", path=field, rule="enum")
    return list(value)


def consent_to_fhir(consent: Mapping[str, Any], *, patient_did: str) -> dict[str, Any]:
    """The FHIR R4 ``Consent`` for an on-chain consent state object.

    ``consent`` holds the ``consent/grant`` fields (``consent``, ``grantee``,
    ``actions``, ``scope``, ``purposes``, ``period``) plus ``patient``, ``status``
    (``active`` | ``revoked``), ``granted_height`` and optionally ``revoked_height``.
    """
    try:
        return _consent(consent, patient_did)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FhirError(INVALID_CONSENT, f"malformed consent ({type(exc).__name__})",
                        rule="shape") from None


def _consent(consent: Mapping[str, Any], patient_did: str) -> dict[str, Any]:
    _require(consent, ("consent", "grantee", "actions", "scope", "purposes", "period",
                       "status"), INVALID_CONSENT)
    if consent.get("patient", patient_did) != patient_did:
        raise FhirError(INVALID_CONSENT, "consent belongs to another patient",
                        path="patient", rule="patient")
    if consent["status"] not in ("active", "revoked"):
        raise FhirError(INVALID_CONSENT, "status must be active or revoked", path="status",
                        rule="enum")
    actions = _strings(consent["actions"], "actions", INVALID_CONSENT, CONSENT_ACTIONS)
    purposes = _strings(consent["purposes"], "purposes", INVALID_CONSENT, PURPOSES)
    provision: dict[str, Any] = {"type": "permit"}
    period = consent["period"]
    provision["period"] = {"start": _instant(period["start_ms"])}
    if period.get("end_ms") is not None:
        provision["period"]["end"] = _instant(period["end_ms"])
    provision["actor"] = [_actor(consent["grantee"])]
    provision["action"] = [
        {"coding": [_coding(CONSENT_ACTION, CONSENT_ACTIONS[a]), _coding(PHR_ACTION, a)]}
        for a in actions]
    provision["purpose"] = [_coding(ACT_REASON, p) for p in purposes]
    provision.update(_scope(consent["scope"]))
    resource = {
        "resourceType": "Consent",
        "id": consent["consent"],
        "identifier": [{"system": PHR_CONSENT, "value": consent["consent"]}],
        "status": "active" if consent["status"] == "active" else "inactive",
        "scope": {"coding": [_coding(CONSENT_SCOPE, "patient-privacy", "Privacy Consent")]},
        "category": [{"coding": [_coding(LOINC, "59284-0", "Patient Consent")]}],
        "patient": _did_ref(patient_did, "Patient"),
        "performer": [_did_ref(patient_did, "Patient")],
        # ppc-1: a privacy consent needs a policy or policyRule; the patient opts in.
        "policyRule": {"coding": [_coding(ACT_CODE, "OPTIN", "opt-in")]},
        "provision": provision,
    }
    _validate_output(resource, INVALID_CONSENT)
    return resource


def _validate_output(resource: Mapping[str, Any], error: Any) -> None:
    """Input that maps to an invalid resource (e.g. an id FHIR cannot carry) is the
    input's fault: report it under the mapping's own code, with the FHIR path."""
    try:
        validate(resource)
    except FhirError as exc:
        raise FhirError(error, exc.detail, path=exc.path, rule=exc.rule) from None


def _actor(grantee: Mapping[str, Any]) -> dict[str, Any]:
    kind = grantee["kind"]
    recipient = _coding(PARTICIPATION, "IRCP", "information recipient")
    if kind in GRANTEE_TYPES:
        return {"role": {"coding": [recipient]},
                "reference": _did_ref(str(grantee["id"]), GRANTEE_TYPES[kind])}
    if kind != "role":
        raise FhirError(INVALID_CONSENT, "grantee kind must be practitioner, organization "
                        "or role", path="grantee.kind", rule="enum")
    role = str(grantee["id"])
    actor: dict[str, Any] = {"role": {"coding": [recipient, _coding(PHR_ROLE, role)]}}
    if grantee.get("organization"):
        # Anyone holding the role within that organization.
        actor["reference"] = _did_ref(str(grantee["organization"]), "Organization")
    else:
        actor["reference"] = {"display": f"any holder of role {role}"}
    return actor


def _scope(scope: Mapping[str, Any]) -> dict[str, Any]:
    """All: no restriction. Else record ids → ``data`` (meaning ``instance``, referenced
    by identifier). A consent's scope names nothing else (no resource type or category
    is on chain: ``modules/consent``)."""
    if scope.get("all") is True:
        return {}
    if set(scope) != {"records"}:
        raise FhirError(INVALID_CONSENT, "scope must be all or name record ids",
                        path="scope", rule="scope")
    records = _strings(scope["records"], "scope.records", INVALID_CONSENT)
    return {"data": [{"meaning": "instance",
                      "reference": {"identifier": {"system": PHR_RECORD, "value": r}}}
                     for r in records]}


def audit_event_id(patient_did: str, index: int) -> str:
    """Stable AuditEvent id for a leaf: the patient's log position, hashed (no DID in
    the id, which may travel in URLs)."""
    return hashlib.sha256(f"{patient_did}/{index}".encode()).hexdigest()[:32]


def audit_to_fhir(leaf: Mapping[str, Any], *, time_ms: int) -> dict[str, Any]:
    """The FHIR R4 ``AuditEvent`` for one audit leaf; ``time_ms`` is the block time of
    the leaf's inclusion height (``recorded``)."""
    try:
        return _audit(leaf, time_ms)
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise FhirError(INVALID_AUDIT_ENTRY, f"malformed audit leaf ({type(exc).__name__})",
                        rule="shape") from None


def _audit(leaf: Mapping[str, Any], time_ms: int) -> dict[str, Any]:
    _require(leaf, ("record", "accessor", "action", "purpose", "decision", "reason",
                    "consent", "break_glass", "request", "at", "patient", "vault",
                    "height", "index"), INVALID_AUDIT_ENTRY)
    action = leaf["action"]
    if action not in AUDIT_ACTIONS:
        raise FhirError(INVALID_AUDIT_ENTRY, "unknown action", path="action", rule="enum")
    if leaf["decision"] not in ("permit", "deny"):
        raise FhirError(INVALID_AUDIT_ENTRY, "decision must be permit or deny",
                        path="decision", rule="enum")
    break_glass = leaf["break_glass"] is True or action == "break_glass"
    purposes = [leaf["purpose"]] if leaf["purpose"] else []
    if break_glass and "ETREAT" not in purposes:
        purposes.append("ETREAT")
    purpose_of_use = [{"coding": [_coding(ACT_REASON, p)]} for p in purposes]
    subtype = [_coding(PHR_ACTION, action)]
    if action in ("read", "view", "break_glass"):
        subtype.append(_coding(RESTFUL, "read"))
    if break_glass:
        subtype.append(_coding(PHR_FLAG, "break-glass", "emergency access without consent"))
    details = [{"type": "decided_at_height", "valueString": str(leaf["at"])},
               {"type": "log_height", "valueString": str(leaf["height"])},
               {"type": "log_index", "valueString": str(leaf["index"])},
               {"type": "request_sha256", "valueString": str(leaf["request"])}]
    if leaf["consent"]:
        details.append({"type": "consent", "valueString": str(leaf["consent"])})
    for optional in ("client", "grant", "batch", "released"):  # audit_seal.OPTIONAL_FIELDS
        if leaf.get(optional):
            details.append({"type": optional, "valueString": str(leaf[optional])})
    agent: dict[str, Any] = {"who": _did_ref(str(leaf["accessor"])), "requestor": True}
    if purpose_of_use:
        agent["purposeOfUse"] = purpose_of_use
    resource: dict[str, Any] = {
        "resourceType": "AuditEvent",
        "id": audit_event_id(str(leaf["patient"]), int(leaf["index"])),
        "type": _coding(DCM, "110110", "Patient Record"),
        "subtype": subtype,
        "action": AUDIT_ACTIONS[action],
        "recorded": _instant(time_ms),
        "outcome": "0" if leaf["decision"] == "permit" else "4",
        "outcomeDesc": str(leaf["reason"]),
        "agent": [agent],
        "source": {"observer": _did_ref(str(leaf["vault"]), "Organization"),
                   "type": [_coding(SOURCE_TYPE, "4", "Application Server")]},
        "entity": [
            {"what": {"identifier": {"system": PHR_RECORD, "value": str(leaf["record"])}},
             "type": _coding(ENTITY_TYPE, "2", "System Object"),
             "role": _coding(OBJECT_ROLE, "4", "Domain Resource"),
             "detail": details},
            {"what": _did_ref(str(leaf["patient"]), "Patient"),
             "type": _coding(ENTITY_TYPE, "1", "Person"),
             "role": _coding(OBJECT_ROLE, "1", "Patient")},
        ],
    }
    if purpose_of_use:
        resource["purposeOfEvent"] = purpose_of_use
    _validate_output(resource, INVALID_AUDIT_ENTRY)
    return resource
