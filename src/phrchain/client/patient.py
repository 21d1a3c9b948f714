"""A patient's SDK over all their pseudonyms (issue 14, ``docs/privacy.md``).

The patient acts towards each counterpart as a different pseudonym, derived from the
wallet's root (:mod:`phrchain.client.pseudonyms`)::

    me = PatientWallet(node, wallet, directory, save=lambda w: w.save_over(path, pw))
    at_a = me.at(hospital_a)                  # a Phr signing as the A-pseudonym
    at_a.consent.grant(...)                   # consents over A's records
    cover = me.insurer(insurer)               # the insurer-pseudonym
    cover.claims.enrol(insurer, product, start_ms, 365)
    me.file_claim(insurer, product, bill, records, lines, key, service_ms, at=hospital_a)
    me.all_records(); me.audit_logs(); me.emergency_card()

A pseudonym is registered on first use (``identity/register_patient`` signed by its own
key: nothing on chain links it to the root or to another pseudonym) and remembered in
the wallet's map, which ``save`` persists. Money never moves between two pseudonyms of
one wallet: such a transfer would publish the link (:meth:`PatientWallet.transfer`
refuses it, as ``ClaimsClient.transfer`` does for a session that knows its siblings).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from phrchain.client import builder
from phrchain.client.claims import Code, ProductKey
from phrchain.client.http import NodeClient
from phrchain.client.phr import Phr
from phrchain.client.pseudonyms import Pseudonym
from phrchain.client.session import RecordsError
from phrchain.client.wallet import Wallet

__all__ = ["PatientWallet", "SelfTransferError"]


class SelfTransferError(RecordsError):
    """A transfer between two pseudonyms of one wallet: refused, it would link them."""


class PatientWallet:
    """One patient, many pseudonyms: a :class:`Phr` per relationship, and views over all
    of them from the wallet's map. Close it (or use it as a context manager)."""

    def __init__(self, node: NodeClient, wallet: Wallet, directory: Mapping[str, str],
                 save: Callable[[Wallet], None] | None = None) -> None:
        self.node, self.wallet, self.directory = node, wallet, dict(directory)
        self._save = save
        self._sdks: dict[str, Phr] = {}

    def __enter__(self) -> PatientWallet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        for phr in self._sdks.values():
            phr.close()
        self._sdks.clear()

    # -- acting as one pseudonym ---------------------------------------------------------
    def as_pseudonym(self, counterpart: str, kind: str = "custodian", generation: int = 0,
                     register: bool = True) -> Phr:
        """The SDK signing as the pseudonym for ``counterpart``; registered on chain and
        remembered in the map on first use (unless ``register`` is False)."""
        did = self.wallet.pseudonym_did(counterpart, kind, generation)
        if did not in self._sdks:
            phr = Phr(self.node, self.wallet.pseudonym(counterpart, kind, generation),
                      self.directory)
            self._sdks[did] = phr
            known = self.wallet.pseudonym_map.get(did)
            if register and (known is None or known.registered_height is None):
                self._register(phr, counterpart, kind, generation)
        phr = self._sdks[did]
        phr.session.own_pseudonyms = frozenset(self.dids())
        return phr

    def at(self, custodian: str) -> Phr:
        """The pseudonym the patient's records at ``custodian`` are kept under."""
        return self.as_pseudonym(custodian, "custodian")

    def insurer(self, insurer: str) -> Phr:
        """The pseudonym the patient enrols and claims with at ``insurer``."""
        return self.as_pseudonym(insurer, "insurer")

    def pseudonym(self, did: str) -> Phr:
        """The SDK of a pseudonym already in the map, by its DID."""
        p = self.wallet.pseudonym_map.get(did)
        if p is None:
            raise RecordsError(f"{did} is not one of this wallet's pseudonyms")
        return self.as_pseudonym(p.counterpart, p.kind, p.generation)

    def _register(self, phr: Phr, counterpart: str, kind: str, generation: int) -> None:
        found = self.node.query("identity/did", {"did": phr.wallet.did})["value"]
        if found is None:
            answer = phr.session.send([builder.register_patient(phr.wallet.enc_key)])
            height = int(answer.get("height") or 0) or None
        else:
            height = int(found.get("since") or 0) or None
        known = self.wallet.pseudonym_map.get(phr.wallet.did)
        rotation = 0 if known is None else known.rotation
        self.wallet.remember(counterpart, kind, generation, rotation, height)
        self._persist()

    def _persist(self) -> None:
        if self._save is not None:
            self._save(self.wallet)

    # -- the map ---------------------------------------------------------------------------
    def pseudonyms(self) -> list[Pseudonym]:
        return self.wallet.pseudonyms()

    def dids(self) -> list[str]:
        return [p.did for p in self.wallet.pseudonyms()]

    def emergency_card(self) -> list[dict[str, str]]:
        """``[{custodian, pseudonym}]``: what an emergency clinician reads from the
        patient's card to find the records kept at each institution."""
        return self.wallet.emergency_card()

    def rotate(self, did: str) -> None:
        """Rotate pseudonym ``did``'s keys to the next derived pair (its DID stays)."""
        phr = self.pseudonym(did)
        msg, _ = self.wallet.rotate_pseudonym(self.node.chain_id(), did)
        phr.session.send([msg])
        p = self.wallet.pseudonym_map[did]
        self.wallet.remember(p.counterpart, p.kind, p.generation, p.rotation + 1,
                             p.registered_height)
        self._persist()
        phr.close()
        del self._sdks[did]   # the next use signs with the rotated keys

    # -- one view over all pseudonyms -------------------------------------------------------
    def all_records(self) -> dict[str, list[dict[str, Any]]]:
        """Every pseudonym's records not erased (their on-chain descriptors), by DID."""
        return {did: self.pseudonym(did).records.my_records() for did in self.dids()}

    def all_consents(self) -> dict[str, list[dict[str, Any]]]:
        """Every consent each pseudonym granted (any status), by DID."""
        out: dict[str, list[dict[str, Any]]] = {}
        for did in self.dids():
            session = self.pseudonym(did).session
            ids = session.q("consent/patient", patient=did)["consents"]
            out[did] = [dict(session.q("consent/get", consent=c)) for c in ids]
        return out

    def audit_logs(self) -> dict[str, list[dict[str, Any]]]:
        """Every pseudonym's verified access log, by DID."""
        return {did: self.pseudonym(did).audit.log(did) for did in self.dids()}

    # -- money and claims ------------------------------------------------------------------
    def transfer(self, frm: str, to: str, amount: int, currency: str) -> None:
        """Pay ``to`` from pseudonym ``frm``'s balance; refused between two pseudonyms of
        this wallet (it would link them on chain, for every member to see)."""
        if to in self.wallet.pseudonym_map or to == self.wallet.did:
            raise SelfTransferError(self_transfer_sentence(to))
        self.pseudonym(frm).claims.transfer(to, amount, currency)

    def file_claim(self, insurer: str, product: str, bill: str, records: Sequence[str],
                   lines: Sequence[tuple[Code, int]], key: ProductKey, service_ms: int,
                   *, at: str, consent_days: int = 90) -> dict[str, Any]:
        """File, as the insurer-pseudonym, a claim over the bill and records of the
        pseudonym at custodian ``at``, which signs the claim's link."""
        owner = self.at(at)
        return self.insurer(insurer).claims.file(
            insurer, product, bill, records, lines, key, service_ms,
            consent_days=consent_days, owner=owner.session)


def self_transfer_sentence(to: str) -> str:
    return (f"refused: {to} is another pseudonym of this wallet; money moved between "
            "one's own pseudonyms would link them publicly (docs/privacy.md). Pay each "
            "pseudonym's bills from its own balance.")
