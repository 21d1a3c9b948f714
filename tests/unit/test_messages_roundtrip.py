"""Every message type the app registers is built by its dataclass's ``to_msg()``, and
``to_msg()`` gives back exactly the dict the chain parses: the SDK cannot drift from the
chain. The cases are the message dicts clients sent before ``to_msg`` existed (same field
names, spellings, optional fields left out), so a change to a wire shape fails here."""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phrchain.app import default_modules
from phrchain.client import builder
from phrchain.core import encoding
from phrchain.core.errors import TxError
from phrchain.modules.audit.messages import Append, Entry, Sealed
from phrchain.modules.claims.messages import Review
from phrchain.modules.consent.messages import (
    CONSENT_ACTIONS,
    PURPOSES,
    Grant,
    Grantee,
    Scope,
)
from phrchain.modules.identity.errors import BAD_ADMISSION_PROOF, INVALID_FIELD, INVALID_KEY
from phrchain.modules.identity.messages import ROLES, RegisterPatient
from phrchain.modules.settlement.messages import Transfer
from phrchain.research import terms as research_terms
from phrchain.testing import supply_params
from tests.helpers import enc_key, signing_key

MODULES = default_modules()[0]
REGISTERED = sorted(t for module in MODULES for t in module.handlers())
SRC = Path(__file__).resolve().parents[2] / "src" / "phrchain" / "modules"

A, B, C = (signing_key(n).did for n in (11, 12, 13))
ID1, ID2, ID3 = "11" * 16, "22" * 16, "33" * 16
H1, H2, H3 = "aa" * 32, "bb" * 32, "cc" * 32
TAGS = sorted(f"{n:064x}" for n in (1, 2, 3))
_ENC = enc_key(4)
_VK1, _VK2 = (signing_key(n).public_key.hex() for n in (14, 15))


def _messages(name: str) -> ModuleType:
    return importlib.import_module(f"phrchain.modules.{name}.messages")


def message_classes() -> dict[str, type]:
    """Message type → the dataclass that builds it: each class of a module's
    ``messages.py`` with a ``TYPE`` and a ``to_msg`` (defined there, or in a file of the
    same module that ``messages.py`` re-exports it from, as supply's)."""
    found: dict[str, type] = {}
    for module in MODULES:
        messages = _messages(module.name)
        for _, cls in inspect.getmembers(messages, inspect.isclass):
            package = messages.__name__.rpartition(".")[0] + "."
            if cls.__module__.startswith(package) and hasattr(cls, "TYPE") \
                    and callable(getattr(cls, "to_msg", None)):
                assert cls.TYPE not in found, f"two dataclasses build {cls.TYPE}"
                found[cls.TYPE] = cls
    return found


_ENTRY = {"patient": A, "request": H1, "commitment": H2,
          "sealed": {"ct": "ab" * (256 + 16), "keys": {A: "01" * 80, C: "02" * 80}}}
_LONGER = {**_ENTRY, "request": H2, "commitment": H3,
           "sealed": {"ct": "cd" * (8 * 256 + 16), "keys": {A: "03" * 80, B: "04" * 80,
                                                          C: "05" * 80}}}
_PUBLISH = {"type": "claims/publish", "product": ID1, "name": "Basic cover",
            "currency": "EUR", "deductible": 0, "copay_bps": 2000, "per_claim_limit": 50_000,
            "yearly_limit": 200_000, "waiting_ms": 0, "max_term_ms": 86_400_000,
            "covered": TAGS[:2], "excluded": [], "refer_above": 10_000,
            "review_window_ms": 1000, "appeal_window_ms": 2000}
_SUPPLY_PARAMS = supply_params()
_GTIN = "08800000000015"
_SSCC = "088000000000000015"
_UNIT = f"{_GTIN}/A1"
_EH1, _EH2 = (f"ni:///sha-256;{h}?ver=CBV2.0" for h in (H1, H2))
_REGISTER = {"type": "records/register", "record": ID1, "patient": A, "hash": H1,
             "size": 4096, "commitment": H2, "descriptor": H1}
