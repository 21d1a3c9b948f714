"""Hierarchical custody (EPCIS aggregation): a packed unit's custodian, shipment and
in-transit state are its outermost container's, so shipping or receiving a case writes
the case and not its units; nested packing (unit → case → pallet), unpacking then moving
a unit alone, a recall reaching units inside shipped cases, and determinism (memory and
SQLite agree, a replay reproduces every hash)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from phrchain.client.supply import SupplyClient
from phrchain.core.errors import REGISTRY
from phrchain.epcis.hashid import event_hash_id
from phrchain.modules.supply import keys as supply_keys
from phrchain.testing import AUTHORITY, Chain, supply_params
from tests.replay import Block, backends_agree_and_replay
from tests.supplyworld import PRODUCTS, World, sscc, tag

CASE_A, CASE_B = sscc("08800000000000011"), sscc("08800000000000012")
PALLET, OTHER = sscc("08800000000000013"), sscc("08800000000000014")


def _msg(kind: str, **fields: Any) -> dict[str, Any]:
    return {"type": f"supply/{kind}", **fields}


def _reason(result: Any) -> str:
    assert not result.ok
    return str(REGISTRY[(result.codespace, result.code)].name)


def _pack(w: World, target: str, units: list[str] = (), cases: list[str] = (),  # type: ignore[assignment]
          by: Any = None) -> Any:
    fields: dict[str, Any] = {"sscc": target, "event_hash": w.event_hash("pack")}
    if units:
        fields["units"] = sorted(units)
    if cases:
        fields["cases"] = sorted(cases)
    return w.run(by or w.manufacturer, _msg("pack", **fields))


def _unpack(w: World, target: str, by: Any = None) -> Any:
    return w.run(by or w.manufacturer, _msg("unpack", sscc=target,
                                            event_hash=w.event_hash("unpack")))


def _palletised(w: World) -> tuple[list[str], list[str], list[str]]:
    """Five packs at the manufacturer: two in case A, two in case B, one loose in the
    pallet; cases A and B in the pallet."""
    result, units = w.commission("morphine10", 5)
    assert result.ok
    a, b, loose = units[:2], units[2:4], units[4:]
    assert _pack(w, CASE_A, a).ok and _pack(w, CASE_B, b).ok
    assert _pack(w, PALLET, loose, [CASE_A, CASE_B]).ok
    return a, b, loose


def _unit_bytes(w: World, units: list[str]) -> list[bytes | None]:
    return [w.chain.app.store.get(supply_keys.unit_key(u)) for u in units]


def test_custody_of_a_unit_in_a_case_in_a_pallet() -> None:
    w = World.build()
    a, b, loose = _palletised(w)
    units = a + b + loose
    assert w.q("supply/case", sscc=PALLET)["children"] == [CASE_A, CASE_B]
    assert w.q("supply/case", sscc=CASE_A)["parent"] == PALLET
    # a packed case moves with its pallet: not shipped, unpacked or packed into alone
    sid = tag("pallet-1")[:32]
    assert _reason(w.ship(w.manufacturer, w.wholesaler, tag("x")[:32], cases=[CASE_A])) \
        == "in_case"
    assert _reason(_unpack(w, CASE_A)) == "in_case"
    extra = w.commission("morphine10", 1)[1]
    assert _reason(_pack(w, CASE_A, extra)) == "in_case"
    # shipping the pallet writes the pallet only: every unit's record is untouched
    before = _unit_bytes(w, units)
    assert w.ship(w.manufacturer, w.wholesaler, sid, cases=[PALLET]).ok
    assert _unit_bytes(w, units) == before
    for ref in units:
        found = w.q("supply/unit", unit=ref)
        assert (found["owner"], found["status"], found["shipment"]) == \
            (w.manufacturer.did, "in_transit", sid)
    assert w.q("supply/case", sscc=CASE_B)["shipment"] == sid
    assert w.q("supply/shipment", shipment=sid)["count"] == 5
    # a unit in the pallet is received with its pallet, not alone
    assert _reason(w.receive(w.wholesaler, sid, units=a[:1])) == "in_case"
    assert w.receive(w.wholesaler, sid, cases=[PALLET]).ok
    assert _unit_bytes(w, units) == before
    for ref in units:
        found = w.q("supply/unit", unit=ref)
        assert (found["owner"], found["status"], found["shipment"]) == \
            (w.wholesaler.did, "active", None)
    assert w.q("supply/case", sscc=CASE_A)["owner"] == w.wholesaler.did
    assert w.q("supply/shipment", shipment=sid)["status"] == "received"
    # the manufacturer no longer holds anything in it; the wholesaler unpacks the pallet
    assert _reason(_unpack(w, PALLET)) == "not_custodian"
    assert _unpack(w, PALLET, by=w.wholesaler).ok
    pallet = w.q("supply/case", sscc=PALLET)
    assert (pallet["contents"], pallet["children"], pallet["units"], pallet["cases"]) == \
        ([], [], 0, 0)
    case_a = w.q("supply/case", sscc=CASE_A)
    assert (case_a["parent"], case_a["owner"], case_a["contents"]) == \
        (None, w.wholesaler.did, sorted(a))
    assert w.q("supply/unit", unit=loose[0])["case"] is None
    # case A onward on its own to the pharmacy, unpacked there, a pack dispensed
    sid2 = tag("case-a")[:32]
    assert w.ship(w.wholesaler, w.pharmacy, sid2, cases=[CASE_A]).ok
    assert w.receive(w.pharmacy, sid2, cases=[CASE_A]).ok
    assert _reason(w.dispense(a[:1])) == "in_case"
    assert _unpack(w, CASE_A, by=w.pharmacy).ok
    assert w.dispense(a[:1]).ok
    assert w.q("supply/unit", unit=a[0])["status"] == "dispensed"
    assert w.q("supply/unit", unit=b[0])["owner"] == w.wholesaler.did


def test_a_pallet_is_not_packed_again_and_only_held_cases_go_in() -> None:
    w = World.build()
    _palletised(w)
    assert _reason(_pack(w, OTHER, cases=[PALLET])) == "too_deep"
    assert _reason(_pack(w, PALLET, cases=[PALLET])) == "invalid_field"
    assert _reason(_pack(w, OTHER, cases=[sscc("08800000000000019")])) == "unknown_case"
    assert _reason(_pack(w, OTHER, cases=[CASE_A])) == "in_case"
    # a wholesaler cannot pack the manufacturer's case into its own pallet
    assert w.run(w.manufacturer, _msg("pack", sscc=OTHER, units=w.commission(
        "morphine10", 1)[1], event_hash=w.event_hash("p"))).ok
    assert _reason(_pack(w, sscc("08800000000000015"), cases=[OTHER], by=w.wholesaler)) \
        == "not_custodian"
    # a case with a decommissioned unit cannot go into a pallet (as it cannot ship)
    inner = w.q("supply/case", sscc=OTHER)["contents"]
    assert w.run(w.manufacturer, _msg("decommission", units=inner, reason="sample",
                                      event_hash=w.event_hash("d"))).ok
    assert _reason(_pack(w, sscc("08800000000000015"), cases=[OTHER])) \
        == "status_not_allowed"


def test_unpack_then_ship_a_unit_alone() -> None:
    w = World.build()
    result, units = w.commission("morphine10", 3)
    assert result.ok and _pack(w, CASE_A, units).ok
    sid = tag("case")[:32]
    assert w.ship(w.manufacturer, w.wholesaler, sid, cases=[CASE_A]).ok
    assert w.receive(w.wholesaler, sid, cases=[CASE_A]).ok
    assert _reason(w.ship(w.wholesaler, w.pharmacy, tag("one")[:32], units[:1])) == "in_case"
    assert _unpack(w, CASE_A, by=w.wholesaler).ok
    one = tag("one")[:32]
    assert w.ship(w.wholesaler, w.pharmacy, one, units[:1]).ok
    assert w.q("supply/unit", unit=units[0])["status"] == "in_transit"
    assert w.receive(w.pharmacy, one, units[:1]).ok
    assert w.q("supply/unit", unit=units[0])["owner"] == w.pharmacy.did
    for ref in units[1:]:
        found = w.q("supply/unit", unit=ref)
        assert (found["owner"], found["status"], found["case"]) == \
            (w.wholesaler.did, "active", None)
    assert w.dispense(units[:1]).ok


def test_a_recall_reaches_units_inside_shipped_cases() -> None:
    w = World.build()
    a, b, _ = _palletised(w)
    sid = tag("pallet-r")[:32]
    assert w.ship(w.manufacturer, w.wholesaler, sid, cases=[PALLET]).ok
    assert w.run(w.manufacturer, _msg("recall", gtin=a[0].split("/")[0], lot="L1",
                                      event_hash=w.event_hash("recall"))).ok
    assert w.receive(w.wholesaler, sid, cases=[PALLET]).ok   # receipt does not check it
    onward = tag("onward")[:32]
    assert _reason(w.ship(w.wholesaler, w.pharmacy, onward, cases=[PALLET])) == "recalled"
    assert _reason(w.run(w.wholesaler, _msg("decommission", units=b[:1], reason="sample",
                                            event_hash=w.event_hash("d")))) == "recalled"
    assert _unpack(w, PALLET, by=w.wholesaler).ok
    assert _reason(w.ship(w.wholesaler, w.pharmacy, onward, cases=[CASE_A])) == "recalled"
    assert _unpack(w, CASE_A, by=w.wholesaler).ok
    assert _reason(w.ship(w.wholesaler, w.pharmacy, onward, a[:1])) == "recalled"
    # a recalled case goes back to its manufacturer
    back = tag("back")[:32]
    assert w.ship(w.wholesaler, w.manufacturer, back, cases=[CASE_B], kind="return").ok
    assert w.receive(w.manufacturer, back, cases=[CASE_B]).ok
    assert w.q("supply/unit", unit=b[0])["owner"] == w.manufacturer.did


def test_a_pack_stolen_from_a_pallet_in_transit_stops_its_receipt() -> None:
    w = World.build()
    a, b, _ = _palletised(w)
    sid = tag("pallet-s")[:32]
    assert w.ship(w.manufacturer, w.wholesaler, sid, cases=[PALLET]).ok
    assert _reason(w.run(w.wholesaler, _msg("decommission", units=a[:1], reason="stolen",
                                            event_hash=w.event_hash("s")))) \
        == "not_custodian"
    assert w.run(w.manufacturer, _msg("decommission", units=a[:1], reason="stolen",
                                      event_hash=w.event_hash("s"))).ok
    found = w.q("supply/unit", unit=a[0])
    assert (found["status"], found["decommission"]["prior"]) == ("stolen", "in_transit")
    assert _reason(w.receive(w.wholesaler, sid, cases=[PALLET])) == "status_not_allowed"
    assert w.q("supply/unit", unit=b[0])["status"] == "in_transit"


def test_a_case_shipped_answers_the_same_unit_facts_as_its_units_shipped_loose() -> None:
    """The same steps with and without a case: every unit query agrees but for ``case``."""
    answers = []
    for packed in (False, True):
        w = World.build()
        result, units = w.commission("morphine10", 3)
        assert result.ok
        moved: dict[str, Any] = {"cases": [CASE_A]} if packed else {"units": units}
        if packed:
            assert _pack(w, CASE_A, units).ok
        sid = tag("same")[:32]
        seen = []
        assert w.ship(w.manufacturer, w.wholesaler, sid, **moved).ok
        seen.append([w.q("supply/unit", unit=u) for u in units])
        assert w.receive(w.wholesaler, sid, **moved).ok
        seen.append([w.q("supply/unit", unit=u) for u in units])
        answers.append([[{k: v for k, v in u.items() if k not in ("case", "height")}
                         for u in step] for step in seen])
    assert answers[0] == answers[1]


class _Session:
    """Test double of the SDK's session: sends each message list as one tx of ``key`` on
    the world's chain and fails loudly on a refusal."""

    def __init__(self, world: World, key: Any) -> None:
        self.world, self.key = world, key

    def send(self, msgs: list[dict[str, Any]]) -> None:
        result = self.world.run(self.key, *msgs)
        assert result.ok, result.log

    def q(self, path: str, **data: Any) -> Any:
        return self.world.q(path, **data)


