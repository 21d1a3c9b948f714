"""The API property-testing campaign, quick version (issue 13): every operation of the
node API's and a vault's OpenAPI document, driven by hypothesis from its own schemas and
with hostile values (``tests/api_campaign.py``), against a consortium on loopback. No
5xx, every status documented, every body valid against its documented schema.
``bench/api_fuzz.py`` runs the same with many more cases and prints the figures."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from phrchain.client import builder
from phrchain.client.wallet import Wallet
from phrchain.core.tx import build_tx
from tests.api_campaign import (
    HOSTILE_TEXT,
    Report,
    Target,
    check_response,
    node_target,
    phrchain_error_shape,
    run_campaign,
    seed_world,
    vault_target,
)
from tests.consortium import CHAIN, HOSPITAL_A, Consortium, running

# Cases per operation: small enough that the whole file stays well under a minute here.
NODE_EXAMPLES = 40
VAULT_EXAMPLES = 25
@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Consortium, str, str]]:
    """A consortium holding one record of P (at hospital A) and one consent of P's."""
    with running(tmp_path_factory.mktemp("api-props")) as c:
        record, consent = seed_world(c)
        yield c, record, consent


def _clean(report: Report, min_operations: int) -> None:
    summary = report.summary()
    assert summary["operations"] >= min_operations, summary
    assert summary["failures"] == 0, summary["distinct_failures"]
    assert not any(status >= 500 for status in summary["statuses"]), summary


def test_node_api_answers_every_case_as_documented(world: tuple[Consortium, str, str]) -> None:
    c, record, consent = world
    target = node_target(c, record, consent)
    report = run_campaign(target, NODE_EXAMPLES)
    _clean(report, min_operations=14)
    # The cases reached both the success and the refusal branches of the API.
    assert report.statuses[200] > 0 and report.statuses[422] > 0, report.summary()
    assert report.statuses[400] > 0 and report.statuses[404] > 0, report.summary()


def test_vault_answers_unsigned_and_garbage_requests_without_5xx(
        world: tuple[Consortium, str, str]) -> None:
    c, record, _ = world
    report = run_campaign(vault_target(c, HOSPITAL_A.did, record), VAULT_EXAMPLES)
    _clean(report, min_operations=9)
    assert report.statuses[401] > 0, report.summary()  # refused at authentication


def test_vault_framework_errors_have_the_vault_error_body(
        world: tuple[Consortium, str, str]) -> None:
    c, _, _ = world
    url = c.directory[HOSPITAL_A.did]
    for method, path in (("GET", "/v1/vault/records/a%2Fb/chunks/0"),
                         ("DELETE", "/v1/vault/info"), ("GET", "/v1/vault/records/x/chunks/y")):
        response = httpx.request(method, url + path)
        assert 400 <= response.status_code < 500
        assert phrchain_error_shape(response.json()), (method, path, response.text)


def test_the_checks_catch_a_wrong_answer(world: tuple[Consortium, str, str]) -> None:
    """The campaign is only as good as its checks: a schema that promises what the API
    does not return (a required field it never sends; no 404 or 422) must fail cases."""
    c, record, consent = world
    spec = copy.deepcopy(node_target(c, record, consent).spec)
    status, blocks = spec["paths"]["/v1/status"], spec["paths"]["/v1/blocks/{height}"]
    status["get"]["responses"]["200"]["content"]["application/json"]["schema"] = {
        "type": "object", "required": ["no_such_field"]}
    for code in ("404", "422"):
        del blocks["get"]["responses"][code]
    spec["paths"] = {"/v1/status": status, "/v1/blocks/{height}": blocks}
    report = run_campaign(Target(c.api_url, spec), 10)
    assert report.operations == 2
    assert report.failures["GET /v1/status: 200 body does not match its schema: "
                           '"no_such_field" is a required property'] == 1
    undocumented = sum(n for what, n in report.failures.items() if "undocumented" in what)
    assert undocumented == report.statuses[404] + report.statuses[422] > 0, report.summary()
    assert phrchain_error_shape({"error": {"codespace": "api", "code": 1, "name": "x",
                                           "message": "y"}})
    assert not phrchain_error_shape({"detail": [{"msg": "field required"}]})


# -- stateful: a tx submitted, then followed through the links its answer gives ----------------
@settings(max_examples=5, derandomize=True, database=None, deadline=None,
          phases=[Phase.generate], suppress_health_check=list(HealthCheck))
@given(seed=st.binary(min_size=32, max_size=32), wait=st.sampled_from(["commit", "check"]))
def test_a_submitted_tx_can_be_followed_to_its_block_header_and_state(
        world: tuple[Consortium, str, str], seed: bytes, wait: str) -> None:
    c, record, consent = world
    target = node_target(c, record, consent)
    ops = {f"{m} {p}": op for m, p, op in target.operations()}
    patient = Wallet.from_secrets(seed, bytes(reversed(seed)), "fresh")
    tx = build_tx(patient.signing_key, CHAIN, 1, [builder.register_patient(patient.enc_key)])
    report = Report()
    with httpx.Client(base_url=c.api_url, timeout=30) as http:
        def get(label: str, url: str, **params: Any) -> dict[str, Any]:
            response = http.get(url, params=params)
            _check_one(report, target, ops, label, response)
            return dict(response.json())

        submitted = http.post("/v1/txs", json={"tx": tx.hex(), "wait": wait})
        _check_one(report, target, ops, "POST /v1/txs", submitted)
        if submitted.status_code == 422:  # this key was drawn before: already registered
            assert submitted.json()["error"]["name"] == "nonce_replayed"
            return
        tx_hash = submitted.json()["hash"]
        status = c.node.wait_committed(bytes.fromhex(tx_hash), 20)
        assert status["status"] == "committed", status
        got = get("GET /v1/txs/{tx_hash}", f"/v1/txs/{tx_hash}")
        assert got["status"] == "committed" and got["result"]["code"] == 0
        block = get("GET /v1/blocks/{height}", f"/v1/blocks/{got['height']}")
        assert tx_hash in [r["hash"] for r in block["results"]]
        header = get("GET /v1/headers/{height}", f"/v1/headers/{got['height']}")
        assert header == block["signed_header"]
        identity = get("GET /v1/identities/{did}", f"/v1/identities/{patient.did}")
        assert identity["value"]["kind"] == "patient" and identity["proof"] is not None
        assert get("GET /v1/query/{path}", "/v1/query/identity/nonce",
                   did=patient.did)["value"]["last_nonce"] == 1
    assert report.summary()["failures"] == 0, report.summary()["distinct_failures"]


def _check_one(report: Report, target: Target, ops: dict[str, Any], label: str,
               response: httpx.Response) -> None:
    check_response(report, target, label, ops[label], response)


def test_the_event_stream_refuses_bad_filters_and_streams_good_ones(
        world: tuple[Consortium, str, str]) -> None:
    """``GET /v1/events`` is left out of the campaign (its answer never ends): a bad
    ``kind`` is a 422 error body at once; a good one opens the documented stream."""
    c, _, _ = world
    with httpx.Client(base_url=c.api_url, timeout=10) as http:
        for kind in HOSTILE_TEXT:
            refused = http.get("/v1/events", params={"kind": kind})
            assert refused.status_code == 422 and phrchain_error_shape(refused.json()), kind
        with http.stream("GET", "/v1/events", params={"kind": "tx", "event": "\u0661"}) as s:
            assert s.status_code == 200
            assert s.headers["content-type"].startswith("text/event-stream")
            assert next(s.iter_lines()) == ": subscribed"
