"""Every query that answers with a proof answers exactly what the proof proves: the
client's ``verify_query`` accepts it against the app hash, for present and absent keys,
in every module (a wrapper value around a proven key would make a proof unusable).

``audit/head`` is the one derived view (size and root of the stored frontier): the
audit reader checks it field by field (``client/audit.check_head``, its own tests)."""

from __future__ import annotations

from typing import Any

import pytest

from phrchain.client.verify import verify_query
from phrchain.core import encoding
from phrchain.core.errors import ProofError
from tests.world import A1, COVERED, EUR, INSURER, ClaimsWorld, P, Q, new_id


def _world() -> tuple[ClaimsWorld, dict[str, str]]:
    w = ClaimsWorld()
    pid = w.publish()
    w.enrol(P, pid)
    w.mint(INSURER, 10_000)
    record = w.record(author=A1, patient=P)
    consent = w.grant(P, {"kind": "practitioner", "id": A1.did})
    bill = w.bill(P, 1500)
    filed = w.file(P, pid, bill, [record], [(COVERED[0], 1000)])
    return w, {"product": pid, "record": record, "consent": consent, "bill": bill,
               "claim": filed["claim"]}


def _queries(ids: dict[str, str]) -> list[tuple[str, dict[str, Any]]]:
    absent = new_id()
    return [
        ("identity/did", {"did": P.did}), ("identity/did", {"did": "did:key:z6Mkabsent"}),
        ("records/get", {"record": ids["record"]}), ("records/get", {"record": absent}),
        ("consent/get", {"consent": ids["consent"]}), ("consent/get", {"consent": absent}),
        ("settlement/balance", {"did": P.did, "currency": EUR}),
        ("settlement/balance", {"did": Q.did, "currency": EUR}),
        ("settlement/supply", {"currency": EUR}), ("settlement/supply", {"currency": "JPY"}),
        ("settlement/bill", {"bill": ids["bill"]}), ("settlement/bill", {"bill": absent}),
        ("claims/product", {"insurer": INSURER.did, "product": ids["product"]}),
        ("claims/enrolment", {"patient": P.did, "insurer": INSURER.did,
                              "product": ids["product"]}),
        ("claims/claim", {"claim": ids["claim"]}), ("claims/claim", {"claim": absent}),
    ]


@pytest.fixture(scope="module")
def world() -> tuple[ClaimsWorld, dict[str, str]]:
    return _world()


@pytest.mark.parametrize("index", range(len(_queries({k: new_id() for k in (
    "product", "record", "consent", "bill", "claim")}))))
def test_every_proof_verifies_what_the_answer_says(
        world: tuple[ClaimsWorld, dict[str, str]], index: int) -> None:
    w, ids = world
    path, data = _queries(ids)[index]
    answer = w.chain.app.query(path, data, prove=True)
    assert "proof" in answer, f"{path} is documented provable but answered no proof"
    root = w.chain.app.store.root()
    assert verify_query(answer, root, bytes.fromhex(answer["key"])) == answer["value"]
    # A changed value no longer verifies.
    forged = {**answer, "value": {"forged": True}}
    with pytest.raises(ProofError):
        verify_query(forged, root)
    if answer["raw_value"] is not None:
        assert encoding.decode(bytes.fromhex(answer["raw_value"])) == answer["value"]