def test_the_sdk_packs_a_pallet_and_its_event_is_the_stamped_one() -> None:
    w = World.build()
    result, units = w.commission("morphine10", 2)
    assert result.ok and _pack(w, CASE_A, units).ok
    client = SupplyClient(_Session(w, w.manufacturer), clock=lambda: 1_800_000_000_000)
    client.pack(PALLET, [], [CASE_A])
    sent = client.events[-1]
    assert sent["parentID"].endswith(PALLET) and len(sent["childEPCs"]) == 1
    assert w.q("supply/case", sscc=PALLET)["children"] == [CASE_A]
    assert w.q("supply/event", event_hash=event_hash_id(sent))["step"] == "packing"


# -- determinism: memory and SQLite agree, a replay reproduces every hash ------------------
def make_world(chain: Chain) -> World:
    return World(chain)


def prelude(world: World) -> None:
    assert world.chain.run(AUTHORITY, {"type": "supply/set_params",
                                       "params": supply_params()}).ok
    world.populate()


def _steps(w: World, plan: str) -> list[list[tuple[Any, dict[str, Any]]]]:
    """Blocks of (signer, message) on the nested path; built once, from the first world."""
    gtin = PRODUCTS["morphine10"]["gtin"]
    units = [f"{gtin}/P{n:03d}" for n in range(6)]
    commission = _msg("commission", gtin=gtin, lot="L1",
                      expiry="301231", serials=[u.split("/")[1] for u in units],
                      event_hash=w.event_hash("c"))
    m, wh, ph = w.manufacturer, w.wholesaler, w.pharmacy
    sid, sid2 = tag(f"{plan}-1")[:32], tag(f"{plan}-2")[:32]
    blocks = [
        [(m, commission)],
        [(m, _msg("pack", sscc=CASE_A, units=units[:3], event_hash=w.event_hash("p"))),
         (m, _msg("pack", sscc=CASE_B, units=units[3:5], event_hash=w.event_hash("p")))],
        [(m, _msg("pack", sscc=PALLET, units=units[5:], cases=[CASE_A, CASE_B],
                  event_hash=w.event_hash("p")))],
        [(m, _msg("ship", shipment=sid, to=wh.did, cases=[PALLET],
                  event_hash=w.event_hash("s")))],
    ]
    if plan == "stolen":
        blocks += [[(m, _msg("decommission", units=units[:1], reason="stolen",
                             event_hash=w.event_hash("d")))],
                   [(wh, _msg("receive", shipment=sid, cases=[PALLET],
                              event_hash=w.event_hash("r")))]]   # refused
        return blocks
    blocks += [
        [(wh, _msg("receive", shipment=sid, cases=[PALLET], event_hash=w.event_hash("r")))],
        [(wh, _msg("unpack", sscc=PALLET, event_hash=w.event_hash("u")))],
        [(wh, _msg("ship", shipment=sid2, to=ph.did, cases=[CASE_A],
                   event_hash=w.event_hash("s")))],
        [(ph, _msg("receive", shipment=sid2, cases=[CASE_A], event_hash=w.event_hash("r"))),
         (wh, _msg("pack", sscc=OTHER, cases=[CASE_B], event_hash=w.event_hash("p")))],
        [(ph, _msg("unpack", sscc=CASE_A, event_hash=w.event_hash("u")))],
    ]
    return blocks


def run(plan: str, worlds: list[World], blocks: list[Block]) -> None:
    first = worlds[0]
    for world in worlds:
        world.chain.nonces = dict(first.chain.nonces)
        world.chain.time_ms = first.chain.time_ms
    codes = []
    for step in _steps(first, plan):
        txs = [first.chain.tx(key, msg) for key, msg in step]
        results = [world.chain.block(txs) for world in worlds]
        assert len({(r.app_hash, r.results_root) for r in results}) == 1
        codes += [(r.codespace, r.code) for r in results[0].tx_results]
        blocks.append((results[0].height, first.chain.time_ms, txs, results[0].app_hash,
                       results[0].results_root))
    assert codes[:-1] == [("", 0)] * (len(codes) - 1)
    assert codes[-1] == (("supply", 11) if plan == "stolen" else ("", 0)), codes


@pytest.mark.parametrize("plan", ["pallet", "stolen"])
def test_memory_and_sqlite_agree_and_replay_reproduces(tmp_path: Path, plan: str) -> None:
    backends_agree_and_replay(tmp_path, plan, make_world, prelude, run)
