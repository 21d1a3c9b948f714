"""The SDK for clinical trials (``modules/trials``).

Roles, each through a :class:`TrialsClient` on the party's
:class:`~phrchain.client.session.Session`:

- **sponsor** (a research institute or hospital, or its researcher): registers a trial,
  amends it (new versions), commits the protocol, SAP and randomisation list (salted
  hashes: the documents stay with the sponsor), locks the database, unblinds, reports
  results;
- **participant**: enrols, re-consents and withdraws under its **trial pseudonym**: the
  session's wallet must be the pseudonym the patient's wallet derives for counterpart
  :func:`counterpart` (``"trial:<id>"``), kind ``"trial"`` (docs/privacy-v2-design.md §1),
  never the patient's own DID;
- **site investigator**: anchors case-report entries (salted commitments; the data stays
  at the site), corrects them with a reason, signs them with a meaning;
- **regulator, journal, reader**: the outcome-switch report, the trail, and an audit
  proof file (:meth:`TrialsClient.export_audit`) that :func:`verify_audit` checks
  offline against the validators the reader trusts (``client/trialfile``); the trial
  documents, fetched from the sponsor's vault and checked against the chain
  (:attr:`TrialsClient.documents`).
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from phrchain.client.session import RecordsError, Session
from phrchain.client.trialfile.audit import AUDIT_FORMAT, export_audit, verify_audit
from phrchain.client.wallet import Wallet
from phrchain.core import encoding
from phrchain.core.hashing import domain_prefix
from phrchain.modules.trials import LABELS, Outcome, classify
from phrchain.modules.trials.messages import (
    Amend,
    Commit,
    Enrol,
    Entry,
    Lock,
    Protocol,
    Reconsent,
    Register,
    Results,
    Sign,
    Unblind,
    Withdraw,
    parse_outcome,
)

__all__ = ["AUDIT_FORMAT", "Sealed", "TrialsClient", "classify_documents", "commitment",
           "counterpart", "trial_wallet", "verify_audit"]

_COMMITMENT: Final = domain_prefix("phrchain/trials/commitment/v1")
PSEUDONYM_KIND: Final = "trial"


def counterpart(trial: str) -> str:
    """The counterpart a patient's wallet derives its trial pseudonym for."""
    return f"trial:{trial}"


def trial_wallet(wallet: Wallet, trial: str) -> Wallet:
    """The patient's pseudonym for ``trial`` (docs/privacy-v2-design.md §1: counterpart
    :func:`counterpart`, kind "trial"). A wallet with a pseudonym root derives it itself
    (``Wallet.pseudonym``, issue 14); one without uses the design's legacy root,
    HKDF-SHA256(signing seed, info "phrchain/pseudonym/legacy-root/v1")."""
    derive = getattr(wallet, "pseudonym", None)
    if callable(derive):
        found = derive(counterpart(trial), PSEUDONYM_KIND)
        assert isinstance(found, Wallet)
        return found

    def hkdf(ikm: bytes, salt: bytes | None, info: bytes, length: int) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=length, salt=salt,
                    info=info).derive(ikm)

    root = hkdf(wallet.signing_key.seed, None, b"phrchain/pseudonym/legacy-root/v1", 32)
    okm = hkdf(root, b"phrchain/pseudonym/v1", encoding.encode(
        {"counterpart": counterpart(trial), "kind": PSEUDONYM_KIND, "generation": 0,
         "rotation": 0}), 64)
    return Wallet.from_secrets(okm[:32], okm[32:], f"{wallet.label} in trial {trial[:8]}")


def commitment(document: bytes, salt: bytes) -> str:
    """``SHA-256(tag || salt || document)``: what goes on chain for a protocol, SAP,
    randomisation list, results report or case-report entry. The salt (16 bytes) stays
    with the document, so a guessable document cannot be confirmed from the chain."""
    if len(salt) != 16:
        raise ValueError("a commitment salt is 16 bytes")
    return hashlib.sha256(_COMMITMENT + salt + document).hexdigest()


@dataclass(frozen=True, slots=True)
class Sealed:
    """A commitment and the salt that opens it (keep the salt with the document)."""

    commitment: str
    salt: bytes

    @classmethod
    def of(cls, document: bytes) -> Sealed:
        salt = secrets.token_bytes(16)
        return cls(commitment(document, salt), salt)


