"""Every reason code of the supply module, each produced by a scenario on a fresh world,
and each refusal leaves the committed state exactly as it was."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import pytest

from phrchain.core.errors import REGISTRY
from phrchain.modules.supply import gs1
from phrchain.modules.supply.messages import CancelRx
from phrchain.testing import AUTHORITY, CHAIN_ID, Chain, supply_params, tx_state
from tests.supplyworld import PRODUCTS, World, event_hash, gtin, sscc, tag

DAY = 86_400_000
MORPHINE = PRODUCTS["morphine10"]["gtin"]


def _msg(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": f"supply/{kind}", **fields}


def _unauthorized(w: World) -> tuple[Any, ...]:
    _, _units = w.commission("morphine10", 1)
    return w.pharmacy, _msg("recall", gtin=MORPHINE, lot="L1", event_hash=event_hash())


def _invalid_field(w: World) -> tuple[Any, ...]:
    return w.manufacturer, _msg("commission", gtin=MORPHINE, lot="L1", expiry="301231",
                                serials=["B", "A"], event_hash=event_hash())


def _not_admitted(w: World) -> tuple[Any, ...]:
    p = PRODUCTS["amoxicillin"]
    return w.wholesaler, _msg("register_product", gtin=gtin("0880000000077"), name="x",
                              ingredients=p["ingredients"], dose_form="tablet",
                              dose_units=1, controlled="none")


def _product_exists(w: World) -> tuple[Any, ...]:
    p = PRODUCTS["amoxicillin"]
    return w.manufacturer, _msg("register_product", gtin=p["gtin"], name="again",
                                ingredients=p["ingredients"], dose_form="tablet",
                                dose_units=1, controlled="none")


def _unknown_product(w: World) -> tuple[Any, ...]:
    return w.manufacturer, _msg("commission", gtin=gtin("0880000000078"), lot="L1",
                                expiry="301231", serials=["A"], event_hash=event_hash())


def _unknown_serial(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)
    msg = w.dispense_msg(units)
    msg["scans"][0]["serial"] = "COUNTERFEIT"
    return w.pharmacist, msg


def _lot_mismatch(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)
    msg = w.dispense_msg(units)
    msg["scans"][0]["lot"] = "L2"
    return w.pharmacist, msg


def _expiry_mismatch(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)
    msg = w.dispense_msg(units)
    msg["scans"][0]["expiry"] = "301130"
    return w.pharmacist, msg


def _already_dispensed(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)
    assert w.dispense(units).ok
    return w.pharmacist, w.dispense_msg(units, rx="second", dispense="ab" * 16)


def _already_in_state(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    assert w.run(w.manufacturer, _msg("decommission", units=units, reason="sample",
                                      event_hash=event_hash())).ok
    return w.manufacturer, _msg("decommission", units=units, reason="sample",
                                event_hash=event_hash())


def _status_not_allowed(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    assert w.run(w.manufacturer, _msg("decommission", units=units, reason="destroyed",
                                      event_hash=event_hash())).ok
    return w.manufacturer, _msg("ship", shipment="12" * 16, to=w.wholesaler.did,
                                units=units, event_hash=event_hash())


def _not_custodian(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    return w.wholesaler, _msg("ship", shipment="12" * 16, to=w.pharmacy.did, units=units,
                              event_hash=event_hash())


def _recalled(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    assert w.run(w.manufacturer, _msg("recall", gtin=MORPHINE, lot="L1",
                                      event_hash=event_hash())).ok
    return w.manufacturer, _msg("ship", shipment="12" * 16, to=w.wholesaler.did,
                                units=units, event_hash=event_hash())


def _expired(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1, expiry="231130")  # the chain is in 2023-11
    w.chain.time_ms += 30 * DAY
    return w.manufacturer, _msg("ship", shipment="12" * 16, to=w.wholesaler.did,
                                units=units, event_hash=event_hash())


def _receiver_not_allowed(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)  # narcotic: clinics may not hold it
    return w.manufacturer, _msg("ship", shipment="12" * 16, to=w.clinic.did, units=units,
                                event_hash=event_hash())


def _quantity_mismatch(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 2)
    return w.pharmacist, w.dispense_msg(units, quantity=1)


def _unit_exists(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    return w.manufacturer, _msg("commission", gtin=MORPHINE, lot="L1", expiry="301231",
                                serials=[units[0].split("/")[1]], event_hash=event_hash())


def _reversal_window_passed(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    assert w.run(w.manufacturer, _msg("decommission", units=units, reason="sample",
                                      event_hash=event_hash())).ok
    w.chain.time_ms += 11 * DAY
    return w.manufacturer, _msg("reverse", units=units, event_hash=event_hash())


def _not_reversible(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    assert w.run(w.manufacturer, _msg("decommission", units=units, reason="destroyed",
                                      event_hash=event_hash())).ok
    return w.manufacturer, _msg("reverse", units=units, event_hash=event_hash())


def _unknown_case(w: World) -> tuple[Any, ...]:
    return w.manufacturer, _msg("unpack", sscc=sscc("08800000000000009"),
                                event_hash=event_hash())


def _in_case(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    assert w.run(w.manufacturer, _msg("pack", sscc=sscc("08800000000000003"), units=units,
                                      event_hash=event_hash())).ok
    return w.manufacturer, _msg("ship", shipment="12" * 16, to=w.wholesaler.did,
                                units=units, event_hash=event_hash())


def _too_deep(w: World) -> tuple[Any, ...]:
    """A pallet (a case holding a case) packed into another case: a unit would have three
    containers above it."""
    _, units = w.commission("morphine10", 1)
    case, pallet = sscc("08800000000000003"), sscc("08800000000000004")
    assert w.run(w.manufacturer, _msg("pack", sscc=case, units=units,
                                      event_hash=event_hash())).ok
    assert w.run(w.manufacturer, _msg("pack", sscc=pallet, cases=[case],
                                      event_hash=event_hash())).ok
    return w.manufacturer, _msg("pack", sscc=sscc("08800000000000005"), cases=[pallet],
                                event_hash=event_hash())


def _unknown_shipment(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 1)
    return w.wholesaler, _msg("receive", shipment="99" * 16, units=units,
                              event_hash=event_hash())


def _shipment_exists(w: World) -> tuple[Any, ...]:
    _, units = w.commission("morphine10", 2)
    assert w.ship(w.manufacturer, w.wholesaler, "12" * 16, units[:1]).ok
    return w.manufacturer, _msg("ship", shipment="12" * 16, to=w.wholesaler.did,
                                units=units[1:], event_hash=event_hash())


def _rx_mismatch(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 2)
    assert w.dispense(units[:1], rx="rx-1", refills=1).ok
    return w.pharmacist, w.dispense_msg(units[1:], rx="rx-1", refills=1,
                                        prescriber=w.physician2)


def _rx_exhausted(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 3)
    msg = w.dispense_msg(units[:1], rx="rx-2", refills=1)
    assert w.run(w.pharmacist, msg).ok
    second = w.dispense_msg(units[1:2], rx="rx-2", refills=1)
    assert w.run(w.pharmacist, second).ok
    return w.pharmacist, w.dispense_msg(units[2:], rx="rx-2", refills=1)


def _prescriber_not_allowed(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)  # a nurse may not prescribe narcotics
    return w.pharmacist, w.dispense_msg(units, prescriber=w.nurse)


def _stewardship_required(w: World) -> tuple[Any, ...]:
    units = w.stock("linezolid", 1)
    return w.pharmacist, w.dispense_msg(units, days=10)


def _no_params(w: World) -> tuple[Any, ...]:
    world = World(Chain.new())
    w.chain = world.chain
    for org, kind in ((w.manufacturer, "manufacturer"), (w.wholesaler, "wholesaler")):
        assert w.chain.admit_org(org, kind).ok
    assert w.register("morphine10").ok
    _, units = w.commission("morphine10", 1)
    return w.manufacturer, _msg("ship", shipment="12" * 16, to=w.wholesaler.did,
                                units=units, event_hash=event_hash())


def _duplicate_event(w: World) -> tuple[Any, ...]:
    same = event_hash()
    assert w.run(w.manufacturer, _msg("commission", gtin=MORPHINE, lot="L1",
                                      expiry="301231", serials=["A"], event_hash=same)).ok
    return w.manufacturer, _msg("commission", gtin=MORPHINE, lot="L1", expiry="301231",
                                serials=["B"], event_hash=same)


def _unknown_event(w: World) -> tuple[Any, ...]:
    return w.manufacturer, _msg("declare_error", event=event_hash(), reason="did_not_occur")


def _unknown_alert(w: World) -> tuple[Any, ...]:
    return w.regulator, _msg("close_alert", alert="77" * 16, outcome="false_positive")


def _alert_closed(w: World) -> tuple[Any, ...]:
    units = w.stock("zolpidem10", 1)
    result = w.dispense(units, days=10)  # 30 x 10 mg over 10 days: 30 mg/day
    alert = next(dict(e.attributes)["alert"] for e in result.events
                 if e.type == "supply.alert")
    assert w.run(w.regulator, _msg("close_alert", alert=alert, outcome="intervened")).ok
    return w.physician, _msg("close_alert", alert=alert, outcome="false_positive")


def _dispense_exists(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 2)
    assert w.dispense(units[:1], dispense="42" * 16).ok
    return w.pharmacist, w.dispense_msg(units[1:], dispense="42" * 16, rx="other")


def _unknown_rx(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)  # the prescriber never registered it
    return w.pharmacist, w.dispense_msg(units, rx="never-prescribed", register=False)


def _rx_exists(w: World) -> tuple[Any, ...]:
    assert w.prescribe("rx-3").ok
    return w.physician2, w.prescription("rx-3", "bob", w.physician2).to_msg()


def _rx_not_active(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)
    assert w.prescribe("rx-4").ok
    assert w.run(w.physician, CancelRx(tag("rx-4")).to_msg()).ok
    return w.pharmacist, w.dispense_msg(units, rx="rx-4")


def _rx_expired(w: World) -> tuple[Any, ...]:
    units = w.stock("morphine10", 1)
    assert w.prescribe("rx-5", valid_days=7).ok
    w.chain.time_ms += 7 * DAY   # day of registration + 7: the first day it is not valid
    return w.pharmacist, w.dispense_msg(units, rx="rx-5")


SCENARIOS: dict[str, Callable[[World], tuple[Any, ...]]] = {
    "unauthorized": _unauthorized, "invalid_field": _invalid_field,
    "not_admitted": _not_admitted, "product_exists": _product_exists,
    "unknown_product": _unknown_product, "unknown_serial": _unknown_serial,
    "lot_mismatch": _lot_mismatch, "expiry_mismatch": _expiry_mismatch,
    "already_dispensed": _already_dispensed, "already_in_state": _already_in_state,
    "status_not_allowed": _status_not_allowed, "not_custodian": _not_custodian,
    "recalled": _recalled, "expired": _expired, "receiver_not_allowed": _receiver_not_allowed,
    "quantity_mismatch": _quantity_mismatch, "unit_exists": _unit_exists,
    "reversal_window_passed": _reversal_window_passed, "not_reversible": _not_reversible,
    "unknown_case": _unknown_case, "in_case": _in_case, "unknown_shipment": _unknown_shipment,
    "shipment_exists": _shipment_exists, "rx_mismatch": _rx_mismatch,
    "rx_exhausted": _rx_exhausted, "prescriber_not_allowed": _prescriber_not_allowed,
    "stewardship_required": _stewardship_required, "no_params": _no_params,
    "duplicate_event": _duplicate_event, "unknown_event": _unknown_event,
    "unknown_alert": _unknown_alert, "alert_closed": _alert_closed,
    "dispense_exists": _dispense_exists, "unknown_rx": _unknown_rx,
    "rx_exists": _rx_exists, "rx_not_active": _rx_not_active, "rx_expired": _rx_expired,
    "too_deep": _too_deep,
}


def test_every_supply_code_has_a_scenario() -> None:
    names = {e.name for (space, _), e in REGISTRY.items() if space == "supply"}
    assert names == set(SCENARIOS)


@pytest.mark.parametrize("reason", sorted(SCENARIOS))
def test_each_refusal_reason(reason: str) -> None:
    world = World.build()
    signer, msg = SCENARIOS[reason](world)
    before = tx_state(world.chain)
    result = world.run(signer, msg)
    assert not result.ok
    assert result.codespace == "supply"
    assert REGISTRY[("supply", result.code)].name == reason, result.log
    assert tx_state(world.chain) == before


def test_reversal_on_the_last_day_of_the_window_and_by_the_same_party_only() -> None:
    w = World.build()
    _, units = w.commission("morphine10", 2)
    assert w.run(w.manufacturer, _msg("decommission", units=units, reason="exported",
                                      event_hash=event_hash())).ok
    w.chain.time_ms += 10 * DAY - 2000  # the next block is 10 days later, same day count
    assert w.run(w.manufacturer, _msg("reverse", units=units[:1], event_hash=event_hash())).ok
    assert w.q("supply/unit", unit=units[0])["status"] == "active"
    w.chain.time_ms += DAY
    result = w.run(w.manufacturer, _msg("reverse", units=units[1:], event_hash=event_hash()))
    assert REGISTRY[("supply", result.code)].name == "reversal_window_passed"


def test_declare_error_is_append_only() -> None:
    w = World.build()
    first = event_hash()
    assert w.run(w.manufacturer, _msg("commission", gtin=MORPHINE, lot="L9",
                                      expiry="301231", serials=["Z1"], event_hash=first)).ok
    fix = event_hash()
    assert w.run(w.manufacturer, _msg("commission", gtin=MORPHINE, lot="L9",
                                      expiry="301231", serials=["Z2"], event_hash=fix)).ok
    declared = w.run(w.manufacturer, _msg("declare_error", event=first,
                                          reason="incorrect_data", corrective=[fix]))
    assert declared.ok, declared.log
    event = w.q("supply/event", event_hash=first)
    assert event["step"] == "commissioning" and event["error"]["corrective"] == [fix]
    assert w.q("supply/unit", unit=f"{MORPHINE}/Z1")["lot"] == "L9"  # never edited
    assert REGISTRY[("supply", w.run(w.wholesaler, _msg(
        "declare_error", event=fix, reason="did_not_occur")).code)].name == "unauthorized"


def test_authority_cannot_be_bypassed_by_a_stranger_setting_params() -> None:
    w = World.build()
    assert not w.run(w.manufacturer, _msg("set_params", params=supply_params())).ok
    assert w.run(AUTHORITY, _msg("set_params", params=supply_params())).ok


def test_a_fill_must_match_the_registered_prescription() -> None:
    """The registered patient, prescriber, quantity and refills bind every fill; only
    the prescriber cancels; the last valid day still dispenses."""
    w = World.build()
    units = w.stock("morphine10", 4)
    assert w.prescribe("rx-9", patient="alice", quantity=2, refills=1, valid_days=3).ok
    for wrong in ({"patient": "bob"}, {"quantity": 3}, {"refills": 0},
                  {"prescriber": w.physician3}):
        result = w.run(w.pharmacist, w.dispense_msg(
            units[:1], rx="rx-9", **{"quantity": 2, "refills": 1, **wrong}))
        assert REGISTRY[("supply", result.code)].name == "rx_mismatch", wrong
    w.chain.time_ms += 2 * DAY   # the third day of three
    assert w.dispense(units[:2], rx="rx-9", quantity=2, refills=1).ok
    assert w.q("supply/rx", rx=tag("rx-9"))["fills"] == 1
    stranger = w.run(w.physician2, CancelRx(tag("rx-9")).to_msg())
    assert REGISTRY[("supply", stranger.code)].name == "unauthorized"
    assert w.run(w.physician, CancelRx(tag("rx-9")).to_msg()).ok
    again = w.run(w.physician, CancelRx(tag("rx-9")).to_msg())
    assert REGISTRY[("supply", again.code)].name == "already_in_state"
    refused = w.run(w.pharmacist, w.dispense_msg(units[2:], rx="rx-9", quantity=2,
                                                 refills=1))
    assert REGISTRY[("supply", refused.code)].name == "rx_not_active"


def test_a_prescription_is_signed_by_its_prescriber_and_submitted_by_a_pharmacist() -> None:
    """The pharmacist registers the prescriber-signed prescription (with the first
    fill); a forged or altered signature, a non-prescriber, another submitter, an issue
    day in the future or already expired, and a pre-cancelled tag are refused."""
    w = World.build()

    def refused(signer: Any, msg: dict[str, Any]) -> str:
        result = w.run(signer, msg)
        assert not result.ok
        return str(REGISTRY[("supply", result.code)].name)

    signed = w.prescription("rx-a", quantity=2)
    altered = {**signed.to_msg(), "quantity": 3}
    assert refused(w.pharmacist, altered) == "unauthorized"
    forged = dataclasses.replace(signed, signature=w.physician2.sign(
        signed.signed_bytes(CHAIN_ID)).hex())
    assert refused(w.pharmacist, forged.to_msg()) == "unauthorized"
    assert refused(w.manufacturer, signed.to_msg()) == "unauthorized"
    by_pharmacist = w.prescription("rx-b", prescriber=w.pharmacist)
    assert refused(w.pharmacist, by_pharmacist.to_msg()) == "prescriber_not_allowed"
    today = gs1.day_of(w.chain.time_ms)
    future = w.prescription("rx-c", issued_day=today + 2)
    assert refused(w.pharmacist, future.to_msg()) == "invalid_field"
    stale = w.prescription("rx-d", issued_day=today - 30, valid_days=30)
    assert refused(w.pharmacist, stale.to_msg()) == "rx_expired"
    assert w.run(w.physician, CancelRx(tag("rx-e")).to_msg()).ok
    assert refused(w.pharmacist, w.prescription("rx-e").to_msg()) == "rx_not_active"
    assert w.run(w.pharmacist, signed.to_msg()).ok
    registered = w.q("supply/rx", rx=tag("rx-a"))
    assert (registered["prescriber"], registered["quantity"], registered["day"]) == \
        (w.physician.did, 2, today)
