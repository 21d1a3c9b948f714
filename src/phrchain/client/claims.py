"""The SDK for insurance claims and settlement (``modules/claims``, ``modules/settlement``).

Roles, each through a :class:`ClaimsClient` on the party's
:class:`~phrchain.client.session.Session`:

- **insurer**: holds a :class:`ProductKey` (kept off chain, given to enrolees), publishes
  a product whose covered and excluded codes go on chain only as *code tags*
  (HMAC-SHA256 under that key), reviews referred claims, reads the chosen records;
- **provider**: bills a patient for an encounter (:meth:`ClaimsClient.bill`);
- **patient**: pays the bill, enrols, files a claim naming the records they choose —
  the contract grants the insurer an HPAYMT consent for exactly those, and this client
  re-wraps their keys for the insurer — then follows the decision and the payout;
- **regulator**: lists claims by reason code.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
import secrets
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from phrchain.client.consent import ConsentClient
from phrchain.client.records import RecordsClient
from phrchain.client.session import RecordsError, Session
from phrchain.core.hashing import domain_prefix
from phrchain.modules.claims.messages import (
    Appeal,
    Enrol,
    File,
    Lapse,
    Line,
    Link,
    Publish,
    RecordRef,
    Review,
    Settle,
    link_bytes,
)
from phrchain.modules.consent.messages import Scope
from phrchain.modules.settlement.messages import MAX_AMOUNT, Bill, Mint, PayBill, Transfer

DAY_MS: Final = 86_400_000
_CODE_TAG: Final = domain_prefix("phrchain/claims/code-tag/v1")
_PRODUCT_ID: Final = domain_prefix("phrchain/claims/product-id/v1")
_ENCOUNTER: Final = domain_prefix("phrchain/claims/encounter/v1")
KEY_FILE_FORMAT: Final = "phrchain-product-key/v1"
# An amount as a person types it: ASCII digits only, as many as MAX_AMOUNT has.
_AMOUNT: Final = re.compile(f"[0-9]{{1,{len(str(MAX_AMOUNT))}}}")


def parse_amount(text: str, what: str = "amount", low: int = 1) -> int:
    """Minor units (cents, won) from text a person typed: ``[0-9]+`` and nothing else,
    from ``low`` to the chain's ``MAX_AMOUNT``. ``int()`` would also take Arabic-Indic
    digits (U+0660..), fullwidth digits (U+FF10..), ``'1_000'``, ``' 12 '`` and ``'+5'``: a string
    shown as one thing and signed as another (issue 13). The CLI and the web UI use this
    one parser; it raises :class:`RecordsError` with a sentence that names ``what``."""
    if not isinstance(text, str) or _AMOUNT.fullmatch(text) is None:
        raise RecordsError(f"{what} must be an integer of minor units (e.g. cents, won) "
                           f"written with the digits 0-9 only: no sign, space, separator or "
                           f"decimal point, at most {len(str(MAX_AMOUNT))} digits")
    amount = int(text)
    if not low <= amount <= MAX_AMOUNT:
        raise RecordsError(f"{what} must be from {low} to {MAX_AMOUNT}")
    return amount


def product_id(insurer: str, slug: str) -> str:
    """The 16-byte on-chain id of an insurer's product named ``slug`` (stable across
    versions: a new publish of the same slug is the next version)."""
    return hashlib.sha256(_PRODUCT_ID + f"{insurer}/{slug}".encode()).hexdigest()[:32]


def encounter_key(provider: str, local_encounter: str) -> str:
    """What a bill names for duplicate detection: one value per (provider, encounter
    number of the provider's own system), the same whichever patient it is billed to."""
    return hashlib.sha256(_ENCOUNTER + f"{provider}/{local_encounter}".encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Code:
    system: str
    code: str
    display: str = ""


@dataclass
class ProductKey:
    """An insurer's secret for blinding codes, with the codes it has blinded (the
    codebook): what turns a tag on chain back into a code for those who hold it."""

    key: bytes
    codes: dict[str, Code] = field(default_factory=dict)

    @classmethod
    def create(cls) -> ProductKey:
        return cls(secrets.token_bytes(32))

    def tag(self, code: Code) -> str:
        tag = hmac.new(self.key, _CODE_TAG + f"{code.system}|{code.code}".encode(),
                       hashlib.sha256).hexdigest()
        self.codes[tag] = code
        return tag

    def tags(self, codes: Iterable[Code]) -> list[str]:
        return sorted({self.tag(c) for c in codes})

    def codebook(self) -> dict[str, tuple[str, str, str]]:
        return {t: (c.system, c.code, c.display) for t, c in self.codes.items()}

    def save(self, path: Path | str) -> None:
        """Write the key file (owner-only permissions; it is a secret)."""
        body = json.dumps({"format": KEY_FILE_FORMAT, "key": self.key.hex(),
                           "codes": [[c.system, c.code, c.display]
                                     for c in self.codes.values()]}, indent=2)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(body)

    @classmethod
    def load(cls, path: Path | str) -> ProductKey:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            if data["format"] != KEY_FILE_FORMAT:
                raise ValueError("format")
            pk = cls(bytes.fromhex(data["key"]))
            if len(pk.key) != 32:
                raise ValueError("key length")
            for system, code, display in data["codes"]:
                pk.tag(Code(str(system), str(code), str(display)))
        except RecursionError:
            raise RecordsError(f"{path} is not a product key file (nested too deep)") from None
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise RecordsError(f"{path} is not a product key file ({exc})") from None
        return pk


@dataclass(frozen=True, slots=True)
class Rules:
    """A product's terms, in plain codes; :meth:`ClaimsClient.publish` blinds them."""

    name: str
    currency: str
    covered: Sequence[Code]
    excluded: Sequence[Code] = ()
    deductible: int = 0
    copay_bps: int = 0
    per_claim_limit: int = 10**12
    yearly_limit: int = 10**12
    waiting_days: int = 0
    max_term_days: int = 366
    refer_above: int = 0
    review_window_days: int = 14
    appeal_window_days: int = 30

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rules:
        def codes(name: str) -> list[Code]:
            return [Code(str(c["system"]), str(c["code"]), str(c.get("display", "")))
                    for c in data.get(name, [])]
        known = {f for f in cls.__dataclass_fields__ if f not in ("covered", "excluded")}
        extra = set(data) - known - {"covered", "excluded", "product"}
        if extra:
            raise RecordsError(f"unknown product fields: {', '.join(sorted(extra))}")
        try:
            return cls(covered=codes("covered"), excluded=codes("excluded"),
                       **{k: data[k] for k in known if k in data})
        except (KeyError, TypeError, AttributeError) as exc:  # a list where codes go, …
            raise RecordsError(f"product rules are malformed ({type(exc).__name__}: "
                               f"{exc})") from None


class ClaimsClient:
    """The claims and settlement modules from the client side, for any of the roles."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._records, self._consent = RecordsClient(session), ConsentClient(session)

    @property
    def did(self) -> str:
        return self.session.wallet.did

    def _q(self, path: str, **data: Any) -> Any:
        return self.session.q(path, **data)

    # -- money -------------------------------------------------------------------------
    def balance(self, currency: str, did: str | None = None) -> int:
        return int(self._q("settlement/balance", did=did or self.did,
                           currency=currency) or 0)

    def mint(self, to: str, amount: int, currency: str) -> None:
        """(authority) Deposit money into the system for ``to``."""
        self.session.send([Mint(to, amount, currency).to_msg()])

    def transfer(self, to: str, amount: int, currency: str) -> None:
        """Pay ``to``. Refused when ``to`` is another pseudonym of the same patient (the
        session knows them when a ``PatientWallet`` made it): it would link the two."""
        if to in self.session.own_pseudonyms and to != self.did:
            raise RecordsError(f"refused: {to} is another pseudonym of this wallet; money "
                               "moved between one's own pseudonyms would link them publicly "
                               "(docs/privacy.md). Pay each pseudonym's bills from its own "
                               "balance.")
        self.session.send([Transfer(to, amount, currency, None).to_msg()])

    def bill(self, patient: str, amount: int, currency: str, local_encounter: str,
             bill: str | None = None) -> str:
        """(provider) Bill ``patient`` for an encounter of this institution."""
        bill = bill or secrets.token_hex(16)
        provider = self.session.custodian_of_me()
        self.session.send([Bill(bill, patient, amount, currency,
                                encounter_key(provider, local_encounter)).to_msg()])
        return bill

    def pay_bill(self, bill: str) -> None:
        self.session.send([PayBill(bill).to_msg()])

    # -- insurer -----------------------------------------------------------------------
    def publish(self, slug: str, rules: Rules, key: ProductKey) -> tuple[str, int]:
        """Publish (or re-publish: next version) a product; returns (id, version)."""
        insurer = self.session.custodian_of_me()
        pid = product_id(insurer, slug)
        self.session.send([Publish(
            product=pid, name=rules.name, currency=rules.currency,
            deductible=rules.deductible, copay_bps=rules.copay_bps,
            per_claim_limit=rules.per_claim_limit, yearly_limit=rules.yearly_limit,
            waiting_ms=rules.waiting_days * DAY_MS, max_term_ms=rules.max_term_days * DAY_MS,
            covered=tuple(key.tags(rules.covered)), excluded=tuple(key.tags(rules.excluded)),
            refer_above=rules.refer_above, review_window_ms=rules.review_window_days * DAY_MS,
            appeal_window_ms=rules.appeal_window_days * DAY_MS).to_msg()])
        return pid, int(self.product(insurer, pid)["version"])

    def review(self, claim: str, *, approve: int | None = None, deny: str | None = None,
               note: bytes | None = None) -> dict[str, Any]:
        """(insurer reviewer) Decide a referred claim: ``approve=amount`` or
        ``deny=reason code``. A note stays off chain; only its hash is recorded."""
        if (approve is None) == (deny is None):
            raise RecordsError("review with approve=amount or deny=reason, not both")
        self.session.send([Review(
            claim, "approve" if approve is not None else "deny", approve, deny,
            None if note is None else hashlib.sha256(note).hexdigest()).to_msg()])
        return self.claim(claim)

    def read_claim_records(self, claim: str) -> list[bytes]:
        """(insurer) Open each record the claim names, under its HPAYMT consent."""
        return [self._records.open(r["record"], purpose="HPAYMT").plaintext
                for r in self.claim(claim)["records"]]

    # -- patient -----------------------------------------------------------------------
    def enrol(self, insurer: str, product: str, start_ms: int, days: int) -> None:
        self.session.send([Enrol(insurer, product, start_ms,
                                 start_ms + days * DAY_MS).to_msg()])

    def file(self, insurer: str, product: str, bill: str, records: Sequence[str],
             lines: Sequence[tuple[Code, int]], key: ProductKey, service_ms: int,
             consent_days: int = 90, claim: str | None = None,
             owner: Session | None = None) -> dict[str, Any]:
        """File a claim for a paid bill, naming ``records`` (opened and verified here
        first: their commitments go in the claim) and the billed ``lines``. The insurer
        can then read exactly these records; returns the decided claim.

        ``owner``: the session of the pseudonym that owns the records and the bill (the
        patient's pseudonym at the hospital) when this session is the insurer-pseudonym;
        it opens the records, signs the claim's link and re-wraps the keys."""
        claim = claim or secrets.token_hex(16)
        holder = owner or self.session
        records_of_owner = self._records if owner is None else RecordsClient(owner)
        refs = []
        for record in records:
            # proves the owner holds the original
            opened = records_of_owner.open(record, purpose="PATRQT")
            refs.append(RecordRef(record, opened.descriptor["commitment"]))
        link = None if owner is None else Link(
            owner.wallet.did, owner.wallet.signing_key.sign(link_bytes(claim, self.did)))
        version = int(self.product(insurer, product)["version"])
        self.session.send([File(
            claim, insurer, product, version, bill, service_ms, tuple(refs),
            tuple(Line(key.tag(code), amount) for code, amount in lines),
            sum(a for _, a in lines), _now_ms() + consent_days * DAY_MS, link).to_msg()])
        consent = self._consent if owner is None else ConsentClient(holder)
        readers = consent.grantee_dids({"kind": "organization", "id": insurer})
        consent.share(readers, Scope(records=tuple(sorted(records))))
        return self.claim(claim)

    def appeal(self, claim: str) -> dict[str, Any]:
        self.session.send([Appeal(claim).to_msg()])
        return self.claim(claim)

    def lapse(self, claim: str) -> dict[str, Any]:
        self.session.send([Lapse(claim).to_msg()])
        return self.claim(claim)

    def settle(self, claim: str) -> dict[str, Any]:
        self.session.send([Settle(claim).to_msg()])
        return self.claim(claim)

    # -- reading -----------------------------------------------------------------------
    def product(self, insurer: str, product: str, version: int | None = None
                ) -> dict[str, Any]:
        found = self._q("claims/product", insurer=insurer, product=product,
                        **({} if version is None else {"version": version}))
        if found is None:
            raise RecordsError(f"no product {product} of {insurer}")
        return dict(found)

    def claim(self, claim: str) -> dict[str, Any]:
        found = self._q("claims/claim", claim=claim)
        if found is None:
            raise RecordsError(f"no claim {claim}")
        return dict(found)

    def claims_by_reason(self, reason: str) -> list[str]:
        return list(self._q("claims/by_reason", reason=reason)["claims"])

    def fhir(self, claim: str, key: ProductKey | None = None) -> dict[str, dict[str, Any]]:
        """``Claim``, ``ClaimResponse`` and ``ExplanationOfBenefit`` for a claim (real
        codes where ``key`` knows them, code tags otherwise)."""
        from phrchain.fhir.claims import claim_resources

        c = self.claim(claim)
        product = self.product(c["insurer"], c["product"], c["version"])
        bill = self._q("settlement/bill", bill=c["bill"])
        return claim_resources(
            c, currency=product["currency"], provider=bill["provider"],
            created_ms=self._block_time(c["filed_height"]),
            decided_ms=self._block_time(c.get("decided_height") or c["filed_height"]),
            codes=key.codebook() if key else None, reasons=self._reason_sentences())

    def _block_time(self, height: int) -> int:
        header = self.session.node.header(height)
        return int(header["header"]["time_ms"])

    @staticmethod
    def _reason_sentences() -> dict[str, str]:
        from phrchain.modules.claims.reasons import REASONS

        return {code: str(sentence) for code, sentence in REASONS.items()}


def _now_ms() -> int:
    return time.time_ns() // 1_000_000
