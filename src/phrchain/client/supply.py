"""The SDK for the drug supply chain (``modules/supply``), for each role through a
:class:`SupplyClient` on the party's :class:`~phrchain.client.session.Session`:

- **manufacturer**: registers products, commissions serials in lots, packs cases,
  ships, recalls a lot;
- **wholesaler**: receives, unpacks, ships on, returns recalled stock;
- **pharmacy**: receives and dispenses scanned packs against a prescription, naming the
  patient and the prescription only by monitoring tags (:class:`MonitoringKey`);
- **prescriber / pharmacy / regulator**: read and close alerts;
- **patient**: reads their own history under the tag their pharmacy gives them.

Every EPCIS step is stamped here: the client builds the EPCIS 2.0 event of the message
(``phrchain.epcis.events``), puts its CBV 2.0 event hash id in the message, sends it, and
keeps the event (:meth:`SupplyClient.epcis_document`: the sender's copy, off chain)."""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from phrchain.client.session import RecordsError, Session
from phrchain.core import encoding
from phrchain.core.hashing import domain_prefix
from phrchain.epcis.barcode import BarcodeError, ElementString, parse_element_string
from phrchain.epcis.errors import BAD_SCAN, PRESCRIPTION_NOT_ACTIVE
from phrchain.epcis.events import document, stamp
from phrchain.modules.supply import messages as m

KEY_FILE_FORMAT: Final = "phrchain-monitoring-key/v1"
_PATIENT_TAG: Final = domain_prefix("phrchain/supply/patient-tag/v1")
_RX_TAG: Final = domain_prefix("phrchain/supply/rx-tag/v1")
_RX_COMMITMENT: Final = domain_prefix("phrchain/supply/rx-commitment/v1")


@dataclass(frozen=True)
class MonitoringKey:
    """The consortium's monitoring key (HMAC-SHA256), held by pharmacies, prescribers and
    the regulator — never by insurers or the public. It turns a patient DID and a
    prescription record id into the tags the monitoring rules group by; without it a
    tag links to nobody. The DID a patient shows every pharmacy is their monitoring
    pseudonym (``Wallet.pseudonym_did(regulator, "monitoring")``, never registered), so
    all their dispenses group under one tag (docs/privacy-v2-design.md §1)."""

    key: bytes

    @classmethod
    def create(cls) -> MonitoringKey:
        return cls(secrets.token_bytes(32))

    def patient_tag(self, patient_did: str) -> str:
        return hmac.new(self.key, _PATIENT_TAG + patient_did.encode(),
                        hashlib.sha256).hexdigest()

    def rx_tag(self, record: str) -> str:
        return hmac.new(self.key, _RX_TAG + record.encode(), hashlib.sha256).hexdigest()

    def save(self, path: Path | str) -> None:
        """Write the key file (owner-only permissions; it is a secret)."""
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({"format": KEY_FILE_FORMAT, "key": self.key.hex()}, f)

    @classmethod
    def load(cls, path: Path | str) -> MonitoringKey:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data["format"] != KEY_FILE_FORMAT:
                raise ValueError("format")
            key = bytes.fromhex(data["key"])
            if len(key) != 32:
                raise ValueError("key length")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RecordsError(f"{path} is not a monitoring key file ({exc})") from None
        return cls(key)


@dataclass(frozen=True)
class Prescription:
    """What the pharmacist read from the sealed MedicationRequest (the chain cannot):
    its record id, packs per fill, refills and days of supply; ``salt`` hides the
    commitment (kept in the pharmacy's vault with the dispense)."""

    record: str
    quantity: int
    refills: int
    days_supply: int
    salt: str

    def commitment(self) -> str:
        body = encoding.encode({"record": self.record, "quantity": self.quantity,
                                "refills": self.refills, "salt": self.salt})
        return hashlib.sha256(_RX_COMMITMENT + body).hexdigest()

