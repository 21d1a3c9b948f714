"""A small consortium on the in-process Chain harness, for the record-keeping modules.

Hospital A (physicians A1 and A2, emergency practitioner AE), hospital B (physician B1),
an insurer (reviewer IR), a research institute (researcher RR), a regulator (auditor GA),
and patients P and Q. Keys are deterministic, so tests can name everyone.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from phrchain.core import keys
from phrchain.modules.records.messages import CHUNK_SIZE, SALT_SIZE, TAG_SIZE
from tests.helpers import Chain, enc_key, signing_key

HOSPITAL_A, HOSPITAL_B = signing_key(101), signing_key(102)
INSURER, RESEARCH, REGULATOR = signing_key(103), signing_key(104), signing_key(105)
A1, A2, AE, B1 = signing_key(201), signing_key(202), signing_key(203), signing_key(204)
IR, RR, GA = signing_key(205), signing_key(206), signing_key(207)
P, Q = signing_key(301), signing_key(302)
STRANGER = signing_key(399)  # never registered
DAY_MS = 86_400_000


def sealed_size(plaintext_len: int) -> tuple[int, int]:
    """``(size, chunks)`` of a sealed record of ``plaintext_len`` bytes."""
    framed = SALT_SIZE + plaintext_len
    chunks = max(1, -(-framed // CHUNK_SIZE))
    return framed + TAG_SIZE * chunks, chunks


def new_id() -> str:
    return secrets.token_hex(16)


def register_msg(patient: keys.SigningKey, *, record: str | None = None,
                 resource: str = "Observation", category: str = "laboratory",
                 plaintext_len: int = 500, **extra: Any) -> dict[str, Any]:
    size, chunks = sealed_size(plaintext_len)
    return {"type": "records/register", "record": record or new_id(), "patient": patient.did,
            "resource": resource, "category": category, "hash": secrets.token_hex(32),
            "size": size, "chunks": chunks, "commitment": secrets.token_hex(32), **extra}


@dataclass
class World:
    chain: Chain = field(default_factory=Chain.new)

    def __post_init__(self) -> None:
        c = self.chain
        for org, kind in ((HOSPITAL_A, "hospital"), (HOSPITAL_B, "hospital"),
                          (INSURER, "insurer"), (RESEARCH, "research_institute"),
                          (REGULATOR, "regulator")):
            assert c.admit_org(org, kind).ok
        for org, who, roles in ((HOSPITAL_A, A1, ("physician",)),
                                (HOSPITAL_A, A2, ("physician",)),
                                (HOSPITAL_A, AE, ("emergency", "physician")),
                                (HOSPITAL_B, B1, ("physician",)),
                                (INSURER, IR, ("claims_reviewer",)),
                                (RESEARCH, RR, ("researcher",)),
                                (REGULATOR, GA, ("auditor",))):
            assert c.admit_practitioner(org, who, roles).ok
        for patient in (P, Q):
            assert c.register_patient(patient).ok

    @property
    def now(self) -> int:
        return self.chain.time_ms

    def ok(self, key: keys.SigningKey, *msgs: Mapping[str, Any]) -> Any:
        result = self.chain.run(key, *msgs)
        assert result.ok, result.log
        return result

    def fails(self, key: keys.SigningKey, msg: Mapping[str, Any]) -> tuple[str, int]:
        result = self.chain.run(key, msg)
        assert not result.ok
        assert result.log  # a human sentence
        self.chain.nonces[key.did] -= 1  # a failed tx does not use its nonce
        return result.codespace, result.code

    def record(self, author: keys.SigningKey = A1, patient: keys.SigningKey = P,
               **kw: Any) -> str:
        msg = register_msg(patient, **kw)
        self.ok(author, msg)
        return str(msg["record"])

    def grant(self, patient: keys.SigningKey, grantee: Mapping[str, Any], *,
              actions: tuple[str, ...] = ("read",), scope: Mapping[str, Any] | None = None,
              purposes: tuple[str, ...] = ("TREAT",), start_ms: int | None = None,
              end_ms: int | None = None) -> str:
        consent = new_id()
        self.ok(patient, self.grant_msg(consent, grantee, actions=actions, scope=scope,
                                        purposes=purposes, start_ms=start_ms, end_ms=end_ms))
        return consent

    def grant_msg(self, consent: str, grantee: Mapping[str, Any], *,
                  actions: tuple[str, ...] = ("read",), scope: Mapping[str, Any] | None = None,
                  purposes: tuple[str, ...] = ("TREAT",), start_ms: int | None = None,
                  end_ms: int | None = None) -> dict[str, Any]:
        start = self.now if start_ms is None else start_ms
        return {"type": "consent/grant", "consent": consent, "grantee": dict(grantee),
                "actions": sorted(actions), "scope": dict(scope or {"all": True}),
                "purposes": sorted(purposes),
                "period": {"start_ms": start,
                           "end_ms": start + 30 * DAY_MS if end_ms is None else end_ms}}

    def query(self, path: str, **data: Any) -> Any:
        return self.chain.app.query(path, data)["value"]

    def decide(self, accessor: keys.SigningKey | str, action: str, record: str,
               purpose: str = "TREAT") -> dict[str, Any]:
        did = accessor if isinstance(accessor, str) else accessor.did
        return dict(self.query("consent/decide", accessor=did, action=action, record=record,
                               purpose=purpose))


def practitioner(key: keys.SigningKey) -> dict[str, str]:
    return {"kind": "practitioner", "id": key.did}


def organization(key: keys.SigningKey) -> dict[str, str]:
    return {"kind": "organization", "id": key.did}


__all__ = ["World", "enc_key"]
