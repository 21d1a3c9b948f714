"""Monitoring rules at their exact boundaries (day before/after a window, MME just below
and above, exact fractions), the cancer-pain exemption, Reserve antibiotics and the
Access share, alert closure and proofs, and replay determinism."""

from __future__ import annotations

from typing import Any

from phrchain.client.verify import verify_query
from phrchain.core.errors import REGISTRY
from phrchain.modules.supply import keys
from phrchain.testing import AUTHORITY, supply_params, tx_state
from tests.supplyworld import World, tag

DAY = 86_400_000
BASE_DAY = 19_700  # after the world's setup day (genesis is day 19675)


def at_day(w: World, day: int) -> None:
    """The next block runs on ``BASE_DAY + day``, one hour into it."""
    w.chain.time_ms = (BASE_DAY + day) * DAY + 3_600_000 - 1000


def kinds(result: Any) -> list[str]:
    assert result.ok, result.log
    return sorted(dict(e.attributes)["kind"] for e in result.events if e.type == "supply.alert")


def set_thresholds(w: World, **values: int) -> None:
    table = supply_params()
    table["thresholds"].update(values)
    assert w.run(AUTHORITY, {"type": "supply/set_params", "params": table}).ok


def test_mme_at_the_threshold_fires_and_one_day_longer_does_not() -> None:
    w = World.build()
    units = w.stock("morphine10", 6)  # 30 x 10 mg morphine a pack: 300 MME
    at_day(w, 0)
    # 900 MME over 10 days: exactly 90 MME/day (the CDC threshold: "at or above")
    assert kinds(w.dispense(units[:3], patient="p1", days=10)) == ["mme_high"]
    # 900 MME over 11 days: 81.8 MME/day
    assert kinds(w.dispense(units[3:], patient="p2", days=11)) == []


def test_mme_sums_exact_fractions_not_rounded_parts() -> None:
    w = World.build()
    units = w.stock("morphine10", 4)
    # 300 MME over 7 days is 42.857… MME/day
    set_thresholds(w, mme_per_day=43)
    at_day(w, 0)
    assert kinds(w.dispense(units[:1], patient="p1", days=7, rx="a")) == []  # just below 43
    set_thresholds(w, mme_per_day=42)
    at_day(w, 1)
    assert kinds(w.dispense(units[1:2], patient="p2", days=7, rx="b")) == ["mme_high"]
    # two such supplies: 85.714…; the floors (42 + 42 = 84) would miss 85
    set_thresholds(w, mme_per_day=85)
    at_day(w, 2)
    assert kinds(w.dispense(units[2:3], patient="p3", days=7, rx="c")) == []
    assert kinds(w.dispense(units[3:4], patient="p3", days=7, rx="d")) == ["mme_high"]
    alert = w.q("supply/dispense", dispense=w.q("supply/unit", unit=units[3])["dispense"])
    assert w.q("supply/alert", alert=alert["alerts"][0])["detail"] == 85


def test_a_supply_ending_the_day_before_does_not_count() -> None:
    w = World.build()
    units = w.stock("morphine10", 4)
    at_day(w, 0)
    assert kinds(w.dispense(units[:2], patient="p", days=10, rx="a")) == []  # 60/day
    at_day(w, 10)  # the first covered days 0..9
    assert kinds(w.dispense(units[2:3], patient="p", days=10, rx="b")) == []  # 30/day
    at_day(w, 19)  # the second still covers day 19: 30 + 60
    assert kinds(w.dispense(units[3:4], patient="p", days=5, rx="c")) == ["mme_high"]


def test_cancer_pain_exemption_suppresses_the_mme_alert() -> None:
    w = World.build()
    units = w.stock("morphine10", 6)
    at_day(w, 0)
    assert kinds(w.dispense(units[:3], patient="p", days=10, rx="a",
                            exemption="cancer_pain")) == []
    assert kinds(w.dispense(units[3:], patient="q", days=10, rx="b")) == ["mme_high"]
    refused = w.dispense(units[3:], patient="q", days=10, rx="c", exemption="boredom")
    assert REGISTRY[("supply", refused.code)].name == "invalid_field"


def _three_pharmacies(w: World, name: str) -> tuple[list[str], list[str], list[str]]:
    return (w.stock(name, 2, w.pharmacy), w.stock(name, 2, w.pharmacy2),
            w.stock(name, 2, w.pharmacy3))


