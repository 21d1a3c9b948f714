"""The supply module on the in-memory chain: products, units, aggregation, custody,
decommissioning and reversal, recall, error declarations, dispensing — and every
refusal reason with a scenario that produces it (a refused tx changes nothing)."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.core.errors import REGISTRY
from phrchain.modules.supply import gs1
from phrchain.testing import AUTHORITY, Chain, supply_params
from tests.supplyworld import PRODUCTS, World, event_hash, gtin, sscc

DAY = 86_400_000


def code(result: Any) -> str:
    return "ok" if result.ok else REGISTRY[(result.codespace, result.code)].name


@pytest.fixture
def world() -> World:
    return World.build()


# -- identifiers --------------------------------------------------------------------------
def test_gtin_check_digit_and_kd_code_normalisation() -> None:
    # 8 8 0 1 2 3 4 5 6 7 8 9, weights 1 3 1 3 … from the left of 12 digits: 127 -> 3
    assert gs1.check_digit("880123456789") == 3
    assert gs1.normalize_gtin("8801234567893") == "08801234567893"
    assert gs1.normalize_gtin("08801234567893") == "08801234567893"
    assert gs1.normalize_gtin("8801234567895") is None  # wrong check digit
    assert gs1.normalize_gtin("880123456789") is None  # 12 digits with a bad check
    assert gs1.normalize_gtin("88012345678960") is None
    assert gs1.valid_sscc(sscc("08800000000000001"))
    assert not gs1.valid_sscc("088000000000000010")


def test_expiry_days() -> None:
    assert gs1.days_from_civil(1970, 1, 1) == 0
    assert gs1.days_from_civil(2000, 3, 1) == 11017
    assert gs1.expiry_day("240200") == gs1.days_from_civil(2024, 2, 29)  # leap month end
    assert gs1.expiry_day("230200") == gs1.days_from_civil(2023, 2, 28)
    assert gs1.expiry_day("230229") is None
    assert gs1.expiry_day("231301") is None


def test_a_kd_code_registers_as_its_gtin14(world: World) -> None:
    kd = "8801234567893"
    result = world.run(world.manufacturer, {
        "type": "supply/register_product", "gtin": kd, "name": "KD product",
        "ingredients": [{"rxnorm": "723", "atc": "J01CA04", "ug": 250_000}],
        "dose_form": "capsule", "dose_units": 10, "controlled": "none"})
    assert result.ok, result.log
    product = world.q("supply/product", gtin=kd)
    assert product["gtin"] == "0" + kd and product["aware"] == {"J01CA04": "access"}


# -- parameters ---------------------------------------------------------------------------
def test_parameters_are_versioned_and_set_by_governance(world: World) -> None:
    assert world.q("supply/params")["version"] == 1
    table = supply_params()
    table["thresholds"]["mme_per_day"] = 50
    assert code(world.run(world.regulator, {"type": "supply/set_params",
                                                  "params": table})) == "unauthorized"
    assert world.run(AUTHORITY, {"type": "supply/set_params", "params": table}).ok
    assert world.q("supply/params")["version"] == 2
    assert world.q("supply/params", version=1)["params"]["thresholds"]["mme_per_day"] == 90
    assert world.q("supply/params")["params"]["thresholds"]["mme_per_day"] == 50
    bad = supply_params()
    del bad["groups"]["opioid"]
    assert code(world.run(AUTHORITY, {"type": "supply/set_params",
                                            "params": bad})) == "invalid_field"


def test_a_chain_without_parameters_refuses_steps_that_need_them() -> None:
    world = World(Chain.new())
    c = world.chain
    for org, kind in ((world.manufacturer, "manufacturer"), (world.wholesaler, "wholesaler")):
        assert c.admit_org(org, kind).ok
    assert world.register("morphine10").ok
    result, units = world.commission("morphine10", 1)
    assert result.ok
    assert code(world.ship(world.manufacturer, world.wholesaler, "11" * 16, units)) \
        == "no_params"


def test_a_bad_genesis_table_is_refused() -> None:
    from phrchain.app import new_application
    from phrchain.core.store import MemoryStateStore
    from phrchain.testing import genesis
    bad = supply_params()
    bad["thresholds"]["mme_per_day"] = 0
    with pytest.raises(ValueError, match="invalid supply genesis"):
        new_application(MemoryStateStore()).init_chain(genesis(supply=bad))


def test_only_admitted_manufacturers_register(world: World) -> None:
    p = PRODUCTS["morphine10"]
    assert code(world.register("morphine10")) == "product_exists"
    for signer in (world.wholesaler, world.pharmacy, world.pharmacist):
        result = world.run(signer, {
            "type": "supply/register_product", "gtin": gtin("0880000000099"), "name": "x",
            "ingredients": p["ingredients"], "dose_form": "tablet", "dose_units": 1,
            "controlled": "none"})
        assert code(result) == "not_admitted"


# -- the full path ------------------------------------------------------------------------
def test_full_path_with_aggregation(world: World) -> None:
    result, units = world.commission("oxycodone5", 6)
    assert result.ok
    case = sscc("08800000000000001")
    packed = world.run(world.manufacturer, {"type": "supply/pack", "sscc": case,
                                                  "units": units[:4],
                                                  "event_hash": event_hash()})
    assert packed.ok, packed.log
    assert world.q("supply/case", sscc=case)["contents"] == units[:4]
    # one scan ships the case, with two loose units
    assert world.ship(world.manufacturer, world.wholesaler, "a1" * 16, units[4:], [case]).ok
    assert world.q("supply/unit", unit=units[0])["status"] == "in_transit"
    assert code(world.ship(world.manufacturer, world.wholesaler, "a2" * 16, units[4:])) \
        == "status_not_allowed"
    assert world.receive(world.wholesaler, "a1" * 16, units[4:], [case]).ok
    shipment = world.q("supply/shipment", shipment="a1" * 16)
    assert shipment["status"] == "received" and shipment["pending"] == []
    assert {world.q("supply/unit", unit=u)["owner"] for u in units} == {world.wholesaler.did}
    assert world.ship(world.wholesaler, world.pharmacy, "a3" * 16, cases=[case]).ok
    assert world.receive(world.pharmacy, "a3" * 16, cases=[case]).ok
    # the pharmacy unpacks, then dispenses one pack
    assert world.run(world.pharmacy, {"type": "supply/unpack", "sscc": case,
                                            "event_hash": event_hash()}).ok
    assert world.q("supply/case", sscc=case)["contents"] == []
    assert world.dispense([units[0]]).ok
    unit = world.q("supply/unit", unit=units[0])
    assert unit["status"] == "dispensed" and unit["owner"] == world.pharmacy.did


def test_one_owner_at_a_time_no_double_transfer(world: World) -> None:
    _result, units = world.commission("morphine10", 2)
    assert world.ship(world.manufacturer, world.wholesaler, "b1" * 16, units).ok
    # the same units again, to someone else, while in transit
    assert code(world.ship(world.manufacturer, world.pharmacy, "b2" * 16, units)) \
        == "status_not_allowed"
    assert code(world.receive(world.pharmacy, "b1" * 16, units)) == "not_custodian"
    assert world.receive(world.wholesaler, "b1" * 16, units).ok
    assert code(world.ship(world.manufacturer, world.pharmacy, "b3" * 16, units)) \
        == "not_custodian"


def test_a_short_receipt_is_a_discrepancy_not_silently_accepted(world: World) -> None:
    _, units = world.commission("morphine10", 3)
    assert world.ship(world.manufacturer, world.wholesaler, "c1" * 16, units).ok
    partial = world.receive(world.wholesaler, "c1" * 16, units[:2])
    assert partial.ok
    assert any(e.type == "supply.discrepancy" and ("missing", "1") in e.attributes
               for e in partial.events)
    shipment = world.q("supply/shipment", shipment="c1" * 16)
    assert shipment["status"] == "discrepancy" and shipment["pending"] == units[2:]
    assert world.q("supply/unit", unit=units[2])["status"] == "in_transit"
    # a unit never shipped is refused as a quantity mismatch
    _, other = world.commission("morphine10", 1)
    assert code(world.receive(world.wholesaler, "c1" * 16, other)) == "quantity_mismatch"
    # the sender reports the missing unit stolen in transit
    stolen = world.run(world.manufacturer, {
        "type": "supply/decommission", "units": units[2:], "reason": "stolen",
        "event_hash": event_hash()})
    assert stolen.ok, stolen.log
    assert code(world.receive(world.wholesaler, "c1" * 16, units[2:])) == "status_not_allowed"
    assert world.q("supply/unit", unit=units[2])["owner"] == world.manufacturer.did


def test_recall_mid_route(world: World) -> None:
    _, units = world.commission("morphine10", 4, lot="LR")
    assert world.ship(world.manufacturer, world.wholesaler, "d1" * 16, units).ok
    assert world.run(world.manufacturer, {
        "type": "supply/recall", "gtin": PRODUCTS["morphine10"]["gtin"], "lot": "LR",
        "event_hash": event_hash()}).ok
    # in transit: may still be received, so it can be returned
    assert world.receive(world.wholesaler, "d1" * 16, units).ok
    assert code(world.ship(world.wholesaler, world.pharmacy, "d2" * 16, units)) == "recalled"
    assert code(world.ship(world.wholesaler, world.pharmacy, "d3" * 16, units, kind="return")) \
        == "receiver_not_allowed"
    assert world.ship(world.wholesaler, world.manufacturer, "d4" * 16, units,
                      kind="return").ok
    assert world.receive(world.manufacturer, "d4" * 16, units).ok
    assert world.run(world.manufacturer, {
        "type": "supply/decommission", "units": units, "reason": "destroyed",
        "event_hash": event_hash()}).ok


def test_double_dispense(world: World) -> None:
    units = world.stock("morphine10", 2)
    assert world.dispense(units[:1]).ok
    again = world.dispense(units[:1], rx="another", dispense="ee" * 16)
    assert code(again) == "already_dispensed"


def test_a_counterfeit_serial_is_refused(world: World) -> None:
    units = world.stock("morphine10", 1)
    fake = units[0].rsplit("/", 1)[0] + "/FAKE01"
    msg = world.dispense_msg(units)
    msg["scans"][0]["serial"] = "FAKE01"
    assert code(world.run(world.pharmacist, msg)) == "unknown_serial"
    assert world.q("supply/unit", unit=fake) is None


def test_a_stolen_case(world: World) -> None:
    _, units = world.commission("diazepam5", 3)
    case = sscc("08800000000000002")
    assert world.run(world.manufacturer, {"type": "supply/pack", "sscc": case,
                                                "units": units, "event_hash": event_hash()}).ok
    assert world.ship(world.manufacturer, world.wholesaler, "f1" * 16, cases=[case]).ok
    assert world.run(world.manufacturer, {
        "type": "supply/decommission", "units": units, "reason": "stolen",
        "event_hash": event_hash()}).ok
    # the case shows up at the wholesaler: its units are stolen, nobody receives them
    assert code(world.receive(world.wholesaler, "f1" * 16, cases=[case])) \
        == "status_not_allowed"
    assert world.q("supply/unit", unit=units[0])["status"] == "stolen"
    assert world.q("supply/unit", unit=units[0])["owner"] == world.manufacturer.did
    assert code(world.ship(world.wholesaler, world.pharmacy, "f2" * 16, cases=[case])) \
        == "not_custodian"
    reverse = world.run(world.manufacturer, {"type": "supply/reverse", "units": units,
                                                   "event_hash": event_hash()})
    assert code(reverse) == "not_reversible"