# A well-formed id the message checks accept while the real one is computed.
_PLACEHOLDER: Final = f"ni:///sha-256;{'0' * 64}?ver=CBV2.0"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class SupplyClient:
    """The supply module from the client side, for any of the roles."""

    def __init__(self, session: Session, clock: Callable[[], int] = now_ms) -> None:
        self.session = session
        self.clock = clock
        self.events: list[dict[str, Any]] = []

    @property
    def did(self) -> str:
        return self.session.wallet.did

    def _q(self, path: str, **data: Any) -> Any:
        return self.session.q(path, **data)

    def _stamped(self, message: Any, before: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
        """Stamp a message (its dataclass, built with a placeholder id) with its event hash
        id, send it (after ``before``, in the same tx), keep the event; returns what was
        sent."""
        body = message.to_msg()
        del body["event_hash"]
        stamped, event = stamp(body, self.clock())
        sent: dict[str, Any] = dataclasses.replace(
            message, event_hash=stamped["event_hash"]).to_msg()
        self.session.send([*before, sent])
        self.events.append(event)
        return sent

    def epcis_document(self) -> dict[str, Any]:
        """Every event this client sent, as one EPCIS 2.0 document (in order)."""
        return document(self.events, self.clock())

    # -- manufacturer ------------------------------------------------------------------
    def register_product(self, gtin: str, name: str, ingredients: Sequence[Mapping[str, Any]],
                         dose_form: str, dose_units: int, controlled: str) -> str:
        msg = m.RegisterProduct.parse({
            "gtin": gtin, "name": name, "ingredients": [dict(i) for i in ingredients],
            "dose_form": dose_form, "dose_units": dose_units, "controlled": controlled})
        self.session.send([msg.to_msg()])
        return msg.gtin

    def commission(self, gtin: str, lot: str, expiry: str, serials: Iterable[str]) -> list[str]:
        """Commission serials of one lot; returns the unit references."""
        sent = self._stamped(m.Commission.parse({
            "gtin": gtin, "lot": lot, "expiry": expiry, "serials": sorted(set(serials)),
            "event_hash": _PLACEHOLDER}))
        return [f"{sent['gtin']}/{s}" for s in sent["serials"]]

    def pack(self, sscc: str, units: Iterable[str], cases: Iterable[str] = ()) -> None:
        """Units, or cases (into a pallet), into case ``sscc``."""
        fields: dict[str, Any] = {"sscc": sscc, "event_hash": _PLACEHOLDER}
        for name, values in (("units", units), ("cases", cases)):
            if chosen := sorted(set(values)):
                fields[name] = chosen
        self._stamped(m.Pack.parse(fields))

    def unpack(self, sscc: str) -> None:
        self._stamped(m.Unpack.parse({"sscc": sscc, "event_hash": _PLACEHOLDER}))

    def recall(self, gtin: str, lot: str) -> None:
        self._stamped(m.Recall.parse({"gtin": gtin, "lot": lot, "event_hash": _PLACEHOLDER}))

    # -- custody -----------------------------------------------------------------------
    def _moving(self, kind: Any, shipment: str | None, to: str | None,
                units: Iterable[str], cases: Iterable[str]) -> str:
        shipment = shipment or secrets.token_hex(16)
        fields: dict[str, Any] = {"shipment": shipment, "units": sorted(set(units)),
                                  "cases": sorted(set(cases)), "event_hash": _PLACEHOLDER}
        if to is not None:
            fields["to"] = to
        self._stamped(kind.parse(fields))
        return shipment

    def ship(self, to: str, units: Iterable[str] = (), cases: Iterable[str] = (),
             shipment: str | None = None) -> str:
        """Ship units and cases to ``to``; returns the shipment id."""
        return self._moving(m.Ship, shipment, to, units, cases)

    def return_units(self, to: str, units: Iterable[str] = (), cases: Iterable[str] = (),
                     shipment: str | None = None) -> str:
        """Send units back to their manufacturer ``to`` (recalled ones too)."""
        return self._moving(m.Return, shipment, to, units, cases)

    def receive(self, shipment: str, units: Iterable[str] = (),
                cases: Iterable[str] = ()) -> dict[str, Any]:
        """Receive what was scanned; returns the shipment (``status`` says whether any
        unit is still missing: ``discrepancy``)."""
        self._moving(m.Receive, shipment, None, units, cases)
        return dict(self._q("supply/shipment", shipment=shipment))

    def decommission(self, units: Iterable[str], reason: str) -> None:
        self._stamped(m.Decommission.parse({"units": sorted(set(units)), "reason": reason,
                                            "event_hash": _PLACEHOLDER}))

    def reverse(self, units: Iterable[str]) -> None:
        self._stamped(m.Reverse.parse({"units": sorted(set(units)),
                                       "event_hash": _PLACEHOLDER}))

    def set_params(self, table: Mapping[str, Any]) -> None:
        """(authority) Store the next version of the parameter table (governance)."""
        self.session.send([m.SetParams.parse({"params": dict(table)}).to_msg()])

    def declare_error(self, event: str, reason: str, corrective: Iterable[str] = ()) -> None:
        self.session.send([m.DeclareError(event, reason, tuple(sorted(corrective))).to_msg()])

    # -- pharmacy ----------------------------------------------------------------------
    def dispense(self, key: MonitoringKey, patient_did: str, prescription: Prescription,
                 scanned: Iterable[str | ElementString], prescriber: str,
                 stewardship: str | None = None, exemption: str | None = None,
                 dispense: str | None = None,
                 authorization: Mapping[str, Any] | None = None) -> str:
        """Dispense scanned packs (element strings as the scanner sends them) against a
        prescription record. The record must be an active record on chain; the chain
        sees only the tags and the commitment. ``authorization``: the prescriber's signed
        registration (:meth:`prescribe`), submitted in the same tx when the prescription
        is not registered yet. Returns the dispense id."""
        record = self._q("records/get", record=prescription.record)
        if record is None or record.get("status") != "active":
            raise PRESCRIPTION_NOT_ACTIVE(prescription.record)
        try:
            codes = [parse_element_string(s) if isinstance(s, str) else s for s in scanned]
        except BarcodeError as exc:
            raise BAD_SCAN(str(exc)) from None
        scans = sorted((c.scan() for c in codes), key=lambda s: (s["gtin"], s["serial"]))
        message = m.Dispense.parse({
            "dispense": dispense or secrets.token_hex(16), "scans": scans,
            "patient": key.patient_tag(patient_did), "rx": key.rx_tag(prescription.record),
            "rx_commitment": prescription.commitment(), "prescriber": prescriber,
            "quantity": prescription.quantity, "refills": prescription.refills,
            "days_supply": prescription.days_supply, "event_hash": _PLACEHOLDER,
            **({"stewardship": stewardship} if stewardship is not None else {}),
            **({"exemption": exemption} if exemption is not None else {})})
        before = []
        if authorization is not None and self.prescription(key, prescription.record) is None:
            before.append(m.Prescribe.parse(
                {k: v for k, v in authorization.items() if k != "type"}).to_msg())
        return str(self._stamped(message, before)["dispense"])

    # -- prescriber -----------------------------------------------------------------------
    def prescribe(self, key: MonitoringKey, patient_did: str, prescription: Prescription,
                  valid_days: int = 30) -> dict[str, Any]:
        """(physician) Sign the prescription's registration — a salted commitment under
        its tag, for the patient's tag, with its limits and today's date — and return it
        (a ``supply/prescribe`` message) to hand to the pharmacy with the record id and
        the salt. Nothing is sent: the pharmacy submits it with the first fill, so the
        chain does not show it next to the moment the record was written."""
        unsigned = m.Prescribe(
            key.rx_tag(prescription.record), key.patient_tag(patient_did),
            prescription.commitment(), prescription.quantity, prescription.refills,
            self.clock() // 86_400_000, valid_days, self.did, "00" * 64)
        signature = self.session.wallet.signing_key.sign(
            unsigned.signed_bytes(self.session.node.chain_id())).hex()
        return dataclasses.replace(unsigned, signature=signature).to_msg()

    def cancel_prescription(self, key: MonitoringKey, record: str) -> None:
        """(physician) Withdraw a prescription, registered or not yet: later fills and
        registrations are refused."""
        self.session.send([m.CancelRx(key.rx_tag(record)).to_msg()])

    def prescription(self, key: MonitoringKey, record: str) -> dict[str, Any] | None:
        """The registered prescription of ``record`` (limits, fills, status)."""
        found = self._q("supply/rx", rx=key.rx_tag(record))
        return None if found is None else dict(found)

    # -- alerts and reads ----------------------------------------------------------------
    def close_alert(self, alert: str, outcome: str) -> None:
        self.session.send([m.CloseAlert(alert, outcome).to_msg()])

    def open_alerts(self) -> list[str]:
        out: list[str] = []
        after = None
        while True:
            page = self._q("supply/alerts", **({"after": after} if after else {}))
            out += page["alerts"]
            after = page["next"]
            if after is None:
                return out

    def alert(self, alert: str) -> dict[str, Any] | None:
        found = self._q("supply/alert", alert=alert)
        return None if found is None else dict(found)

    def prescriber_history(self, key: MonitoringKey, patient_did: str,
                           purpose: str = "strong_opioid", days: int = 365,
                           now: int | None = None) -> list[dict[str, Any]]:
        """(physician) Before prescribing a strong opioid: record the statutory read on
        chain (the patient sees it, as a break-glass read), then the patient's dispenses
        of the last ``days`` days that hold a controlled product (narcotic or
        psychotropic); others are not part of the statutory read."""
        tag = key.patient_tag(patient_did)
        self.session.send([m.ReadHistory(tag, purpose).to_msg()])
        today = (self.clock() if now is None else now) // 86_400_000
        classes: dict[str, str] = {}

        def controlled(dispense: Mapping[str, Any]) -> bool:
            for gtin in {u.split("/")[0] for u in dispense["units"]}:
                if gtin not in classes:
                    product = self._q("supply/product", gtin=gtin) or {}
                    classes[gtin] = str(product.get("controlled", "none"))
                if classes[gtin] != "none":
                    return True
            return False

        return [d for d in self.history(key, patient_did)
                if today - d["day"] < days and controlled(d)]

    def history_reads(self, key: MonitoringKey, patient_did: str) -> list[dict[str, Any]]:
        """(patient) Who read my controlled-substance history, for what, when."""
        found = self._q("supply/history_reads", patient=key.patient_tag(patient_did))
        return [dict(r) for r in found["reads"]]

    def unit(self, unit: str) -> dict[str, Any] | None:
        found = self._q("supply/unit", unit=unit)
        return None if found is None else dict(found)

    def history(self, key: MonitoringKey, patient_did: str) -> list[dict[str, Any]]:
        """A patient's dispenses, oldest first (the patient's own medication history)."""
        tag = key.patient_tag(patient_did)
        ids: list[str] = []
        after = None
        while True:
            page = self._q("supply/history", patient=tag, **({"after": after} if after else {}))
            ids += page["dispenses"]
            after = page["next"]
            if after is None:
                break
        return [dict(self._q("supply/dispense", dispense=d)) for d in ids]