def test_multiple_provider_episode_window_boundary() -> None:
    w = World.build()
    a, b, c = _three_pharmacies(w, "diazepam5")
    at_day(w, 0)
    assert kinds(w.dispense(a[:1], patient="p", days=1, rx="1",
                            prescriber=w.physician)) == []
    at_day(w, 40)
    assert kinds(w.dispense(b[:1], by=w.pharmacist2, patient="p", days=1, rx="2",
                            prescriber=w.physician2)) == []
    at_day(w, 89)  # day 0 is the first day of the 90-day window ending today
    assert kinds(w.dispense(c[:1], by=w.pharmacist3, patient="p", days=1, rx="3",
                            prescriber=w.physician3)) == ["multiple_providers"]
    # the same pattern one day later: day 0 has left the window
    at_day(w, 200)
    assert kinds(w.dispense(a[1:], patient="q", days=1, rx="4", prescriber=w.physician)) == []
    at_day(w, 240)
    assert kinds(w.dispense(b[1:], by=w.pharmacist2, patient="q", days=1, rx="5",
                            prescriber=w.physician2)) == []
    at_day(w, 290)
    assert kinds(w.dispense(c[1:], by=w.pharmacist3, patient="q", days=1, rx="6",
                            prescriber=w.physician3)) == []


def test_three_prescribers_at_two_pharmacies_is_no_episode() -> None:
    w = World.build()
    a, b, _ = _three_pharmacies(w, "diazepam5")
    at_day(w, 0)
    assert kinds(w.dispense(a[:1], patient="p", days=1, rx="1")) == []
    assert kinds(w.dispense(b[:1], by=w.pharmacist2, patient="p", days=1, rx="2",
                            prescriber=w.physician2)) == []
    assert kinds(w.dispense(a[1:], patient="p", days=1, rx="3",
                            prescriber=w.physician3)) == []


def test_opioid_benzodiazepine_overlap_boundary() -> None:
    w = World.build()
    benzo = w.stock("diazepam5", 2)
    opioid = w.stock("oxycodone5", 2)
    at_day(w, 0)
    assert kinds(w.dispense(benzo[:1], patient="p", days=30, rx="b1")) == []
    at_day(w, 29)  # the diazepam covers days 0..29
    assert kinds(w.dispense(opioid[:1], patient="p", days=30, rx="o1")) \
        == ["opioid_benzodiazepine"]
    at_day(w, 100)
    assert kinds(w.dispense(benzo[1:], patient="q", days=30, rx="b2")) == []
    at_day(w, 130)  # the day after it ran out
    assert kinds(w.dispense(opioid[1:], patient="q", days=30, rx="o2")) == []


def test_zolpidem_above_10_mg_a_day() -> None:
    w = World.build()
    units = w.stock("zolpidem10", 2)  # 30 x 10 mg
    at_day(w, 0)
    assert kinds(w.dispense(units[:1], patient="p", days=30, rx="z1")) == []  # 10 mg/day
    assert kinds(w.dispense(units[1:], patient="q", days=29, rx="z2")) == ["zolpidem_dose"]


def test_appetite_suppressant_course_beyond_three_months() -> None:
    w = World.build()
    units = w.stock("phentermine", 8)
    at_day(w, 0)
    for n, day in enumerate((0, 30, 60)):  # refilled the day each runs out: 90 days
        at_day(w, day)
        assert kinds(w.dispense(units[n:n + 1], patient="p", days=30, rx=f"p{n}")) == []
    at_day(w, 90)
    assert kinds(w.dispense(units[3:4], patient="p", days=1, rx="p3")) \
        == ["long_use:appetite_suppressant"]
    # another patient with a one-day gap starts a new course
    for n, day in enumerate((200, 230, 261)):
        at_day(w, day)
        assert kinds(w.dispense(units[4 + n:5 + n], patient="q", days=30, rx=f"q{n}")) == []
    at_day(w, 291)
    assert kinds(w.dispense(units[7:8], patient="q", days=30, rx="q3")) == []


def test_two_appetite_suppressants_at_once() -> None:
    w = World.build()
    phen = w.stock("phentermine", 1)
    dimetra = w.stock("phendimetrazine", 1)
    at_day(w, 0)
    assert kinds(w.dispense(phen, patient="p", days=30, rx="a")) == []
    assert kinds(w.dispense(dimetra, patient="p", days=30, rx="b")) == ["appetite_combined"]


def test_reserve_antibiotic_needs_stewardship_and_access_share_counts() -> None:
    w = World.build()
    linezolid = w.stock("linezolid", 1)
    amoxicillin = w.stock("amoxicillin", 1)
    ceftriaxone = w.stock("ceftriaxone", 1)
    refused = w.dispense(linezolid, days=10, stewardship="because")
    assert REGISTRY[("supply", refused.code)].name == "stewardship_required"
    assert w.dispense(linezolid, days=10, stewardship="id_consult").ok
    assert w.dispense(amoxicillin, days=7, rx="amx").ok
    assert w.dispense(ceftriaxone, days=1, rx="cro", prescriber=w.physician2).ok
    mine = w.q("supply/antibiotics", did=w.physician.did)
    assert (mine["total"], mine["access"], mine["access_bps"]) == (2, 1, 5000)
    hospital = w.q("supply/antibiotics", did=w.hospital.did)
    assert (hospital["total"], hospital["access"]) == (2, 1)
    clinic = w.q("supply/antibiotics", did=w.clinic.did)
    assert (clinic["total"], clinic["access_bps"]) == (1, 0)