_WHO = {"registry_ids": ["ISRCTN00000000", "NCT01234567"], "title": "Drug X for Y",
        "scientific_title": "A randomised trial of drug X", "conditions": ["Condition Y"],
        "interventions": ["Drug X", "Placebo"], "study_type": "interventional",
        "target_size": 200, "countries": ["DE", "FR"], "ethics_ref": "EC-1",
        "ipd_sharing": "No IPD will be shared."}
_PROTOCOL = {"registration": _WHO, "sites": sorted([A, B]), "arms": ["drug", "placebo"],
             "outcomes": [{"id": "death", "measure": "All-cause mortality",
                           "time_frame": "12 months", "kind": "primary"},
                          {"id": "qol", "measure": "EQ-5D", "time_frame": "6 months",
                           "kind": "secondary"}],
             "protocol": H1, "withdrawal": "retain"}

# Message dicts as clients wrote them by hand before ``to_msg``: each is what the chain saw.
KNOWN: list[dict[str, Any]] = [
    {"type": "identity/admit_organization", "did": A, "org_type": "hospital",
     "name": "General Hospital", "enc_key": enc_key(1), "pop": "ab" * 64},
    {"type": "identity/admit_practitioner", "did": B, "roles": ["nurse", "physician"],
     "enc_key": enc_key(2), "pop": "cd" * 64},
    {"type": "identity/register_patient", "enc_key": enc_key(3)},
    {"type": "identity/set_roles", "did": B, "roles": ["clerk"]},
    {"type": "identity/rotate_key", "new_key": signing_key(20).public_key.hex(),
     "proof": "ef" * 64},
    {"type": "identity/rotate_key", "new_key": signing_key(21).public_key.hex(),
     "proof": "ef" * 64, "enc_key": enc_key(4)},
    {"type": "identity/revoke", "did": B, "reason": "key_compromise"},
    _REGISTER,
    {**_REGISTER, "custodian": C, "replaces": ID2},
    {**_REGISTER, "replaces": ID2},
    {"type": "records/erase", "record": ID1, "reason": "patient_request"},
    {"type": "records/add_holder", "record": ID1, "org": C},
    {"type": "consent/grant", "consent": ID1, "grantee": {"kind": "practitioner", "id": B},
     "actions": ["pull", "read"], "scope": {"all": True}, "purposes": ["TREAT"],
     "period": {"start_ms": 0, "end_ms": 10**12}},
    {"type": "consent/grant", "consent": ID2,
     "grantee": {"kind": "role", "id": "emergency", "organization": C}, "actions": ["read"],
     "scope": {"records": [ID1, ID3]},
     "purposes": ["ETREAT", "TREAT"], "period": {"start_ms": 5, "end_ms": 6}},
    {"type": "consent/revoke", "consent": ID1},
    {"type": "audit/append", "entries": [_ENTRY, _LONGER]},
    {"type": "exchange/push", "record": ID1, "to": B, "purpose": "TREAT"},
    {"type": "exchange/request", "request": ID1, "patient": A,
     "scope": {"records": [ID2]}, "purpose": "TREAT"},
    {"type": "exchange/approve", "request": ID1, "end_ms": 10**12},
    {"type": "exchange/deny", "request": ID1},
    {"type": "exchange/received", "request": ID1, "record": ID2},
    {"type": "settlement/mint", "to": A, "amount": 1000, "currency": "EUR"},
    {"type": "settlement/burn", "from": A, "amount": 10, "currency": "EUR"},
    {"type": "settlement/transfer", "to": B, "amount": 5, "currency": "USD"},
    {"type": "settlement/transfer", "to": B, "amount": 5, "currency": "USD", "memo": "inv-7"},
    {"type": "settlement/bill", "bill": ID1, "patient": A, "amount": 900, "currency": "EUR",
     "encounter": H3},
    {"type": "settlement/pay_bill", "bill": ID1},
    _PUBLISH,
    {**_PUBLISH, "excluded": TAGS[2:]},
    {"type": "claims/enrol", "insurer": C, "product": ID1, "start_ms": 0, "end_ms": 99},
    {"type": "claims/leave", "insurer": C, "product": ID1},
    {"type": "claims/file", "claim": ID1, "insurer": C, "product": ID2, "version": 1,
     "bill": ID3, "service_ms": 5, "records": [{"record": ID1, "commitment": H1}],
     "lines": [{"tag": TAGS[0], "amount": 300}, {"tag": TAGS[1], "amount": 200}],
     "amount": 500, "consent_end_ms": 10**12},
    {"type": "claims/file", "claim": ID2, "insurer": C, "product": ID2, "version": 1,
     "bill": ID3, "service_ms": 5, "records": [{"record": ID1, "commitment": H1}],
     "lines": [{"tag": TAGS[0], "amount": 300}], "amount": 300, "consent_end_ms": 10**12,
     "link": {"pseudonym": B, "sig": "5a" * 64}},
    {"type": "claims/review", "claim": ID1, "decision": "approve", "amount": 400},
    {"type": "claims/review", "claim": ID1, "decision": "deny", "reason": "reviewer_denied",
     "note_hash": H2},
    {"type": "claims/lapse", "claim": ID1},
    {"type": "claims/appeal", "claim": ID1},
    {"type": "claims/settle", "claim": ID1},
    {"type": "supply/set_params", "params": _SUPPLY_PARAMS},
    {"type": "supply/register_product", "gtin": _GTIN, "name": "Morphine 10 mg",
     "ingredients": [{"rxnorm": "7052", "atc": "N02AA01", "ug": 10_000}],
     "dose_form": "tablet", "dose_units": 30, "controlled": "narcotic"},
    {"type": "supply/commission", "gtin": _GTIN, "lot": "L1", "expiry": "301200",
     "serials": ["A1", "A2"], "event_hash": _EH1},
    {"type": "supply/pack", "sscc": _SSCC, "units": [_UNIT], "event_hash": _EH1},
    {"type": "supply/unpack", "sscc": _SSCC, "event_hash": _EH1},
    {"type": "supply/ship", "shipment": ID1, "to": B, "units": [_UNIT], "event_hash": _EH1},
    {"type": "supply/ship", "shipment": ID1, "to": B, "cases": [_SSCC], "event_hash": _EH1},
    {"type": "supply/return", "shipment": ID2, "to": C, "units": [_UNIT], "cases": [_SSCC],
     "event_hash": _EH2},
    {"type": "supply/receive", "shipment": ID1, "cases": [_SSCC], "event_hash": _EH2},
    {"type": "supply/decommission", "units": [_UNIT], "reason": "stolen", "event_hash": _EH1},
    {"type": "supply/reverse", "units": [_UNIT], "event_hash": _EH2},
    {"type": "supply/recall", "gtin": _GTIN, "lot": "L1", "event_hash": _EH1},
    {"type": "supply/declare_error", "event": _EH1, "reason": "incorrect_data"},
    {"type": "supply/declare_error", "event": _EH1, "reason": "did_not_occur",
     "corrective": [_EH2]},
    {"type": "supply/dispense", "dispense": ID1,
     "scans": [{"gtin": _GTIN, "serial": "A1", "lot": "L1", "expiry": "301200"}],
     "patient": H1, "rx": H2, "rx_commitment": H3, "prescriber": A, "quantity": 2,
     "refills": 1, "days_supply": 30, "event_hash": _EH1},
    {"type": "supply/dispense", "dispense": ID1,
     "scans": [{"gtin": _GTIN, "serial": "A1", "lot": "L1", "expiry": "301200"}],
     "patient": H1, "rx": H2, "rx_commitment": H3, "prescriber": A, "quantity": 1,
     "refills": 0, "days_supply": 7, "event_hash": _EH1, "stewardship": "id_consult",
     "exemption": "cancer_pain"},
    {"type": "supply/close_alert", "alert": ID1, "outcome": "false_positive"},
    {"type": "supply/read_history", "patient": H1, "purpose": "strong_opioid"},
    {"type": "supply/prescribe", "rx": H2, "patient": H1, "commitment": H3, "quantity": 2,
     "refills": 1, "issued_day": 20_000, "valid_days": 30, "prescriber": A,
     "signature": "ab" * 64},
    {"type": "supply/cancel_rx", "rx": H2},
    {"type": "trials/set_params", "start_window_ms": 10**10, "max_sites": 128, "max_arms": 16,
     "max_outcomes": 64, "max_versions": 100},
    {"type": "trials/register", "trial": ID1, "start_ms": 5, **_PROTOCOL},
    {"type": "trials/amend", "trial": ID1, "base": 1, **_PROTOCOL, "withdrawal": "exclude",
     "reason": "added a site", "reconsent": True},
    {"type": "trials/commit", "trial": ID1, "kind": "sap", "commitment": H2},
    {"type": "trials/enrol", "trial": ID1, "version": 2, "protocol": H1, "site": A,
     "purpose": "HRESCH"},
    {"type": "trials/reconsent", "trial": ID1, "version": 3, "protocol": H2},
    {"type": "trials/withdraw", "trial": ID1},
    {"type": "trials/entry", "trial": ID1, "entry": ID2, "participant": C, "commitment": H3},
    {"type": "trials/entry", "trial": ID1, "entry": ID3, "participant": C, "commitment": H1,
     "corrects": ID2, "reason": "transcription error"},
    {"type": "trials/sign", "trial": ID1, "entry": ID2, "meaning": "review"},
    {"type": "trials/lock", "trial": ID1},
    {"type": "trials/unblind", "trial": ID1},
    {"type": "trials/results", "trial": ID1, "commitment": H3, "outcomes": [
        {"id": "death", "measure": "All-cause mortality", "time_frame": "12 months",
         "kind": "secondary", "declared_change": False}]},
    {"type": "research/set_params", **research_terms.params(min_k=2)},
    {"type": "research/donate", "permission": {"code": "DS", "disease": "MONDO:0005148"},
     "modifiers": [{"code": "GS", "param": ["DE", "KR"]}, {"code": "NPU"},
                   {"code": "TS", "param": 12}], "scope": {"records": [ID1, ID2]},
     "period": {"start_ms": 5, "end_ms": 10**12}},
    {"type": "research/donate", "permission": {"code": "GRU"}, "modifiers": [],
     "scope": {"all": True}, "period": {"start_ms": 0, "end_ms": 1}},
    {"type": "research/revoke"},
    {"type": "research/register_study", "study": ID1, "purpose": {"code": "HMB"},
     "for_profit": False, "commercial": False, "genetic": True, "publish": True,
     "returns": False, "methods": False, "clinical_care": False, "country": "KR",
     "publication_ms": 7, "duration_months": 24, "collaborators": [], "users": sorted([A, B]),
     "protocol": H1, "k": 5, "l": 2},
    {"type": "research/register_study", "study": ID2, "purpose": {"code": "POA"},
     "for_profit": True, "commercial": True, "genetic": False, "publish": False,
     "returns": True, "methods": True, "clinical_care": True, "country": "DE",
     "publication_ms": 0, "duration_months": 1, "collaborators": [C], "users": [A],
     "protocol": H2, "k": 1, "l": 1,
     "irb": {"reference": "IRB-1", "approver": B, "sig": "ab" * 64}},
    {"type": "research/request", "request": ID2, "study": ID1},
    {"type": "research/match", "request": ID2},
    {"type": "research/release", "dataset": ID3, "request": ID2, "root": H1,
     "resources": 40, "leaves": [{"record": ID1, "donation": 1},
                                 {"record": ID2, "donation": 3}],
     "leaves_root": H2, "config": H3, "k": 5, "l": 2, "key": H1, "approver": C,
     "approval": "cd" * 64},
    {"type": "research/release_part", "dataset": ID3, "part": 2, "root": H2,
     "resources": 12, "leaves": [{"record": ID3, "donation": 2}], "leaves_root": H3,
     "k": 5, "l": 2, "approver": C, "approval": "ef" * 64},
    {"type": "research/destroy_key", "dataset": ID3},
    {"type": "governance/propose", "action": {"kind": "admit_authority", "did": A,
                                              "enc_key": _ENC, "name": "Council member",
                                              "pop": "ab" * 64}},
    {"type": "governance/propose", "action": {"kind": "remove_authority", "did": B,
                                              "reason": "privilege_withdrawn"}},
    {"type": "governance/propose", "action": {"kind": "add_validator", "pub_key": _VK1,
                                              "power": 10, "organization": C}},
    {"type": "governance/propose", "action": {"kind": "remove_validator", "pub_key": _VK1}},
    {"type": "governance/propose", "action": {"kind": "set_validator_power",
                                              "pub_key": _VK1, "power": 7}},
    {"type": "governance/propose", "action": {"kind": "replace_validator", "pub_key": _VK1,
                                              "new_pub_key": _VK2}},
    {"type": "governance/propose", "action": {"kind": "set_parameter", "module": "supply",
                                              "name": "tables", "value": {"max": [1, 2]}}},
    {"type": "governance/propose", "action": {"kind": "schedule_upgrade", "version": 2,
                                              "height": 1000, "name": "v2"}},
    {"type": "governance/propose", "action": {"kind": "freeze_organization",
                                              "organization": C}},
    {"type": "governance/propose", "action": {"kind": "unfreeze_organization",
                                              "organization": C}},
    {"type": "governance/vote", "proposal": 3, "option": "yes"},
    {"type": "governance/vote", "proposal": 3, "option": "no"},
]


