"""Research donation on the in-process chain: donors are patient pseudonyms of hospital
A (kind "custodian", derived as docs/privacy-v2-design.md §1 fixes) that own records
there; the study belongs to the research institute of ``tests.world`` (researcher RR);
IRBM (hospital B, researcher) approves studies, PO (hospital A, auditor) approves
hospital A's releases."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

from phrchain.core import keys, rfc9162
from phrchain.modules.research import irb_bytes, leaf_bytes, release_bytes
from phrchain.modules.research.messages import (
    Donate,
    Irb,
    Leaf,
    RegisterStudy,
    Release,
    Request,
)
from phrchain.research import terms
from tests.helpers import AUTHORITY, enc_key, signing_key
from tests.trialflow import pseudonym
from tests.world import DAY_MS, HOSPITAL_A, HOSPITAL_B, RESEARCH, RR, World

IRBM, PO = signing_key(210), signing_key(211)


def oid(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()[:32]


def digest(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


def study_msg(study: str, *, irb: bool = True, **kw: Any) -> RegisterStudy:
    base: dict[str, Any] = dict(
        study=study, purpose={"code": "DS", "disease": "MONDO:0005148"}, for_profit=False,
        commercial=False, country="KR", genetic=False, publish=True, returns=False,
        methods=False, clinical_care=False, publication_ms=0, duration_months=12,
        collaborators=(), users=(RR.did,), protocol=digest(f"protocol {study}"), k=2, l=2,
        irb=None)
    base.update(kw)
    if irb:
        ref = "IRB-2026-17"
        base["irb"] = Irb(ref, IRBM.did, IRBM.sign(irb_bytes(study, ref, base["protocol"])))
    return RegisterStudy(**base)


@dataclass
class ResearchWorld(World):
    donors: dict[int, keys.SigningKey] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        c = self.chain
        assert c.admit_practitioner(HOSPITAL_B, IRBM, ("researcher",)).ok
        assert c.admit_practitioner(HOSPITAL_A, PO, ("auditor",)).ok
        self.ok(AUTHORITY, {"type": "research/set_params", **terms.params(min_k=2)})

    def donor(self, n: int) -> keys.SigningKey:
        """Patient ``n``'s pseudonym at hospital A, registered as a patient."""
        if n not in self.donors:
            root = hashlib.sha256(b"wallet root" + n.to_bytes(4, "big")).digest()
            self.donors[n] = pseudonym(root, HOSPITAL_A.did, "custodian")
            self.ok(self.donors[n], {"type": "identity/register_patient",
                                     "enc_key": enc_key(60 + n)})
        return self.donors[n]

    def donate(self, who: keys.SigningKey, permission: dict[str, Any] | None = None,
               modifiers: list[dict[str, Any]] | None = None,
               scope: dict[str, Any] | None = None, days: int = 365) -> None:
        self.ok(who, Donate(permission or {"code": "HMB"}, modifiers or [],
                            scope or {"all": True}, self.now, self.now + days * DAY_MS
                            ).to_msg())

    def study(self, study: str, **kw: Any) -> RegisterStudy:
        m = study_msg(study, **kw)
        self.ok(RR, m.to_msg())
        return m

    def request(self, request: str, study: str) -> dict[str, Any]:
        self.ok(RR, Request(request, study).to_msg())
        return dict(self.query("research/request", request=request))

    def release_msg(self, dataset: str, request: str, records: list[str],
                    donation: int = 1, k: int = 2, l: int = 2,  # noqa: E741
                    root: str | None = None, leaves_root: str | None = None) -> Release:
        """A manifest of ``records`` (sorted), each leaf at ``donation``."""
        study = self.query("research/request", request=request)["study"]
        records = sorted(records)
        commitments = [self.query("records/get", record=r)["commitment"] for r in records]
        leaves_root = leaves_root or rfc9162.root_from_leaf_hashes(
            [rfc9162.leaf_hash(leaf_bytes(c, donation)) for c in commitments]).hex()
        root = root or digest(f"resources of {dataset}")
        config, key = digest("deid config"), digest(f"key of {dataset}")
        sig = PO.sign(release_bytes(dataset, study, root, leaves_root, config, key))
        return Release(dataset, request, root, 10, tuple(Leaf(r, donation) for r in records),
                       leaves_root, config, k, l, key, PO.did, sig)


__all__ = ["HOSPITAL_A", "HOSPITAL_B", "IRBM", "PO", "RESEARCH", "RR", "ResearchWorld",
           "digest", "oid", "study_msg"]
