"""Consent → FHIR Consent and audit leaf → FHIR AuditEvent."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from phrchain.fhir import FhirError, validate
from phrchain.fhir.mapping import audit_event_id, audit_to_fhir, consent_to_fhir

PATIENT = "did:key:z6MkpTHR8VNsBxYAAWHut2Geadd9jSwuBV8xRoAnwWsdvktH"
DOCTOR = "did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK"
HOSPITAL = "did:key:z6MknGc3ocHs3zdPiJbnaaqDi58NGb4pk1Sp9WxWufuXSdxf"
RECORD = "ab" * 16
CONSENT_ID = "0f" * 16
ACT_REASON = "http://terminology.hl7.org/CodeSystem/v3-ActReason"


def _consent(**changes: Any) -> dict[str, Any]:
    consent: dict[str, Any] = {
        "consent": CONSENT_ID,
        "grantee": {"kind": "practitioner", "id": DOCTOR},
        "actions": ["pull", "push", "read"],
        "scope": {"records": [RECORD, "cd" * 16]},
        "purposes": ["ETREAT", "TREAT"],
        "period": {"start_ms": 1_700_000_000_000, "end_ms": 1_731_536_000_500},
        "patient": PATIENT, "status": "active", "granted_height": 12,
    }
    consent.update(changes)
    return consent


def _codes(codings: list[dict[str, Any]], system: str) -> list[str]:
    return [c["code"] for c in codings if c["system"] == system]


def test_consent_maps_every_field() -> None:
    source = _consent()
    before = copy.deepcopy(source)
    fhir = consent_to_fhir(source, patient_did=PATIENT)
    assert source == before
    validate(fhir)
    assert fhir["resourceType"] == "Consent"
    assert fhir["id"] == CONSENT_ID
    assert fhir["status"] == "active"
    assert fhir["scope"]["coding"][0]["code"] == "patient-privacy"
    assert fhir["category"][0]["coding"][0] == {
        "system": "http://loinc.org", "code": "59284-0", "display": "Patient Consent"}
    assert fhir["patient"]["identifier"] == {"system": "urn:ietf:rfc:3986", "value": PATIENT}
    provision = fhir["provision"]
    assert provision["type"] == "permit"
    assert provision["period"] == {"start": "2023-11-14T22:13:20.000Z",
                                   "end": "2024-11-13T22:13:20.500Z"}
    actor = provision["actor"][0]
    assert actor["reference"] == {"identifier": {"system": "urn:ietf:rfc:3986",
                                                 "value": DOCTOR}, "type": "Practitioner"}
    assert actor["role"]["coding"][0]["code"] == "IRCP"
    actions = [c for a in provision["action"] for c in a["coding"]]
    assert _codes(actions, "urn:phrchain:action") == ["pull", "push", "read"]
    assert _codes(actions, "http://terminology.hl7.org/CodeSystem/consentaction") == [
        "disclose", "disclose", "access"]
    assert _codes(provision["purpose"], ACT_REASON) == ["ETREAT", "TREAT"]
    # a scope names record ids only: no resource type (class) or category (code)
    assert "class" not in provision and "code" not in provision
    assert provision["data"] == [{"meaning": "instance", "reference": {
        "identifier": {"system": "urn:phrchain:record", "value": r}}}
        for r in (RECORD, "cd" * 16)]


def test_revoked_consent_is_inactive_and_all_scope_has_no_restriction() -> None:
    fhir = consent_to_fhir(_consent(status="revoked", revoked_height=20, scope={"all": True}),
                           patient_did=PATIENT)
    validate(fhir)
    assert fhir["status"] == "inactive"
    assert not {"class", "code", "data"} & set(fhir["provision"])


def test_role_and_organization_grantees() -> None:
    role = consent_to_fhir(_consent(grantee={"kind": "role", "id": "emergency",
                                             "organization": HOSPITAL}), patient_did=PATIENT)
    actor = role["provision"]["actor"][0]
    assert {"system": "urn:phrchain:role", "code": "emergency"} in actor["role"]["coding"]
    assert actor["reference"]["identifier"]["value"] == HOSPITAL
    anywhere = consent_to_fhir(_consent(grantee={"kind": "role", "id": "researcher"}),
                               patient_did=PATIENT)
    assert anywhere["provision"]["actor"][0]["reference"] == {
        "display": "any holder of role researcher"}
    org = consent_to_fhir(_consent(grantee={"kind": "organization", "id": HOSPITAL}),
                          patient_did=PATIENT)
    assert org["provision"]["actor"][0]["reference"]["type"] == "Organization"
    for fhir in (role, anywhere, org):
        validate(fhir)


def test_open_ended_period() -> None:
    fhir = consent_to_fhir(_consent(period={"start_ms": 0, "end_ms": None}),
                           patient_did=PATIENT)
    assert fhir["provision"]["period"] == {"start": "1970-01-01T00:00:00.000Z"}


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"patient": DOCTOR}, "another patient"),
    ({"status": "paused"}, "active or revoked"),
    ({"purposes": ["FUN"]}, "'purposes' has unknown values"),
    ({"actions": ["delete"]}, "'actions' has unknown values"),
    ({"scope": {"resources": ["Observation"]}}, "scope must be all or name record ids"),
    ({"scope": {"categories": ["laboratory"]}}, "scope must be all or name record ids"),
    ({"scope": {"records": [RECORD], "categories": ["laboratory"]}}, "scope must be all"),
    ({"scope": {"records": "x"}}, "'scope.records' must be a list of strings"),
    ({"scope": {}}, "scope must be all"),
    ({"grantee": {"kind": "cat", "id": "x"}}, "grantee kind"),
    ({"period": {"end_ms": 5}}, "malformed consent"),
    ({"period": {"start_ms": -1}}, "malformed consent"),
    ({"consent": "not hex/!"}, "Consent.id"),
])
def test_bad_consents_are_refused(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FhirError) as info:
        consent_to_fhir(_consent(**changes), patient_did=PATIENT)
    assert fragment in str(info.value)
    assert info.value.error.name == "invalid_consent"


def test_missing_consent_field() -> None:
    consent = _consent()
    del consent["grantee"]
    with pytest.raises(FhirError, match="missing field 'grantee'") as info:
        consent_to_fhir(consent, patient_did=PATIENT)
    assert info.value.error.name == "invalid_consent"


def _leaf(**changes: Any) -> dict[str, Any]:
    leaf: dict[str, Any] = {
        "record": RECORD, "accessor": DOCTOR, "action": "read", "purpose": "TREAT",
        "decision": "permit", "reason": "consent", "consent": CONSENT_ID,
        "break_glass": False, "request": "cd" * 32, "at": 41, "patient": PATIENT,
        "vault": HOSPITAL, "height": 42, "index": 7,
    }
    leaf.update(changes)
    return leaf


def _details(event: dict[str, Any]) -> dict[str, str]:
    return {d["type"]: d["valueString"] for d in event["entity"][0]["detail"]}


def test_permitted_read_maps_to_audit_event() -> None:
    event = audit_to_fhir(_leaf(), time_ms=1_700_000_000_042)
    validate(event)
    assert event["resourceType"] == "AuditEvent"
    assert event["id"] == audit_event_id(PATIENT, 7)
    assert event["type"]["code"] == "110110"
    assert event["type"]["system"] == "http://dicom.nema.org/resources/ontology/DCM"
    assert event["action"] == "R"
    assert event["recorded"] == "2023-11-14T22:13:20.042Z"
    assert (event["outcome"], event["outcomeDesc"]) == ("0", "consent")
    agent = event["agent"][0]
    assert agent["who"]["identifier"] == {"system": "urn:ietf:rfc:3986", "value": DOCTOR}
    assert agent["requestor"] is True
    assert _codes([c for cc in event["purposeOfEvent"] for c in cc["coding"]],
                  ACT_REASON) == ["TREAT"]
    assert event["source"]["observer"]["identifier"]["value"] == HOSPITAL
    assert event["entity"][0]["what"]["identifier"] == {"system": "urn:phrchain:record",
                                                        "value": RECORD}
    assert event["entity"][1]["what"]["identifier"]["value"] == PATIENT
    assert _details(event) == {"decided_at_height": "41", "log_height": "42",
                               "log_index": "7", "request_sha256": "cd" * 32,
                               "consent": CONSENT_ID}
    assert not any(c["system"] == "urn:phrchain:flag" for c in event["subtype"])


def test_denied_pull_maps_to_minor_failure_with_reason() -> None:
    event = audit_to_fhir(_leaf(action="pull", decision="deny", reason="consent_expired",
                                consent=None), time_ms=0)
    validate(event)
    assert (event["outcome"], event["outcomeDesc"]) == ("4", "consent_expired")
    assert event["action"] == "R"
    assert "consent" not in _details(event)
    assert {"system": "urn:phrchain:action", "code": "pull"} in event["subtype"]


def test_break_glass_is_flagged_with_etreat() -> None:
    event = audit_to_fhir(_leaf(action="break_glass", purpose="TREAT", break_glass=True,
                                reason="break_glass", consent=None), time_ms=5)
    validate(event)
    assert event["action"] == "E"
    assert any(c["system"] == "urn:phrchain:flag" and c["code"] == "break-glass"
               for c in event["subtype"])
    purposes = [c["code"] for cc in event["purposeOfEvent"] for c in cc["coding"]]
    assert purposes == ["TREAT", "ETREAT"]
    assert [c["code"] for cc in event["agent"][0]["purposeOfUse"]
            for c in cc["coding"]] == ["TREAT", "ETREAT"]


def test_distinct_leaves_get_distinct_ids() -> None:
    assert audit_event_id(PATIENT, 1) != audit_event_id(PATIENT, 2)
    assert audit_event_id(PATIENT, 1) != audit_event_id(DOCTOR, 1)
    assert PATIENT not in audit_event_id(PATIENT, 1)


@pytest.mark.parametrize(("changes", "fragment"), [
    ({"action": "delete"}, "unknown action"),
    ({"decision": "maybe"}, "permit or deny"),
    ({"index": "seven"}, "malformed audit leaf"),
    ({"reason": ""}, "AuditEvent.outcomeDesc: not a valid FHIR string"),
])
def test_bad_audit_leaves_are_refused(changes: dict[str, Any], fragment: str) -> None:
    with pytest.raises(FhirError) as info:
        audit_to_fhir(_leaf(**changes), time_ms=0)
    assert fragment in str(info.value)
    assert info.value.error.name == "invalid_audit_entry"


def test_missing_leaf_field_and_bad_time() -> None:
    leaf = _leaf()
    del leaf["vault"]
    with pytest.raises(FhirError, match="missing field 'vault'"):
        audit_to_fhir(leaf, time_ms=0)
    with pytest.raises(FhirError, match="malformed audit leaf"):
        audit_to_fhir(_leaf(), time_ms=-5)