def test_every_registered_type_has_exactly_one_dataclass() -> None:
    assert sorted(message_classes()) == REGISTERED


@pytest.mark.parametrize("msg_type", REGISTERED)
def test_known_dicts_round_trip(msg_type: str) -> None:
    cases = [msg for msg in KNOWN if msg["type"] == msg_type]
    assert cases, f"{msg_type} is registered but has no round-trip case here"
    cls = message_classes()[msg_type]
    for known in cases:
        message = cls.parse(known)
        assert type(message) is cls
        assert message.to_msg() == known  # the same dict the chain saw before
        assert cls.parse(message.to_msg()) == message
        assert encoding.decode(encoding.encode(message.to_msg())) == known


def test_shared_shapes_keep_their_own_type() -> None:
    """``claims/lapse|appeal|settle`` share one shape: each class builds its own type."""
    classes = message_classes()
    for msg_type in ("claims/lapse", "claims/appeal", "claims/settle"):
        assert classes[msg_type](ID1).to_msg() == {"type": msg_type, "claim": ID1}


def test_builder_builds_through_the_dataclasses_and_refuses_like_the_chain() -> None:
    enc = enc_key(3)
    assert builder.register_patient(enc) == builder.register_patient(bytes.fromhex(enc)) \
        == RegisterPatient(bytes.fromhex(enc)).to_msg()
    assert builder.set_roles(B, [" physician", "nurse", "nurse"]) == {
        "type": "identity/set_roles", "did": B, "roles": ["nurse", "physician"]}
    new_key = signing_key(20).public_key
    assert builder.rotate_key(new_key, "ef" * 64) == {  # no enc_key: left out, not null
        "type": "identity/rotate_key", "new_key": new_key.hex(), "proof": "ef" * 64}
    refused = [
        (lambda: builder.register_patient("ZZ"), INVALID_KEY),  # not lowercase hex
        (lambda: builder.register_patient(b"\x01" * 31), INVALID_KEY),  # wrong length
        (lambda: builder.admit_organization(A, "hospital", "H", enc, "ab"), BAD_ADMISSION_PROOF),
        (lambda: builder.admit_organization(A, "hospital", "H", enc, "xy" * 64),
         BAD_ADMISSION_PROOF),
        (lambda: builder.admit_organization(A, "castle", "H", enc, "ab" * 64), INVALID_FIELD),
        (lambda: builder.rotate_key("00" * 32, "ef"), INVALID_KEY),
        (lambda: builder.revoke(B, "boredom"), INVALID_FIELD),
    ]
    for build, code in refused:
        with pytest.raises(TxError) as exc:
            build()
        assert exc.value.error is code, exc.value


