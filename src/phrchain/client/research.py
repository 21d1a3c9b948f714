"""The SDK for research data donation (``modules/research``).

Roles, each through a :class:`ResearchClient` on the party's session:

- **donor**: the session's wallet is the patient pseudonym that owns the records at a
  custodian (kind ``custodian``, docs/privacy-v2-design.md §1); it donates under DUO
  terms, changes them (a new version), revokes, lists the studies that used its data,
  exports its donation as a FHIR ``Consent``, and obtains inclusion or exclusion proofs;
- **research institute** (or its researcher): registers studies, sends data requests and
  drives their matching to the end;
- **custodian** (its vault, with :mod:`phrchain.research.vault`): sends the manifest of a
  released dataset and records the destruction of its pseudonymisation key.

A proof file (:meth:`ResearchClient.prove`) is checked offline by :func:`verify_proof`
against the validator the reader trusts: a record's leaf in a dataset proven present
(inclusion, with the donation version) or absent (exclusion), and the donor's outcome
of the dataset's request.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping, Sequence
from typing import Any, Final

from phrchain.client.http import NodeClient
from phrchain.client.session import Session
from phrchain.client.verify import verify_header, verify_query_against_header
from phrchain.core import encoding
from phrchain.core.errors import EncodingError, ProofError
from phrchain.modules.research import keys as research_keys
from phrchain.modules.research.messages import (
    DestroyKey,
    Donate,
    Match,
    RegisterStudy,
    Release,
    Request,
    Revoke,
)

PROOF_FORMAT: Final = "phrchain-research-proof/v1"
PSEUDONYM_KIND: Final = "custodian"

__all__ = ["PROOF_FORMAT", "ResearchClient", "prove", "verify_proof"]


class ResearchClient:
    def __init__(self, session: Session) -> None:
        self.session = session

    @property
    def did(self) -> str:
        return self.session.wallet.did

    def _q(self, path: str, **data: Any) -> Any:
        return self.session.q(path, **data)

    # -- donor ------------------------------------------------------------------------
    def donate(self, permission: dict[str, Any], modifiers: Sequence[dict[str, Any]],
               scope: dict[str, Any], start_ms: int, end_ms: int) -> dict[str, Any]:
        msg = Donate(permission, list(modifiers), scope, start_ms, end_ms).to_msg()
        Donate.parse(msg)   # refuse a malformed donation before signing anything
        self.session.send([msg])
        return self.donation()

    def revoke(self) -> dict[str, Any]:
        self.session.send([Revoke().to_msg()])
        return self.donation()

    def donation(self, donor: str | None = None, version: int | None = None
                 ) -> dict[str, Any]:
        data: dict[str, Any] = {"donor": donor or self.did}
        if version is not None:
            data["version"] = version
        found: dict[str, Any] | None = self._q("research/donation", **data)
        if found is None:
            raise ProofError(f"no donation by {data['donor']}")
        return found

    def uses(self, donor: str | None = None) -> list[dict[str, Any]]:
        """Every dataset that holds the donor's data, with its study and manifest."""
        found = self._q("research/uses", donor=donor or self.did)["datasets"]
        return [{"dataset": d, "study": self._q("research/study", study=s),
                 "manifest": self._q("research/dataset", dataset=d)}
                for d, s in sorted(found.items())]

    def fhir_consent(self, donor: str | None = None) -> dict[str, Any]:
        from phrchain.fhir.research import donation_to_fhir
        from phrchain.fhir.validation import validate

        donation = self.donation(donor)
        params = self._q("research/params", version=donation["params"])
        resource = donation_to_fhir(donation, params["terms"])
        validate(resource)
        return resource

    def prove(self, dataset: str, record: str) -> bytes:
        """:func:`prove` through this session's node."""
        return prove(self.session.node, dataset, record)

    # -- research institute -------------------------------------------------------------
    def register_study(self, study: RegisterStudy) -> dict[str, Any]:
        self.session.send([study.to_msg()])
        found: dict[str, Any] = self._q("research/study", study=study.study)
        return found

    def request(self, study: str, request: str | None = None) -> dict[str, Any]:
        """Send a data request and match it against every donor (as many ``match``
        transactions as the chain's batch size needs); the finished request."""
        request = request or secrets.token_hex(16)
        self.session.send([Request(request, study).to_msg()])
        found: dict[str, Any] = self._q("research/request", request=request)
        while not found["done"]:
            self.session.send([Match(request).to_msg()])
            found = self._q("research/request", request=request)
        return found

    # -- custodian ----------------------------------------------------------------------
    def release(self, manifest: Release) -> dict[str, Any]:
        self.session.send([manifest.to_msg()])
        found: dict[str, Any] = self._q("research/dataset", dataset=manifest.dataset)
        return found

    def destroy_key(self, dataset: str) -> dict[str, Any]:
        self.session.send([DestroyKey(dataset).to_msg()])
        found: dict[str, Any] = self._q("research/dataset", dataset=dataset)
        return found


