"""The pharmacy's own store (off chain, never sent): which patient each dispense was
for, and what the ward administered from each pack. The chain has only monitoring tags;
the statutory report (``phrchain.epcis.nims``) joins this store with the ledger.

File (JSON, owner-only permissions, rewritten atomically)::

    {"format": "phrchain-pharmacy-log/v1",
     "dispenses": [{"dispense", "patient_ref", "record"}],
     "administrations": [{"dispense", "unit", "given_ug", "time_ms"}]}

``patient_ref`` is whatever the pharmacy reports a patient by (a registration number
in its own system); it stays in this file and in the report to the regulator."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from phrchain.epcis.errors import BAD_ADMINISTRATION

FORMAT: Final = "phrchain-pharmacy-log/v1"
MAX_UG: Final = 10**12


@dataclass(frozen=True)
class PharmacyLog:
    path: Path

    def load(self) -> dict[str, Any]:
        if not self.path.exists():
            return {"format": FORMAT, "dispenses": [], "administrations": []}
        try:
            body = json.loads(self.path.read_text(encoding="utf-8"))
            if body.get("format") != FORMAT:
                raise ValueError("format")
            return {"format": FORMAT, "dispenses": list(body["dispenses"]),
                    "administrations": list(body["administrations"])}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BAD_ADMINISTRATION(f"{self.path} is not a pharmacy log ({exc})") from None

    def _save(self, body: dict[str, Any]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pharmacy-log-")
        try:
            os.fchmod(fd, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(body, f, indent=1, sort_keys=True)
            os.replace(tmp, self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def record_dispense(self, dispense: str, patient_ref: str, record: str) -> None:
        body = self.load()
        body["dispenses"].append({"dispense": dispense, "patient_ref": patient_ref,
                                  "record": record})
        self._save(body)

    def record_administration(self, dispense: str, unit: str, given_ug: int,
                              time_ms: int) -> None:
        """What was given from one dispensed pack (an ampoule: 30 mg of 50 mg)."""
        if not isinstance(given_ug, int) or not 0 < given_ug <= MAX_UG:
            raise BAD_ADMINISTRATION("given_ug must be a positive whole number of µg")
        body = self.load()
        if not any(d["dispense"] == dispense for d in body["dispenses"]):
            raise BAD_ADMINISTRATION(f"dispense {dispense} is not in this pharmacy's log")
        body["administrations"].append({"dispense": dispense, "unit": unit,
                                        "given_ug": given_ug, "time_ms": time_ms})
        self._save(body)