# -- generated instances: every optional field and nested shape, both ways -----------------
_dids = st.sampled_from([A, B, C])
_ids = st.sampled_from([ID1, ID2, ID3])


def _subset(items: Any, low: int = 1) -> Any:
    return st.lists(st.sampled_from(sorted(items)), min_size=low, unique=True).map(
        lambda xs: tuple(sorted(xs)))


_grantees = st.one_of(
    st.builds(Grantee, st.sampled_from(["practitioner", "organization"]), _dids),
    st.builds(Grantee, st.just("role"), st.sampled_from(sorted(ROLES)), st.none() | _dids))
_scopes = st.one_of(
    st.just(Scope(all=True)),
    st.builds(Scope, st.just(False), _subset([ID1, ID2, ID3])))


@settings(max_examples=60, deadline=None)
@given(st.builds(Grant, _ids, _grantees, _subset(CONSENT_ACTIONS), _scopes,
                 _subset(PURPOSES), st.integers(0, 2**40), st.integers(0, 2**40)))
def test_generated_grants_round_trip(grant: Grant) -> None:
    assert Grant.parse(grant.to_msg()) == grant
    encoding.encode(grant.to_msg())


_sealed = st.builds(
    Sealed, st.integers(1, 8).flatmap(lambda k: st.binary(min_size=k * 256 + 16,
                                                           max_size=k * 256 + 16)).map(bytes.hex),
    st.dictionaries(_dids, st.binary(min_size=80, max_size=80).map(bytes.hex),
                    min_size=1, max_size=4))
