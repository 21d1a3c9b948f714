"""The edge's CBV 2.0 event hash ids equal the GS1 reference generator's
(``epcis-event-hash-generator``, a test-only oracle) on the events the supply messages
produce, on generated events and on a document using EPC URNs; and the GS1 element
string parser agrees with a GS1 barcode library (``biip``, test-only) on generated
codes. Both oracles are only imported here."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

# Oracles from the test extra: imported plainly, so a missing one fails the run
# instead of skipping the comparison.
import biip
import pytest
from epcis_event_hash_generator import hash_generator as reference
from epcis_event_hash_generator import json_to_py as reference_json
from hypothesis import given, settings
from hypothesis import strategies as st

from phrchain.epcis import BarcodeError, EpcisError, event_hash_ids, parse_element_string
from phrchain.epcis.events import document, event_for, stamp
from phrchain.epcis.hashid import event_hash_id
from phrchain.modules.supply import gs1
from tests.supplyworld import World, gtin, sscc

# The reference generator loads its bundled JSON-LD context with a deprecated call.
pytestmark = pytest.mark.filterwarnings(
    "ignore:open_text is deprecated:DeprecationWarning")
T0 = 1_700_000_123_456
GTIN = gtin("0880000000001")
CASE = sscc("08800000000000001")
VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "epcis"


def oracle(doc: dict[str, Any]) -> list[str]:
    events = reference_json.event_list_from_epcis_document_json(json.loads(json.dumps(doc)))
    return list(reference.epcis_hashes_from_events(events))


def supply_messages() -> list[dict[str, Any]]:
    units = [f"{GTIN}/S1", f"{GTIN}/S2"]
    scans = [{"gtin": GTIN, "serial": "S1", "lot": "L1", "expiry": "301200"}]
    ship = {"shipment": "ab" * 16, "to": "did:key:z6Mk", "units": units[1:], "cases": [CASE]}
    return [
        {"type": "supply/commission", "gtin": GTIN, "lot": "L1", "expiry": "301200",
         "serials": ["S1", "S2"]},
        {"type": "supply/commission", "gtin": GTIN, "lot": "L-2.x", "expiry": "240229",
         "serials": ["A"]},
        {"type": "supply/pack", "sscc": CASE, "units": units},
        {"type": "supply/pack", "sscc": sscc("08800000000000013"), "cases": [CASE]},  # pallet
        {"type": "supply/unpack", "sscc": CASE},
        {"type": "supply/ship", **ship},
        {"type": "supply/return", **ship},
        {"type": "supply/receive", "shipment": "ab" * 16, "cases": [CASE]},
        *({"type": "supply/decommission", "units": units, "reason": r}
          for r in ("destroyed", "stolen", "sample", "exported")),
        {"type": "supply/reverse", "units": units},
        {"type": "supply/recall", "gtin": GTIN, "lot": "L1"},
        {"type": "supply/dispense", "scans": scans},
    ]


def test_every_supply_event_hashes_as_the_reference_generator() -> None:
    events = [event_for(m, T0 + n) for n, m in enumerate(supply_messages())]
    doc = document(events, T0)
    mine = event_hash_ids(doc)
    assert mine == oracle(doc)
    assert len(set(mine)) == len(mine)


def test_stamped_messages_are_accepted_by_the_chain_and_match_the_oracle() -> None:
    """The SDK path: stamp a message, send it; the chain stores the id the oracle gives."""
    w = World.build()
    g = w.commission("morphine10", 0 + 1)[1][0].split("/")[0]
    msg, event = stamp({"type": "supply/commission", "gtin": g, "lot": "LX",
                        "expiry": "301231", "serials": ["Q1", "Q2"]}, T0)
    assert w.run(w.manufacturer, msg).ok
    stored = w.q("supply/event", event_hash=msg["event_hash"])
    assert stored["step"] == "commissioning"
    assert [msg["event_hash"]] == oracle(document([event], T0))


def test_a_document_with_urns_locations_and_parties() -> None:
    doc = json.loads((VECTORS / "urns_and_parties.jsonld").read_text())
    assert event_hash_ids(doc) == oracle(doc)


_serials = st.from_regex(r"[0-9A-Za-z\-._]{1,20}", fullmatch=True)
_times = st.integers(946_684_800_000, 4_102_444_800_000)
_gtins = st.from_regex(r"[0-9]{13}", fullmatch=True).map(lambda b: b + str(gs1.check_digit(b)))


@settings(max_examples=40, deadline=None)
@given(_gtins, st.lists(_serials, min_size=1, max_size=5, unique=True), _serials, _times,
       st.sampled_from(["supply/commission", "supply/pack", "supply/ship",
                        "supply/decommission", "supply/dispense", "supply/recall"]),
       st.sampled_from(["destroyed", "stolen", "sample", "exported"]))
def test_generated_events_match_the_reference(g: str, serials: list[str], lot: str,
                                              time_ms: int, kind: str, reason: str) -> None:
    units = sorted(f"{g}/{s}" for s in serials)
    msg = {"type": kind, "gtin": g, "lot": lot, "expiry": "301231", "serials": serials,
           "sscc": CASE, "units": units, "shipment": "cd" * 16, "reason": reason,
           "scans": [{"gtin": g, "serial": s} for s in serials]}
    doc = document([event_for(msg, time_ms)], time_ms)
    assert event_hash_ids(doc) == oracle(doc)


def test_time_is_normalised_to_utc_milliseconds() -> None:
    base = {"type": "ObjectEvent", "eventTimeZoneOffset": "+09:00", "action": "OBSERVE",
            "epcList": [f"https://id.gs1.org/01/{GTIN}/21/S1"]}
    a = event_hash_id({**base, "eventTime": "2024-01-02T03:04:05.678+09:00"})
    b = event_hash_id({**base, "eventTime": "2024-01-01T18:04:05.678Z"})
    c = event_hash_id({**base, "eventTime": "2024-01-01T18:04:05.679Z"})
    assert a == b != c


def test_unsupported_fields_are_refused_not_guessed() -> None:
    event = event_for({"type": "supply/dispense", "scans": [{"gtin": GTIN, "serial": "S"}]},
                      T0)
    with pytest.raises(EpcisError, match="sensorElementList"):
        event_hash_id({**event, "sensorElementList": []})
    with pytest.raises(EpcisError):
        event_hash_id({**event, "eventTime": "yesterday"})


# -- GS1 element strings ------------------------------------------------------------------
_cset82 = st.from_regex(r"[!\"%-?A-Z_a-z]{1,20}", fullmatch=True)
_no_brackets = _cset82.filter(lambda v: "(" not in v and ")" not in v)
_dates = st.dates(min_value=__import__("datetime").date(2000, 1, 1),
                  max_value=__import__("datetime").date(2099, 12, 31)).map(
    lambda d: d.strftime("%y%m%d"))


def _biip(text: str) -> dict[str, str]:
    result = biip.parse(text)
    assert result.gs1_message is not None, result
    return {e.ai.ai: e.value for e in result.gs1_message.element_strings}


@settings(max_examples=150, deadline=None)
@given(_gtins, _cset82, _cset82, _dates, st.sampled_from(["", "]d2", "]C1", "]Q3"]),
       st.permutations(["17", "10", "21"]))
def test_raw_element_strings_agree_with_biip(g: str, serial: str, lot: str, expiry: str,
                                             symbology: str, order: list[str]) -> None:
    values = {"10": lot, "17": expiry, "21": serial}
    # variable-length fields end with FNC1 (GS) unless last
    text = symbology + "01" + g
    for n, ai in enumerate(order):
        text += ai + values[ai] + ("\x1d" if ai != "17" and n < len(order) - 1 else "")
    mine = parse_element_string(text)
    theirs = _biip(text)
    assert (mine.gtin, mine.serial, mine.lot, mine.expiry) \
        == (theirs["01"], theirs["21"], theirs["10"], theirs["17"])
    assert mine.scan() == {"gtin": g, "serial": serial, "lot": lot, "expiry": expiry}


@settings(max_examples=100, deadline=None)
@given(_gtins, _no_brackets, _no_brackets, _dates)
def test_human_readable_element_strings_agree_with_biip(g: str, serial: str, lot: str,
                                                        expiry: str) -> None:
    text = f"(01){g}(17){expiry}(10){lot}(21){serial}"
    mine = parse_element_string(text)
    theirs = {e.ai.ai: e.value
              for e in biip.gs1_messages.GS1Message.parse_hri(text).element_strings}
    assert (mine.gtin, mine.serial, mine.lot, mine.expiry) \
        == (theirs["01"], theirs["21"], theirs["10"], theirs["17"])


@settings(max_examples=100, deadline=None)
@given(st.from_regex(r"[0-9]{13}", fullmatch=True), st.integers(0, 9))
def test_check_digits_agree_with_biip(body: str, digit: int) -> None:
    code = body + str(digit)
    valid = biip.parse(code).gtin is not None and biip.parse(code).gtin_error is None
    assert (gs1.normalize_gtin(code) is not None) == valid
    sscc_code = "0" + body + "123" + str(digit)
    theirs = biip.parse("00" + sscc_code)
    sscc_ok = theirs.sscc is not None and theirs.sscc_error is None
    assert gs1.valid_sscc(sscc_code) == sscc_ok


@pytest.mark.parametrize("text", [
    "(01)08800000000014(21)S1",          # wrong check digit
    "(01)08800000000015(17)301332",      # no 13th month
    "(01)08800000000015(99)X",           # an AI we do not take
    "0108800000000015\x1d10",            # an empty lot
    "",
])
def test_bad_codes_are_refused(text: str) -> None:
    with pytest.raises(BarcodeError):
        parse_element_string(text)