def prove(node: NodeClient, dataset: str, record: str) -> bytes:
    """A proof file: the record's leaf in ``dataset`` (present or absent), the dataset's
    manifest and the owner's outcome of its request, each with its proof against the
    validator-signed header of one height. Canonical JSON bytes; needs no wallet."""
    header = node.header()
    height = int(header["header"]["height"])
    leaf = node.query("research/leaf", {"dataset": dataset, "record": record}, height,
                      prove=True)
    manifest = node.query("research/dataset", {"dataset": dataset}, height, prove=True)
    owner = node.query("records/get", {"record": record}, height)["value"]
    outcome = None
    if manifest["value"] is not None and owner is not None:
        outcome = node.query("research/outcome", {
            "request": manifest["value"]["request"], "donor": owner["patient"]},
            height, prove=True)
    return encoding.encode({
        "format": PROOF_FORMAT, "dataset": dataset, "record": record, "height": height,
        "chain_id": header["header"]["chain_id"], "header": header, "leaf": leaf,
        "manifest": manifest, "outcome": outcome,
        "donor": None if owner is None else owner["patient"]})


def _refuse(why: str) -> ProofError:
    return ProofError(f"research proof file: {why}")


_FIELDS: Final = frozenset({"format", "dataset", "record", "height", "chain_id", "header",
                            "leaf", "manifest", "outcome", "donor"})


def _answer(doc: Mapping[str, Any], name: str, path: str, key: bytes, validator_did: str,
            chain_id: str) -> Any:
    """The value ``doc[name]`` proves for ``key`` (None: proven absent), bound to the
    path it claims to answer."""
    answer = doc[name]
    if not isinstance(answer, dict) or answer.get("path") != path:
        raise _refuse(f"{name} is not a {path} answer")
    return verify_query_against_header(answer, doc["header"], validator_did, key, chain_id)


def verify_proof(data: bytes, validator_did: str, chain_id: str | None = None
                 ) -> dict[str, Any]:
    """Check a proof file offline; return ``{dataset, record, height, included,
    donation, manifest, outcome}`` (``included`` False: proven absent). Every field is
    bound — to the validator's signature, a state proof or the other fields — so any
    changed byte raises :class:`ProofError` (or ``CryptoError``)."""
    try:
        doc = encoding.decode(data)
        if encoding.encode(doc) != data or set(doc) != _FIELDS \
                or doc["format"] != PROOF_FORMAT:
            raise _refuse("not a canonical research proof file")
        header = verify_header(doc["header"], validator_did, chain_id)
        if header.height != doc["height"] or header.chain_id != doc["chain_id"]:
            raise _refuse("the header is not the file's height or chain")
        dataset, record, chain = str(doc["dataset"]), str(doc["record"]), header.chain_id
        raw = _answer(doc, "leaf", "research/leaf", research_keys.leaf_key(dataset, record),
                      validator_did, chain)
        manifest = _answer(doc, "manifest", "research/dataset",
                           research_keys.dataset_key(dataset), validator_did, chain)
        if manifest is None:
            raise _refuse(f"dataset {dataset} is proven absent")
        manifest_value = dict(manifest)
        if (doc["outcome"] is None) != (doc["donor"] is None):
            raise _refuse("an outcome needs its donor, a donor its outcome")
        outcome = None
        if doc["donor"] is not None:
            key = research_keys.outcome_key(manifest_value["request"], str(doc["donor"]))
            proven = _answer(doc, "outcome", "research/outcome", key, validator_did, chain)
            outcome = None if proven is None else dict(proven)
        leaf = None if raw is None else dict(raw)
    except (KeyError, TypeError, ValueError, AttributeError, EncodingError) as exc:
        raise _refuse(f"malformed ({type(exc).__name__}: {exc})") from None
    return {"dataset": dataset, "record": record, "height": header.height,
            "included": leaf is not None,
            "donation": None if leaf is None else leaf["donation"],
            "manifest": manifest_value, "outcome": outcome, "donor": doc["donor"]}