_entries = st.builds(Entry, _dids, st.sampled_from([H1, H2, H3]), st.sampled_from([H1, H3]),
                     _sealed)


@settings(max_examples=60, deadline=None)
@given(st.lists(_entries, min_size=1, max_size=64).map(tuple),
       st.builds(Transfer, _dids, st.integers(1, 10**15), st.sampled_from(["EUR", "USD"]),
                 st.none() | st.from_regex(r"[A-Za-z0-9._:-]{1,64}", fullmatch=True)),
       st.one_of(st.builds(Review, _ids, st.just("approve"), st.integers(0, 10**15),
                           st.none(), st.none() | st.just(H3)),
                 st.builds(Review, _ids, st.just("deny"), st.none(),
                           st.just("reviewer_denied"), st.none() | st.just(H3))))
def test_generated_optional_fields_round_trip(entries: tuple[Entry, ...],
                                              transfer: Transfer, review: Review) -> None:
    for message in (Append(entries), transfer, review):
        msg = message.to_msg()
        assert type(message).parse(msg) == message
        assert None not in (msg.get("memo", ""), msg.get("note_hash", ""))  # left out, not null
        encoding.encode(msg)


# -- event names --------------------------------------------------------------------------
def test_events_are_named_by_constants_of_their_module() -> None:
    """Handlers emit ``EVENTS`` constants, never a string typed in place."""
    for module in MODULES:
        messages = _messages(module.name)
        assert all(e.startswith(module.name + ".") for e in messages.EVENTS)
        emitted = set()
        for path in sorted((SRC / module.name).glob("*.py")):
            for node in ast.walk(ast.parse(path.read_text())):
                if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) \
                        and node.func.attr == "emit" and node.args:
                    name = node.args[0]
                    assert isinstance(name, ast.Name), f"{path.name}:{node.lineno}"
                    emitted.add(getattr(messages, name.id))
        assert emitted == set(messages.EVENTS), module.name
