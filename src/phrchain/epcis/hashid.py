"""The CBV 2.0 event hash id of an EPCIS 2.0 event (CBV 2.0 §8.9, "EPCIS event hash ID").

The pre-hash string is ``eventType=<type>`` followed by the event's fields in the
standard's order, each ``name=value`` with values canonicalised: times in UTC with
milliseconds (``2024-01-02T03:04:05.000Z``), EPC URNs as GS1 Digital Link URIs on
``https://id.gs1.org``, CBV vocabulary as ``https://ref.gs1.org/cbv/<Type>-<word>``;
the entries of a list are sorted; ILMD and other extension fields are written
``{namespace}name=value``, sorted. The hash id is ``ni:///sha-256;<hex of SHA-256 of the
UTF-8 pre-hash string>?ver=CBV2.0``.

Scope: the fields phrchain's supply events use and the common ones around them
(``parentID``, EPC lists, quantity lists, ``action``, ``bizStep``, ``disposition``,
``readPoint``, ``bizLocation``, ``bizTransactionList``, ``sourceList``,
``destinationList``, ``ilmd``). An event with any other field is refused with
:class:`EpcisError` rather than given a hash that might differ from other systems'.
``tests/unit/test_supply_epcis.py`` checks the ids against the GS1 reference generator.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, Final

from phrchain.modules.supply.gs1 import check_digit

HASH_PREFIX: Final = "ni:///sha-256;"
HASH_SUFFIX: Final = "?ver=CBV2.0"
DL: Final = "https://id.gs1.org"
CBV: Final = "https://ref.gs1.org/cbv/"
# The namespace prefixes of extension fields (ILMD) in phrchain's own documents, which
# declare them in their @context (``events.document``); a document's own @context
# decides for the documents of others.
DEFAULT_PREFIXES: Final = {"cbvmda": "urn:epcglobal:cbv:mda:"}
EVENT_TYPES: Final = frozenset({"ObjectEvent", "AggregationEvent", "TransactionEvent",
                                "TransformationEvent", "AssociationEvent"})
# Fields that never enter the hash (CBV 2.0 §8.9: the id itself and the capture metadata).
_LEFT_OUT: Final = frozenset({"type", "eventID", "recordTime", "@context", "errorDeclaration"})
_EPC_LISTS: Final = ("epcList", "inputEPCList", "childEPCs")
_QUANTITY_LISTS: Final = ("quantityList", "childQuantityList", "inputQuantityList")
_TAIL_LISTS: Final = ("outputEPCList",)
_TAIL_QUANTITIES: Final = ("outputQuantityList",)
_TIMESTAMP: Final = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_URN: Final = re.compile(r"urn:epc:(id|class):(sgtin|sscc|sgln|pgln|lgtin|grai|giai):(.+)")


class EpcisError(ValueError):
    """An EPCIS event this implementation cannot canonicalise (or malformed)."""


def _time(value: Any) -> str:
    match = _TIMESTAMP.fullmatch(value) if isinstance(value, str) else None
    if match is None:
        raise EpcisError(f"not an ISO 8601 date-time with an offset: {value!r}")
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
    return parsed.strftime("%Y-%m-%dT%H:%M:%S.") + f"{parsed.microsecond // 1000:03d}Z"


def _gs1_key(prefix: str, reference: str, lead: str = "") -> str:
    body = lead + prefix + reference
    return body + str(check_digit(body))


def epc_uri(value: Any) -> str:
    """An EPC as a canonical GS1 Digital Link URI (EPC URNs converted, Tag Data
    Standard §6); any other URI unchanged."""
    if not isinstance(value, str) or not value:
        raise EpcisError(f"an EPC must be a URI: {value!r}")
    match = _URN.fullmatch(value)
    if match is None:
        return value
    scheme, parts = match.group(2), match.group(3).split(".")
    try:
        if scheme == "sgtin":
            cp, item, serial = parts
            return f"{DL}/01/{_gs1_key(cp, item[1:], item[0])}/21/{serial}"
        if scheme == "lgtin":
            cp, item, lot = parts
            return f"{DL}/01/{_gs1_key(cp, item[1:], item[0])}/10/{lot}"
        if scheme == "sscc":
            cp, ref = parts
            return f"{DL}/00/{_gs1_key(cp, ref[1:], ref[0])}"
        if scheme == "sgln":
            cp, loc, ext = parts
            gln = _gs1_key(cp, loc)
            return f"{DL}/414/{gln}" + ("" if ext == "0" else f"/254/{ext}")
        if scheme == "pgln":
            cp, party = parts
            return f"{DL}/417/{_gs1_key(cp, party)}"
    except ValueError:
        raise EpcisError(f"malformed EPC URN: {value}") from None
    raise EpcisError(f"EPC scheme {scheme} is not supported here: {value}")


def _vocabulary(kind: str) -> Callable[[Any], str]:
    urn = {"BizStep": "urn:epcglobal:cbv:bizstep:", "Disp": "urn:epcglobal:cbv:disp:",
           "BTT": "urn:epcglobal:cbv:btt:", "SDT": "urn:epcglobal:cbv:sdt:"}[kind]

    def canonical(value: Any) -> str:
        if not isinstance(value, str) or not value:
            raise EpcisError(f"a {kind} value must be a string")
        if value.startswith(urn):
            return f"{CBV}{kind}-{value[len(urn):]}"
        if ":" in value:
            return value  # already a URI (CBV web vocabulary, or a private one)
        return f"{CBV}{kind}-{value}"

    return canonical


def _sorted_join(items: Iterable[str]) -> str:
    return "".join(sorted(items))


def _list(event: Mapping[str, Any], name: str) -> list[Any]:
    value = event[name]
    if not isinstance(value, list):
        raise EpcisError(f"{name} must be a list")
    return value


def _quantity(entry: Any) -> str:
    if not isinstance(entry, dict) or "epcClass" not in entry \
            or set(entry) - {"epcClass", "quantity", "uom"}:
        raise EpcisError("a quantity element has epcClass and optionally quantity, uom")
    out = f"quantityElementepcClass={epc_uri(entry['epcClass'])}"
    if "quantity" in entry:
        if type(entry["quantity"]) is not int:
            raise EpcisError("only integer quantities are supported here")
        out += f"quantity={entry['quantity']}"
    if "uom" in entry:
        out += f"uom={entry['uom']}"
    return out


def _typed_list(event: Mapping[str, Any], name: str, member: str, kind: str) -> str:
    vocab = _vocabulary(kind)
    items = []
    for entry in _list(event, name):
        if not isinstance(entry, dict) or set(entry) - {"type", member} or member not in entry:
            raise EpcisError(f"{name} entries have {member} and optionally type")
        text = f"type={vocab(entry['type'])}" if "type" in entry else ""
        value = entry[member] if member == "bizTransaction" else epc_uri(entry[member])
        items.append(f"{text}{member}={value}")
    return name + _sorted_join(items)


def _extension(name: str, value: Any, prefixes: Mapping[str, str]) -> str:
    """``{namespace}name=value``; a name whose prefix the context does not declare is
    written as it stands (JSON-LD leaves it unexpanded, and so does the reference)."""
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise EpcisError(f"only text and integer extension values are supported: {name}")
    prefix, sep, local = name.partition(":")
    if sep and prefix in prefixes:
        return f"{{{prefixes[prefix]}}}{local}={value}"
    return f"{name}={value}"


def _place(event: Mapping[str, Any], name: str) -> str:
    value = event[name]
    if not isinstance(value, dict) or set(value) != {"id"}:
        raise EpcisError(f"{name} must be {{\"id\": <URI>}}")
    return f"{name}id={epc_uri(value['id'])}"


def prehash(event: Mapping[str, Any], prefixes: Mapping[str, str] | None = None) -> str:
    """The CBV 2.0 pre-hash string of one event (a JSON-LD event object)."""
    prefixes = DEFAULT_PREFIXES if prefixes is None else prefixes
    kind = event.get("type")
    if kind not in EVENT_TYPES:
        raise EpcisError(f"unknown event type {kind!r}")
    handled: set[str] = set(_LEFT_OUT)
    parts = [f"eventType={kind}"]

    def take(name: str, render: Callable[[], str]) -> None:
        if name in event:
            handled.add(name)
            text = render()
            if text != name:   # an empty list is left out
                parts.append(text)

    take("eventTime", lambda: f"eventTime={_time(event['eventTime'])}")
    take("eventTimeZoneOffset", lambda: f"eventTimeZoneOffset={event['eventTimeZoneOffset']}")
    take("parentID", lambda: f"parentID={epc_uri(event['parentID'])}")
    def epcs(name: str) -> Callable[[], str]:
        return lambda: name + _sorted_join(f"epc={epc_uri(e)}" for e in _list(event, name))

    def quantities(name: str) -> Callable[[], str]:
        return lambda: name + _sorted_join(_quantity(q) for q in _list(event, name))

    for name in _EPC_LISTS:
        take(name, epcs(name))
    for name in _QUANTITY_LISTS:
        take(name, quantities(name))
    for name in _TAIL_LISTS:
        take(name, epcs(name))
    for name in _TAIL_QUANTITIES:
        take(name, quantities(name))
    take("action", lambda: f"action={event['action']}")
    take("bizStep", lambda: f"bizStep={_vocabulary('BizStep')(event['bizStep'])}")
    take("disposition", lambda: f"disposition={_vocabulary('Disp')(event['disposition'])}")
    take("readPoint", lambda: _place(event, "readPoint"))
    take("bizLocation", lambda: _place(event, "bizLocation"))
    take("bizTransactionList",
         lambda: _typed_list(event, "bizTransactionList", "bizTransaction", "BTT"))
    # The GS1 reference generator writes destinationList before sourceList; the ids must
    # equal its ids, so this follows it.
    take("destinationList", lambda: _typed_list(event, "destinationList", "destination", "SDT"))
    take("sourceList", lambda: _typed_list(event, "sourceList", "source", "SDT"))

    def ilmd() -> str:
        value = event["ilmd"]
        if not isinstance(value, dict):
            raise EpcisError("ilmd must be an object")
        return "ilmd" + _sorted_join(_extension(k, v, prefixes) for k, v in value.items())

    take("ilmd", ilmd)
    unknown = set(event) - handled
    if unknown:
        raise EpcisError(f"fields not supported by this implementation: {sorted(unknown)}")
    return "".join(parts)


def event_hash_id(event: Mapping[str, Any], prefixes: Mapping[str, str] | None = None) -> str:
    digest = hashlib.sha256(prehash(event, prefixes).encode("utf-8")).hexdigest()
    return f"{HASH_PREFIX}{digest}{HASH_SUFFIX}"


def _context_prefixes(document: Mapping[str, Any]) -> dict[str, str]:
    context = document.get("@context", [])
    found: dict[str, str] = {}
    for entry in context if isinstance(context, list) else [context]:
        if isinstance(entry, dict):
            found.update({k: v for k, v in entry.items()
                          if isinstance(v, str) and not k.startswith("@")})
    return found


def event_hash_ids(document: Mapping[str, Any] | list[Any]) -> list[str]:
    """The hash id of every event of an EPCIS 2.0 document (or of a bare event list),
    in document order."""
    prefixes: Mapping[str, str] | None
    if isinstance(document, list):
        events, prefixes = document, None
    else:
        body = document.get("epcisBody")
        found = body.get("eventList") if isinstance(body, dict) else None
        if not isinstance(found, list):
            raise EpcisError("an EPCIS document has epcisBody.eventList")
        events, prefixes = found, _context_prefixes(document)
    return [event_hash_id(e, prefixes) for e in events]