class TrialsClient:
    """The trials module from the client side, for any of the roles."""

    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def did(self) -> str:
        return self.session.wallet.did

    def _q(self, path: str, **data: Any) -> Any:
        return self.session.q(path, **data)

    # -- sponsor -----------------------------------------------------------------------
    def register(self, start_ms: int, protocol: Protocol, trial: str | None = None) -> str:
        """Register version 1 (its time is the block's); returns the trial id."""
        trial = trial or secrets.token_hex(16)
        self.session.send([Register(trial, start_ms, protocol).to_msg()])
        return trial

    def amend(self, trial: str, protocol: Protocol, reason: str, reconsent: bool) -> int:
        """A new version of the trial; returns its number."""
        base = int(self.trial(trial)["version"])
        self.session.send([Amend(trial, base, protocol, reason, reconsent).to_msg()])
        return base + 1

    def commit(self, trial: str, kind: str, document: bytes) -> Sealed:
        """Commit the SAP (``sap``) or randomisation list (``randomisation``)."""
        sealed = Sealed.of(document)
        self.session.send([Commit(trial, kind, sealed.commitment).to_msg()])
        return sealed

    def lock(self, trial: str) -> None:
        self.session.send([Lock(trial).to_msg()])

    def unblind(self, trial: str) -> None:
        self.session.send([Unblind(trial).to_msg()])

    def results(self, trial: str, outcomes: Sequence[Outcome], report: bytes
                ) -> dict[str, Any]:
        """Report results (after lock); returns the outcome-switch report."""
        sealed = Sealed.of(report)
        ordered = tuple(sorted(outcomes, key=lambda o: o.id))
        self.session.send([Results(trial, ordered, sealed.commitment).to_msg()])
        return self.report(trial)

    # -- participant (the session's wallet is the trial pseudonym) ---------------------
    def enrol(self, trial: str, site: str) -> dict[str, Any]:
        """Consent to the current version (named with its protocol commitment)."""
        version = self.current_version(trial)
        self.session.send([Enrol(trial, int(version["version"]), version["protocol"],
                                 site).to_msg()])
        return self.participant(trial, self.did)

    def reconsent(self, trial: str) -> dict[str, Any]:
        version = self.current_version(trial)
        self.session.send([Reconsent(trial, int(version["version"]),
                                     version["protocol"]).to_msg()])
        return self.participant(trial, self.did)

    def withdraw(self, trial: str) -> dict[str, Any]:
        self.session.send([Withdraw(trial).to_msg()])
        return self.participant(trial, self.did)

    # -- site investigator -------------------------------------------------------------
    def entry(self, trial: str, participant: str, data: bytes, *,
              corrects: str | None = None, reason: str | None = None
              ) -> tuple[str, Sealed]:
        """Anchor a case-report entry (only its salted commitment goes on chain)."""
        entry, sealed = secrets.token_hex(16), Sealed.of(data)
        self.session.send([Entry(trial, entry, participant, sealed.commitment, corrects,
                                 reason).to_msg()])
        return entry, sealed

    def sign(self, trial: str, entry: str, meaning: str) -> None:
        self.session.send([Sign(trial, entry, meaning).to_msg()])

    # -- reads ---------------------------------------------------------------------------
    def trial(self, trial: str) -> dict[str, Any]:
        found = self._q("trials/trial", trial=trial)
        if found is None:
            raise RecordsError(f"no trial {trial} is registered")
        return dict(found)

    def version(self, trial: str, version: int) -> dict[str, Any]:
        return dict(self._q("trials/version", trial=trial, version=version))

    def current_version(self, trial: str) -> dict[str, Any]:
        return self.version(trial, int(self.trial(trial)["version"]))

    def participant(self, trial: str, pseudonym: str) -> dict[str, Any]:
        return dict(self._q("trials/participant", trial=trial, participant=pseudonym) or {})

    def all(self) -> list[str]:
        """Every registered trial id."""
        out: list[str] = []
        after: str | None = None
        while True:
            page = self._q("trials/all", **({} if after is None else {"after": after}))
            out += page["trials"]
            after = page["next"]
            if after is None:
                return out

    def report(self, trial: str) -> dict[str, Any]:
        return dict(self._q("trials/report", trial=trial))

    def trail(self, trial: str, height: int | None = None) -> list[str]:
        """Every state key of the trial (at ``height``), in key order."""
        out: list[str] = []
        after: str | None = None
        while True:
            data = {"trial": trial, "limit": "1000", **({} if after is None else
                                                       {"after": after})}
            page = self.session.node.query("trials/trail", data, height)["value"]
            out += page["keys"]
            after = page["next"]
            if after is None:
                return out

    # -- FHIR R4 views (fhir/trials.py) ---------------------------------------------------
    def fhir_study(self, trial: str) -> dict[str, Any]:
        """``ResearchStudy`` of the current version (outcomes as PlanDefinition goals,
        labelled once results are in)."""
        from phrchain.fhir.trials import research_study

        head = self.trial(trial)
        labels = self.report(trial)["labels"] or None
        return research_study(head, self.version(trial, int(head["version"])), labels)

    def fhir_subject(self, trial: str, pseudonym: str) -> dict[str, Any]:
        from phrchain.fhir.trials import research_subject

        found = self.participant(trial, pseudonym)
        if not found:
            raise RecordsError(f"{pseudonym} is not a participant of trial {trial}")
        return research_subject(self.trial(trial), found)

    def fhir_provenance(self, trial: str, entry: str) -> dict[str, Any]:
        from phrchain.fhir.trials import provenance

        history = self._q("trials/history", trial=trial, entry=entry)
        if history["entry"] is None:
            raise RecordsError(f"no entry {entry} in trial {trial}")
        return provenance(trial, history["entry"], history["signatures"])

    # -- documents in the sponsor's vault (client/trialfile/documents.py) ---------------
    @property
    def documents(self) -> Any:
        """Store, share and fetch the trial's protocol, SAP and randomisation list,
        encrypted in the sponsor's vault and checked against their on-chain commitments
        (:class:`~phrchain.client.trialfile.documents.TrialDocuments`)."""
        from phrchain.client.trialfile.documents import TrialDocuments

        return TrialDocuments(self.session)

    # -- regulator: the offline proof file (client/trialfile/audit.py) -----------------
    def export_audit(self, trial: str, rpc: Any = None) -> bytes:
        """A self-contained proof file of the trial's whole trail, sealed by this wallet
        (:func:`verify_audit` checks it offline): against the solo validator's signed
        header, or, given ``rpc`` (a ``CometRpc`` of the network), against CometBFT
        commits that a light client verifies from the genesis validator set."""
        return export_audit(self.session, trial, self.trail, rpc)


