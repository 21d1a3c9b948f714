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
from phrchain.modules.records.messages import CHUNK_SIZE, SALT_SIZE, TAG_SIZE, size_bucket
from tests.helpers import Chain, enc_key, signing_key

HOSPITAL_A, HOSPITAL_B = signing_key(101), signing_key(102)
INSURER, RESEARCH, REGULATOR = signing_key(103), signing_key(104), signing_key(105)
A1, A2, AE, B1 = signing_key(201), signing_key(202), signing_key(203), signing_key(204)
IR, RR, GA = signing_key(205), signing_key(206), signing_key(207)
P, Q = signing_key(301), signing_key(302)
STRANGER = signing_key(399)  # never registered
DAY_MS = 86_400_000
ORG_OF = {who.did: org for org, who in ((HOSPITAL_A, A1), (HOSPITAL_A, A2), (HOSPITAL_A, AE),
                                        (HOSPITAL_B, B1), (INSURER, IR), (RESEARCH, RR),
                                        (REGULATOR, GA))}


def sealed_size(plaintext_len: int) -> tuple[int, int]:
    """``(size, chunks)`` of a sealed record of ``plaintext_len`` bytes."""
    framed = SALT_SIZE + plaintext_len
    chunks = max(1, -(-framed // CHUNK_SIZE))
    return framed + TAG_SIZE * chunks, chunks


def new_id() -> str:
    return secrets.token_hex(16)


def register_msg(patient: keys.SigningKey, *, record: str | None = None,
                 plaintext_len: int = 500, **extra: Any) -> dict[str, Any]:
    """A v2 ``records/register``: the size bucket, and commitments to a plaintext and a
    sealed descriptor this harness never makes (the chain cannot tell)."""
    return {"type": "records/register", "record": record or new_id(), "patient": patient.did,
            "hash": secrets.token_hex(32), "size": size_bucket(sealed_size(plaintext_len)[0]),
            "commitment": secrets.token_hex(32), "descriptor": secrets.token_hex(32),
            **extra}


def registrar(author: keys.SigningKey) -> keys.SigningKey:
    """Who signs ``records/register`` for a record ``author`` writes: a practitioner's
    organization (its vault registers the record); an organization or a patient
    (self-reported) itself."""
    return ORG_OF.get(author.did, author)


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
        """A record written by ``author``, registered as the vault would: signed by the
        author's organization (or by ``author`` if an organization or the patient)."""
        msg = register_msg(patient, **kw)
        self.ok(registrar(author), msg)
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


# -- claims and settlement -----------------------------------------------------------
PHARMACY, INSURER_B = signing_key(106), signing_key(107)
IC, PH = signing_key(208), signing_key(209)   # insurer clerk, pharmacist
ORG_OF.update({IC.did: INSURER, PH.did: PHARMACY})
PRODUCT_KEY = b"insurer product key (off chain)"
EUR = "EUR"


def code_tag(code: str, system: str = "http://hl7.org/fhir/sid/icd-10",
             key: bytes = PRODUCT_KEY) -> str:
    """What the insurer's SDK puts on chain for a code: HMAC-SHA256(key, "system|code")."""
    import hmac

    return hmac.new(key, f"{system}|{code}".encode(), "sha256").hexdigest()


COVERED = sorted(code_tag(c) for c in ("A01", "B02", "C03"))
EXCLUDED = sorted(code_tag(c) for c in ("X99",))


def product_msg(product: str, **overrides: Any) -> dict[str, Any]:
    return {"type": "claims/publish", "product": product, "name": "Basic care",
            "currency": EUR, "deductible": 0, "copay_bps": 0, "per_claim_limit": 1_000_000,
            "yearly_limit": 5_000_000, "waiting_ms": 0, "max_term_ms": 400 * DAY_MS,
            "covered": COVERED, "excluded": EXCLUDED, "refer_above": 0,
            "review_window_ms": 7 * DAY_MS, "appeal_window_ms": 30 * DAY_MS, **overrides}


@dataclass
class ClaimsWorld(World):
    """World plus a pharmacy (pharmacist PH), a second insurer, an insurer clerk IC, and
    helpers for money, bills, products, enrolments and claims."""

    def __post_init__(self) -> None:
        super().__post_init__()
        c = self.chain
        assert c.admit_org(PHARMACY, "pharmacy").ok
        assert c.admit_org(INSURER_B, "insurer").ok
        assert c.admit_practitioner(INSURER, IC, ("clerk",)).ok
        assert c.admit_practitioner(PHARMACY, PH, ("pharmacist",)).ok

    def mint(self, to: keys.SigningKey | str, amount: int, currency: str = EUR) -> None:
        from tests.helpers import AUTHORITY

        did = to if isinstance(to, str) else to.did
        self.ok(AUTHORITY, {"type": "settlement/mint", "to": did, "amount": amount,
                            "currency": currency})

    def balance(self, who: keys.SigningKey | str, currency: str = EUR) -> int:
        did = who if isinstance(who, str) else who.did
        return int(self.query("settlement/balance", did=did, currency=currency) or 0)

    def publish(self, product: str | None = None, by: keys.SigningKey = INSURER,
                **overrides: Any) -> str:
        product = product or new_id()
        self.ok(by, product_msg(product, **overrides))
        return product

    def enrol(self, patient: keys.SigningKey, product: str, *,
              insurer: keys.SigningKey = INSURER, days: int = 365) -> int:
        """Enrol from the next block's time; returns the start."""
        start = self.now + 1000
        self.ok(patient, {"type": "claims/enrol", "insurer": insurer.did,
                          "product": product, "start_ms": start,
                          "end_ms": start + days * DAY_MS})
        return start

    def bill(self, patient: keys.SigningKey, amount: int, *, by: keys.SigningKey = A1,
             encounter: str | None = None, pay: bool = True, currency: str = EUR) -> str:
        bill = new_id()
        self.ok(by, {"type": "settlement/bill", "bill": bill, "patient": patient.did,
                     "amount": amount, "currency": currency,
                     "encounter": encounter or secrets.token_hex(32)})
        if pay:
            self.mint(patient, amount, currency)
            self.ok(patient, {"type": "settlement/pay_bill", "bill": bill})
        return bill

    def claim_msg(self, patient: keys.SigningKey, product: str, bill: str,
                  records: list[str], lines: list[tuple[str, int]], *,
                  insurer: keys.SigningKey = INSURER, service_ms: int | None = None,
                  version: int = 1, **overrides: Any) -> dict[str, Any]:
        refs = [{"record": r, "commitment": self.commitment(r)} for r in records]
        return {"type": "claims/file", "claim": new_id(), "insurer": insurer.did,
                "product": product, "version": version, "bill": bill,
                "service_ms": self.now if service_ms is None else service_ms,
                "records": refs, "lines": [{"tag": t, "amount": a} for t, a in lines],
                "amount": sum(a for _, a in lines), "consent_end_ms": self.now + 90 * DAY_MS,
                **overrides}

    def commitment(self, record: str) -> str:
        """The registered commitment of a record (zeros if it has none: unknown, erased)."""
        found = self.query("records/get", record=record) or {}
        return str(found.get("commitment", "0" * 64))

    def file(self, patient: keys.SigningKey, *args: Any, **kw: Any) -> dict[str, Any]:
        """File a claim; returns the stored claim."""
        msg = self.claim_msg(patient, *args, **kw)
        self.ok(patient, msg)
        return dict(self.query("claims/claim", claim=msg["claim"]))