def test_alerts_are_provable_state_closed_by_the_notified() -> None:
    w = World.build()
    units = w.stock("zolpidem10", 1)
    result = w.dispense(units, patient="p", days=10)
    alert_id = next(dict(e.attributes)["alert"] for e in result.events
                    if e.type == "supply.alert")
    assert w.q("supply/alerts")["alerts"] == [alert_id]
    answer = w.chain.app.query("supply/alert", {"alert": alert_id}, prove=True)
    proved = verify_query(answer, expected_key=keys.alert_key(alert_id))
    assert proved["kind"] == "zolpidem_dose" and proved["height"] == answer["value"]["height"]
    assert proved["notify"] == [w.physician.did, w.pharmacy.did, "regulator", "patient"]
    for stranger in (w.insurer, w.physician2, w.wholesaler):
        refused = w.run(stranger, {"type": "supply/close_alert", "alert": alert_id,
                                   "outcome": "false_positive"})
        assert REGISTRY[("supply", refused.code)].name == "unauthorized"
    assert w.run(w.pharmacist, {"type": "supply/close_alert", "alert": alert_id,
                                "outcome": "justified"}).ok
    closed = w.q("supply/alert", alert=alert_id)
    assert (closed["status"], closed["outcome"], closed["closed_by"]) == \
        ("closed", "justified", w.pharmacist.did)
    assert w.q("supply/alerts")["alerts"] == []


def _scenario() -> World:
    w = World.build()
    benzo, opioid = w.stock("diazepam5", 1), w.stock("morphine10", 3)
    at_day(w, 0)
    w.dispense(benzo, patient="p", days=30, rx="b")
    at_day(w, 5)
    w.dispense(opioid, patient="p", days=10, rx="o")
    return w


def test_replay_is_deterministic() -> None:
    first, second = _scenario(), _scenario()
    assert first.chain.app.store.root() == second.chain.app.store.root()
    assert tx_state(first.chain) == tx_state(second.chain)
    assert len(first.q("supply/alerts")["alerts"]) == 2  # mme_high and the overlap


def test_a_prescribers_statutory_history_read_is_recorded_for_the_patient() -> None:
    w = World.build()
    units = w.stock("morphine10", 1)
    assert w.dispense(units, patient="p", days=10).ok
    patient = tag("p")
    read = {"type": "supply/read_history", "patient": patient, "purpose": "strong_opioid"}
    for stranger in (w.pharmacist, w.nurse, w.insurer):
        refused = w.run(stranger, read)
        assert REGISTRY[("supply", refused.code)].name == "unauthorized"
    assert w.run(w.physician2, read).ok
    reads = w.q("supply/history_reads", patient=patient)["reads"]
    assert [(r["reader"], r["organization"], r["purpose"]) for r in reads] == \
        [(w.physician2.did, w.clinic.did, "strong_opioid")]
    assert w.q("supply/history_reads", patient=tag("q"))["reads"] == []


def test_extreme_strengths_and_factors_keep_state_canonical() -> None:
    """The largest product the messages allow, under the largest factor a table allows:
    the supply's MME saturates, the state decodes, the alert fires."""
    from phrchain.core import encoding

    w = World.build()
    table = supply_params()
    table["mme_milli"]["7052"] = 10**9
    assert w.run(AUTHORITY, {"type": "supply/set_params", "params": table}).ok
    from tests.supplyworld import PRODUCTS, gtin
    PRODUCTS["huge"] = {"gtin": gtin("0880000000042"), "controlled": "narcotic",
                        "ingredients": [{"rxnorm": "7052", "atc": "N02AA01", "ug": 10**8}],
                        "dose_units": 10_000, "dose_form": "tablet"}
    try:
        assert w.register("huge").ok
        units = w.stock("huge", 1)
        assert kinds(w.dispense(units, patient="p", days=1)) == ["mme_high"]
    finally:
        del PRODUCTS["huge"]
    for _key, raw in w.chain.app.store.iterate(b"supply/m/"):
        encoding.decode(raw)  # refuses integers beyond 2**53 - 1
    refused = w.run(w.manufacturer, {
        "type": "supply/register_product", "gtin": gtin("0880000000043"), "name": "x",
        "ingredients": [{"rxnorm": "7052", "atc": "N02AA01", "ug": 10**8 + 1}],
        "dose_form": "tablet", "dose_units": 1, "controlled": "none"})
    assert REGISTRY[("supply", refused.code)].name == "invalid_field"
