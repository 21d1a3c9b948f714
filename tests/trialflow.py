"""A clinical trial on the in-process chain: the sponsor is the research institute of
``tests.world`` (researcher RR), the sites are hospitals A (physicians A1, A2) and B
(physician B1), and participants act under trial pseudonyms derived from their wallet
root as docs/privacy-v2-design.md §1 fixes (HKDF-SHA256, counterpart = the trial, kind
"trial"), registered as patients by the pseudonym's own key."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phrchain.core import encoding, keys
from phrchain.modules.trials.messages import (
    Amend,
    Commit,
    Enrol,
    Entry,
    Lock,
    Protocol,
    Reconsent,
    Register,
    Registration,
    Results,
    Unblind,
    Withdraw,
)
from phrchain.modules.trials.outcomes import Outcome
from tests.world import (
    DAY_MS,
    HOSPITAL_A,
    HOSPITAL_B,
    RR,
    World,
    enc_key,
)


def pseudonym(root: bytes, counterpart: str, kind: str = "trial") -> keys.SigningKey:
    """The design's pseudonym derivation (the wallet's, reproduced for tests)."""
    info = encoding.encode({"counterpart": counterpart, "kind": kind, "generation": 0,
                            "rotation": 0})
    okm = HKDF(algorithm=hashes.SHA256(), length=64, salt=b"phrchain/pseudonym/v1",
               info=info).derive(root)
    return keys.SigningKey(okm[:32])


def commitment(label: str) -> str:
    return hashlib.sha256(b"salt|" + label.encode()).hexdigest()


def trial_id(n: int) -> str:
    return hashlib.sha256(b"trial" + n.to_bytes(4, "big")).hexdigest()[:32]


def entry_id(n: int) -> str:
    return hashlib.sha256(b"entry" + n.to_bytes(4, "big")).hexdigest()[:32]


REGISTRATION = Registration(
    registry_ids=("ISRCTN00000000",), title="Drug X for condition Y",
    scientific_title="A randomised placebo-controlled trial of drug X in adults with Y",
    conditions=("Condition Y",), interventions=("Drug X", "Placebo"),
    study_type="interventional", target_size=200, countries=("DE", "FR"),
    ethics_ref="EC-2026-001", ipd_sharing="No individual participant data will be shared.")
OUTCOMES = (
    Outcome("mortality", "All-cause mortality", "12 months", "primary"),
    Outcome("qol", "Quality of life (EQ-5D)", "6 months", "secondary"),
    Outcome("stay", "Length of hospital stay", "index admission", "secondary"),
)


def protocol(*, outcomes: tuple[Outcome, ...] = OUTCOMES, sites: tuple[str, ...] | None = None,
             doc: str = "protocol v1", withdrawal: str = "retain",
             registration: Registration = REGISTRATION) -> Protocol:
    return Protocol(registration, tuple(sorted(sites or (HOSPITAL_A.did, HOSPITAL_B.did))),
                    ("drug", "placebo"),
                    outcomes, commitment(doc), withdrawal)


@dataclass
class TrialWorld(World):
    """World plus trial helpers; ``register`` / ``ready`` build a trial step by step."""

    def __post_init__(self) -> None:
        super().__post_init__()
        self._pseudonyms: dict[tuple[int, str], keys.SigningKey] = {}

    def register(self, trial: str, *, by: keys.SigningKey = RR, start_in: int = 0,
                 **kw: Any) -> Register:
        m = Register(trial, self.now + 1000 + start_in, protocol(**kw))
        self.ok(by, m.to_msg())
        return m

    def commit_all(self, trial: str, by: keys.SigningKey = RR) -> None:
        for kind in ("sap", "randomisation"):
            self.ok(by, Commit(trial, kind, commitment(f"{kind} of {trial}")).to_msg())

    def ready(self, trial: str, **kw: Any) -> Register:
        m = self.register(trial, **kw)
        self.commit_all(trial)
        return m

    def participant(self, n: int, trial: str) -> keys.SigningKey:
        """Patient ``n``'s pseudonym for ``trial``, registered as a patient."""
        key = (n, trial)
        if key not in self._pseudonyms:
            root = hashlib.sha256(b"wallet root" + n.to_bytes(4, "big")).digest()
            self._pseudonyms[key] = pseudonym(root, f"trial:{trial}")
            self.ok(self._pseudonyms[key], {"type": "identity/register_patient",
                                            "enc_key": enc_key(40 + n)})
        return self._pseudonyms[key]

    def version(self, trial: str) -> dict[str, Any]:
        t = self.query("trials/trial", trial=trial)
        return dict(self.query("trials/version", trial=trial, version=t["version"]))

    def enrol_msg(self, trial: str, site: keys.SigningKey = HOSPITAL_A,
                  version: dict[str, Any] | None = None) -> dict[str, Any]:
        v = version or self.version(trial)
        return Enrol(trial, v["version"], v["protocol"], site.did).to_msg()

    def enrol(self, n: int, trial: str, site: keys.SigningKey = HOSPITAL_A) -> keys.SigningKey:
        who = self.participant(n, trial)
        self.ok(who, self.enrol_msg(trial, site))
        return who

    def reconsent(self, who: keys.SigningKey, trial: str) -> None:
        v = self.version(trial)
        self.ok(who, Reconsent(trial, v["version"], v["protocol"]).to_msg())

    def amend(self, trial: str, *, reconsent: bool = False, reason: str = "new outcome",
              **kw: Any) -> None:
        base = self.query("trials/trial", trial=trial)["version"]
        self.ok(RR, Amend(trial, base, protocol(**kw), reason, reconsent).to_msg())

    @staticmethod
    def entry_msg(trial: str, n: int, who: keys.SigningKey, **kw: Any) -> dict[str, Any]:
        return Entry(trial, entry_id(n), who.did, commitment(f"crf {n}"), **kw).to_msg()

    def lock(self, trial: str) -> None:
        self.ok(RR, Lock(trial).to_msg())

    def unblind(self, trial: str) -> None:
        self.ok(RR, Unblind(trial).to_msg())

    def results_msg(self, trial: str, outcomes: tuple[Outcome, ...]) -> dict[str, Any]:
        return Results(trial, tuple(sorted(outcomes, key=lambda o: o.id)),
                       commitment(f"results of {trial}")).to_msg()

    def withdraw(self, who: keys.SigningKey, trial: str) -> None:
        self.ok(who, Withdraw(trial).to_msg())


__all__ = ["DAY_MS", "HOSPITAL_B", "TrialWorld"]
