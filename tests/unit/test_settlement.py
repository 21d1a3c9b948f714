"""settlement module: who may mint, burn, transfer, bill and pay; nothing moves on error."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.client.verify import verify_query
from phrchain.core.errors import TxError
from phrchain.core.state import StoreView
from phrchain.modules.settlement import keeper, keys
from phrchain.modules.settlement.messages import Mint
from tests.helpers import AUTHORITY, tx_state
from tests.world import (
    A1,
    EUR,
    GA,
    HOSPITAL_A,
    INSURER,
    IR,
    PH,
    PHARMACY,
    RR,
    STRANGER,
    ClaimsWorld,
    P,
    Q,
    new_id,
)


@pytest.fixture
def w() -> ClaimsWorld:
    return ClaimsWorld()


def mint(to: str, amount: Any = 100, currency: Any = EUR) -> dict[str, Any]:
    return {"type": "settlement/mint", "to": to, "amount": amount, "currency": currency}


def conserved(w: ClaimsWorld) -> dict[str, int]:
    """Check sum of balances == supply for every currency; return the supplies."""
    store = w.chain.app.store
    reader = StoreView(store.get, store.iterate)
    sums: dict[str, int] = {}
    for _, currency, amount in keeper.all_balances(reader):
        assert amount > 0
        sums[currency] = sums.get(currency, 0) + amount
    supplies = keeper.all_supplies(reader)
    assert sums == supplies
    return supplies


def test_mint_and_burn_only_by_an_authority(w: ClaimsWorld) -> None:
    for signer in (INSURER, IR, A1, P, GA):
        assert w.fails(signer, mint(signer.did)) == ("settlement", 1)
    w.ok(AUTHORITY, mint(INSURER.did, 5_000))
    assert w.balance(INSURER) == 5_000
    assert w.query("settlement/supply", currency=EUR) == 5_000
    burn = {"type": "settlement/burn", "from": INSURER.did, "amount": 2_000, "currency": EUR}
    assert w.fails(INSURER, burn) == ("settlement", 1)
    w.ok(AUTHORITY, burn)
    assert (w.balance(INSURER), w.query("settlement/supply", currency=EUR)) == \
        (3_000, 3_000)
    before = tx_state(w.chain)
    assert w.fails(AUTHORITY, {**burn, "amount": 3_001}) == ("settlement", 3)
    assert tx_state(w.chain) == before
    w.ok(AUTHORITY, {**burn, "amount": 3_000})
    assert w.query("settlement/balances", did=INSURER.did)["balances"] == {}
    assert conserved(w) == {}


@pytest.mark.parametrize("amount", [True, False, "100", 0, -5, 10**15 + 1, None, [100]])
def test_amounts_are_positive_integers_only(w: ClaimsWorld, amount: Any) -> None:
    assert w.fails(AUTHORITY, mint(P.did, amount)) == ("settlement", 2)


@pytest.mark.parametrize("amount", [1.0, 100.0, 99.99])
def test_a_float_amount_is_refused_by_the_message_check(amount: float) -> None:
    # A float cannot even reach a block (canonical encoding refuses it: tx/1); the
    # message check refuses it too, with a sentence that says why.
    with pytest.raises(TxError) as exc:
        Mint.parse(mint(P.did, amount))
    assert (exc.value.codespace, exc.value.code) == ("settlement", 2)
    assert "not a float" in exc.value.log


@pytest.mark.parametrize("currency", ["eur", "EURO", "E1R", "", 978])
def test_currency_is_iso_4217_shaped(w: ClaimsWorld, currency: Any) -> None:
    assert w.fails(AUTHORITY, mint(P.did, 1, currency)) == ("settlement", 2)


def test_mint_needs_an_active_account_and_respects_the_supply_limit(w: ClaimsWorld) -> None:
    assert w.fails(AUTHORITY, mint(STRANGER.did)) == ("settlement", 4)
    for _ in range(9):
        w.ok(AUTHORITY, mint(INSURER.did, 10**15))
    assert w.fails(AUTHORITY, mint(INSURER.did, 1)) == ("settlement", 8)
    assert conserved(w) == {EUR: 9 * 10**15}


def test_transfer_moves_exactly_or_nothing(w: ClaimsWorld) -> None:
    w.mint(P, 500)
    pay = {"type": "settlement/transfer", "to": Q.did, "amount": 200, "currency": EUR,
           "memo": "inv-2024.001"}
    result = w.ok(P, pay)
    assert (w.balance(P), w.balance(Q)) == (300, 200)
    moved = [dict(e.attributes) for e in result.events if e.type == "settlement.transferred"]
    assert moved == [{"from": P.did, "to": Q.did, "amount": "200", "currency": EUR,
                      "memo": "inv-2024.001"}]
    before = tx_state(w.chain)
    assert w.fails(P, {**pay, "amount": 301}) == ("settlement", 3)
    assert w.fails(P, {**pay, "currency": "USD"}) == ("settlement", 3)
    assert w.fails(P, {**pay, "to": STRANGER.did}) == ("settlement", 4)
    assert w.fails(P, {**pay, "to": P.did}) == ("settlement", 2)
    assert w.fails(P, {**pay, "memo": "knee surgery"}) == ("settlement", 2)  # no free text
    assert tx_state(w.chain) == before
    assert conserved(w) == {EUR: 500}


def bill_msg(patient: str = P.did, amount: int = 1_000, **kw: Any) -> dict[str, Any]:
    return {"type": "settlement/bill", "bill": new_id(), "patient": patient, "amount": amount,
            "currency": EUR, "encounter": "ab" * 32, **kw}


@pytest.mark.parametrize(("signer", "payee"), [(HOSPITAL_A, HOSPITAL_A), (A1, HOSPITAL_A),
                                               (PHARMACY, PHARMACY), (PH, PHARMACY)])
def test_care_organizations_and_their_staff_bill_for_the_organization(
        w: ClaimsWorld, signer: Any, payee: Any) -> None:
    msg = bill_msg()
    w.ok(signer, msg)
    bill = w.query("settlement/bill", bill=msg["bill"])
    assert (bill["provider"], bill["issued_by"], bill["status"]) == (payee.did, signer.did,
                                                                    "open")
    assert w.query("settlement/bills", provider=payee.did)["bills"] == [msg["bill"]]
    assert w.query("settlement/bills", patient=P.did)["bills"] == [msg["bill"]]


@pytest.mark.parametrize(("signer", "patch", "code"), [
    (INSURER, {}, 1), (IR, {}, 1), (RR, {}, 1), (GA, {}, 1), (P, {}, 1), (AUTHORITY, {}, 1),
    (A1, {"patient": A1.did}, 4), (A1, {"encounter": "12"}, 2), (A1, {"amount": "15"}, 2),
])
def test_bill_refusals(w: ClaimsWorld, signer: Any, patch: dict[str, Any], code: int) -> None:
    assert w.fails(signer, bill_msg(**patch)) == ("settlement", code)


def test_pay_bill_by_its_patient_with_enough_money(w: ClaimsWorld) -> None:
    msg = bill_msg(amount=800)
    w.ok(A1, msg)
    assert w.fails(A1, {**msg, "patient": Q.did}) == ("settlement", 5)  # id taken
    pay = {"type": "settlement/pay_bill", "bill": msg["bill"]}
    assert w.fails(Q, pay) == ("settlement", 1)
    w.mint(P, 799)
    before = tx_state(w.chain)
    assert w.fails(P, pay) == ("settlement", 3)
    assert tx_state(w.chain) == before
    w.mint(P, 1)
    result = w.ok(P, pay)
    assert (w.balance(P), w.balance(HOSPITAL_A)) == (0, 800)
    bill = w.query("settlement/bill", bill=msg["bill"])
    assert bill["status"] == "paid" and bill["paid_height"] == w.chain.app.store.version()
    assert [e.type for e in result.events if e.type.startswith("settlement.")] == \
        ["settlement.paid"]
    assert w.fails(P, pay) == ("settlement", 7)
    assert w.fails(P, {**pay, "bill": new_id()}) == ("settlement", 6)
    assert conserved(w) == {EUR: 800}


def test_balance_query_is_provable_and_lists_are_paged(w: ClaimsWorld) -> None:
    w.mint(P, 7)
    w.mint(P, 9, "USD")
    answer = w.chain.app.query("settlement/balance", {"did": P.did, "currency": EUR},
                               prove=True)
    assert verify_query(answer, w.chain.app.store.root(),
                        keys.balance_key(P.did, EUR)) == 7
    zero = w.chain.app.query("settlement/balance", {"did": Q.did, "currency": EUR},
                             prove=True)
    assert verify_query(zero, w.chain.app.store.root(),
                        keys.balance_key(Q.did, EUR)) is None  # proven zero
    supply = w.chain.app.query("settlement/supply", {"currency": EUR}, prove=True)
    assert verify_query(supply, w.chain.app.store.root(),
                        keys.supply_key(EUR)) == conserved(w)[EUR]
    assert w.query("settlement/balances", did=P.did)["balances"] == {EUR: 7, "USD": 9}
    ids = sorted(w.bill(P, 1, pay=False) for _ in range(3))
    first = w.query("settlement/bills", patient=P.did, limit=2)
    rest = w.query("settlement/bills", patient=P.did, after=first["next"])
    assert first["bills"] + rest["bills"] == ids and rest["next"] is None
    with pytest.raises(TxError):
        w.query("settlement/bills", patient=P.did, provider=HOSPITAL_A.did)
    with pytest.raises(TxError):
        w.query("settlement/supply", currency="eur")