def classify_documents(registered: Mapping[str, Any], reported: Mapping[str, Any]
                       ) -> list[dict[str, Any]]:
    """The stateless classifier over the documents of ``phrchain trials classify``:
    ``{"outcomes": [{id, measure, time_frame, kind}]}`` (the frozen baseline) and
    ``{"outcomes": [{id, measure, time_frame, kind, declared_change}]}``. Each outcome is
    checked as the chain checks it; raises :class:`RecordsError` with the reason."""
    from phrchain.core.errors import TxError

    def outcomes(doc: Mapping[str, Any], name: str, is_reported: bool) -> list[Outcome]:
        items = doc.get("outcomes") if isinstance(doc, Mapping) else None
        if not isinstance(items, list) or set(doc) != {"outcomes"}:
            raise RecordsError(f'{name}: exactly {{"outcomes": [...]}}')
        try:
            return [parse_outcome(o, is_reported) if isinstance(o, dict)
                    else _not_object(name) for o in items]
        except TxError as exc:
            raise RecordsError(f"{name}: {exc.detail or exc}") from None

    try:
        labelled = classify(outcomes(registered, "REGISTERED", False),
                            outcomes(reported, "REPORTED", True))
    except ValueError as exc:
        raise RecordsError(str(exc)) from None
    assert all(set(ls) <= set(LABELS) for _, ls in labelled)
    return [{"id": oid, "labels": ls} for oid, ls in labelled]


def _not_object(name: str) -> Outcome:
    raise RecordsError(f"{name}: every outcome is an object")


def dumps_lines(rows: Sequence[Mapping[str, Any]]) -> str:
    """One JSON object per line (the classify command's output)."""
    return "".join(json.dumps(row, sort_keys=True) + "\n" for row in rows)
