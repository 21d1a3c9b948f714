"""DUO matching as a table: donor terms x study requests. Hierarchy GRU ⊃ HMB ⊃ DS with
child diseases (MONDO), every modifier with its parameter, and expired, not yet started
and revoked donations. The tables are the shipped pinned release (chain data)."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.modules.research import duo
from phrchain.research import terms

TERMS = terms.load(terms.DUO_FILE)
DISEASES = terms.load(terms.DISEASES_FILE)
NOW = 1_800_000_000_000
T2D, DIABETES, T1D, ASTHMA = "MONDO:0005148", "MONDO:0005015", "MONDO:0005147", "MONDO:0004979"
METABOLIC, LUNG_CANCER, CANCER = "MONDO:0005066", "MONDO:0008903", "MONDO:0004992"
RESP = "MONDO:0005087"
A, B, C = ("did:key:z6MkA", "did:key:z6MkB", "did:key:z6MkC")
STUDY_ID = "ab" * 16


def study(**kw: Any) -> dict[str, Any]:
    base = {"study": STUDY_ID, "institute": A, "purpose": {"code": "DS", "disease": T2D},
            "for_profit": False, "commercial": False, "country": "KR", "genetic": False,
            "publish": False, "returns": False, "methods": False, "clinical_care": False,
            "publication_ms": NOW, "duration_months": 12, "collaborators": [],
            "users": [B], "irb": None}
    return {**base, **kw}


def donation(permission: str = "HMB", disease: str | None = None,
             modifiers: list[dict[str, Any]] | None = None, status: str = "active",
             start: int = NOW - 1, end: int = NOW + 1) -> dict[str, Any]:
    perm: dict[str, Any] = {"code": permission}
    if disease:
        perm["disease"] = disease
    return {"permission": perm, "modifiers": modifiers or [], "status": status,
            "period": {"start_ms": start, "end_ms": end}}


def purpose(code: str, disease: str | None = None) -> dict[str, Any]:
    return {"code": code, **({"disease": disease} if disease else {})}


# (donor permission, donor disease, study purpose, study disease, expected reason)
HIERARCHY = [
    ("NRES", None, "POA", None, None),
    ("GRU", None, "GRU", None, None),
    ("GRU", None, "HMB", None, None),
    ("GRU", None, "DS", T2D, None),
    ("GRU", None, "POA", None, None),
    ("HMB", None, "GRU", None, "purpose"),
    ("HMB", None, "HMB", None, None),
    ("HMB", None, "DS", ASTHMA, None),
    ("HMB", None, "POA", None, "purpose"),
    ("DS", DIABETES, "DS", T2D, None),          # a child disease
    ("DS", DIABETES, "DS", T1D, None),
    ("DS", METABOLIC, "DS", T2D, None),         # a grandchild
    ("DS", DIABETES, "DS", DIABETES, None),
    ("DS", T2D, "DS", DIABETES, "disease"),     # the parent is wider than the donation
    ("DS", T2D, "DS", T1D, "disease"),          # a sibling
    ("DS", DIABETES, "DS", ASTHMA, "disease"),
    ("DS", RESP, "DS", LUNG_CANCER, None),      # two parents: either one counts
    ("DS", CANCER, "DS", LUNG_CANCER, None),
    ("DS", DIABETES, "HMB", None, "purpose"),
    ("DS", DIABETES, "GRU", None, "purpose"),
    ("POA", None, "POA", None, None),
    ("POA", None, "HMB", None, "purpose"),
]


@pytest.mark.parametrize(("perm", "pdis", "code", "sdis", "expected"), HIERARCHY)
def test_permission_hierarchy(perm: str, pdis: str | None, code: str, sdis: str | None,
                              expected: str | None) -> None:
    got = duo.outcome(TERMS, DISEASES, donation(perm, pdis), study(purpose=purpose(code, sdis)),
                      NOW)
    assert got == expected


def m(code: str, param: Any = None) -> list[dict[str, Any]]:
    return [{"code": code} if param is None else {"code": code, "param": param}]


# (modifier, its parameter, study fields that satisfy it, study fields that do not)
MODIFIERS = [
    ("NPU", None, {}, {"for_profit": True}),
    ("NCU", None, {}, {"commercial": True}),
    ("NPUNCU", None, {}, {"commercial": True}),
    ("NPUNCU", None, {}, {"for_profit": True}),
    ("IRB", None, {"irb": {"reference": "x"}}, {"irb": None}),
    ("PUB", None, {"publish": True}, {"publish": False}),
    ("COL", [C], {"collaborators": [C]}, {"collaborators": [B]}),
    ("GS", ["DE", "KR"], {"country": "KR"}, {"country": "US"}),
    ("MOR", NOW + 10, {"publication_ms": NOW + 10}, {"publication_ms": NOW + 9}),
    ("TS", 12, {"duration_months": 12}, {"duration_months": 13}),
    ("US", [B, C], {"users": [B]}, {"users": [A, B]}),
    ("PS", [STUDY_ID], {}, {"study": "cd" * 16}),
    ("IS", [A], {"institute": A}, {"institute": B}),
    ("GSO", None, {"genetic": True}, {"genetic": False}),
    ("RTN", None, {"returns": True}, {"returns": False}),
    ("NMDS", None, {}, {"methods": True}),
    ("NPOA", None, {}, {"purpose": purpose("POA")}),
]


@pytest.mark.parametrize(("code", "param", "good", "bad"), MODIFIERS)
def test_each_modifier(code: str, param: Any, good: dict[str, Any],
                       bad: dict[str, Any]) -> None:
    terms_of = donation("GRU", modifiers=m(code, param))
    assert duo.outcome(TERMS, DISEASES, terms_of, study(**good), NOW) is None
    assert duo.outcome(TERMS, DISEASES, terms_of, study(**{**good, **bad}), NOW) == code


def test_clinical_care_needs_cc_or_nres() -> None:
    care = study(clinical_care=True)
    assert duo.outcome(TERMS, DISEASES, donation("HMB"), care, NOW) == "clinical_care"
    assert duo.outcome(TERMS, DISEASES, donation("HMB", modifiers=m("CC")), care, NOW) is None
    assert duo.outcome(TERMS, DISEASES, donation("NRES"), care, NOW) is None


@pytest.mark.parametrize(("kw", "expected"), [
    ({"status": "revoked"}, "revoked"),
    ({"start": NOW + 1}, "not_started"),
    ({"end": NOW}, "expired"),
    ({"end": NOW - 5}, "expired"),
    ({"start": NOW, "end": NOW + 1}, None),
])
def test_period_and_revocation(kw: dict[str, Any], expected: str | None) -> None:
    assert duo.outcome(TERMS, DISEASES, donation(**kw), study(), NOW) == expected


def test_several_modifiers_report_the_first_failing_in_code_order() -> None:
    both = donation("GRU", modifiers=[*m("NPU"), *m("PUB")])
    assert duo.outcome(TERMS, DISEASES, both, study(for_profit=True), NOW) == "NPU"
    assert duo.outcome(TERMS, DISEASES, both, study(), NOW) == "PUB"
    assert duo.outcome(TERMS, DISEASES, both, study(publish=True), NOW) is None


def test_pinned_table_lists_every_code_with_its_duo_id() -> None:
    assert TERMS["release"] == "DUO v2021-02-23"
    assert set(TERMS["codes"]) == set(duo.PARAM_KINDS)
    assert TERMS["codes"]["GRU"]["id"] == "DUO:0000042"
    assert TERMS["codes"]["NPUNCU"]["id"] == "DUO:0000018"
    assert duo.is_a(DISEASES["parents"], LUNG_CANCER, RESP)
    assert not duo.is_a(DISEASES["parents"], RESP, LUNG_CANCER)
