"""The REST API end to end, over a real loopback socket: a solo node on a temp home,
uvicorn in a background thread, the SDK client (NodeClient, builder, verify) against it."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.client import builder
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.verify import (
    genesis_app_hash,
    query_key,
    verify_header,
    verify_query,
    verify_query_against_header,
)
from phrchain.client.wallet import Wallet
from phrchain.core import keys
from phrchain.core.errors import CryptoError, ProofError
from phrchain.core.tx import build_tx, tx_hash
from phrchain.engine.solo.home import NodeConfig, init_home
from phrchain.engine.solo.node import SoloNode
from phrchain.modules.identity.keys import id_key

CHAIN = "phr-test"
VALIDATOR = keys.SigningKey(bytes([9]) * 32)


def _wallet(n: int, label: str) -> Wallet:
    return Wallet.from_secrets(bytes([n]) * 32, bytes([n + 100]) * 32, label)


AUTHORITY = _wallet(1, "authority")
ORG = _wallet(2, "hospital")
DOCTOR = _wallet(3, "doctor")
PATIENT = _wallet(4, "patient")


def _admit_org(org: Wallet, org_type: str = "hospital", name: str = "General Hospital",
               by: Wallet = AUTHORITY) -> dict[str, Any]:
    """The organization makes its join request; the authority admits with it."""
    req = builder.join_request(org, CHAIN, by.did)
    return builder.admit_organization(req["did"], org_type, name, req["enc_key"], req["pop"])


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SoloNode]:
    home = tmp_path_factory.mktemp("api") / "home"
    genesis = {"chain_id": CHAIN, "genesis_time_ms": 0, "validator": VALIDATOR.did,
               "app_state": {"version": 2, "identity": {"authorities": [
                   {"did": AUTHORITY.did, "enc_key": AUTHORITY.enc_key.hex(),
                    "name": "Consortium"}]}}}
    init_home(home, genesis, VALIDATOR.seed, NodeConfig(block_interval_ms=20))
    solo = SoloNode(home)
    solo.start()
    yield solo
    solo.close()


@pytest.fixture(scope="module")
def url(node: SoloNode) -> Iterator[str]:
    with BackgroundServer(create_app(node, commit_timeout=10)) as base:
        yield base


@pytest.fixture(scope="module")
def client(url: str) -> Iterator[NodeClient]:
    with NodeClient(url, timeout=15) as c:
        yield c


@pytest.fixture(scope="module")
def people(client: NodeClient) -> dict[str, Any]:
    """Admit an organization, one of its practitioners, and a self-registered patient."""
    answers = {
        "org": client.send(AUTHORITY, [_admit_org(ORG)]),
        "doctor": client.send(ORG, [builder.admit_practitioner(
            DOCTOR.did, ["physician", "emergency", "physician"], DOCTOR.enc_key,
            builder.join_request(DOCTOR, CHAIN, ORG.did)["pop"])]),
        "patient": client.send(PATIENT, [builder.register_patient(PATIENT.enc_key)]),
    }
    return answers


def _error(response: httpx.Response) -> tuple[int, str, int, str]:
    err = response.json()["error"]
    assert set(err) == {"codespace", "code", "name", "message"}
    return response.status_code, err["codespace"], err["code"], err["name"]


# -- transactions ---------------------------------------------------------------------------
def test_identity_txs_commit_and_have_a_status(client: NodeClient,
                                               people: dict[str, Any]) -> None:
    for answer in people.values():
        assert answer["status"] == "committed" and answer["result"]["code"] == 0
        assert answer["check"]["code"] == 0
        status = client.tx(answer["hash"])
        assert status["status"] == "committed"
        assert status["height"] == answer["height"] and status["result"]["code"] == 0
    doctor = client.identity(DOCTOR.did)["value"]
    assert doctor["roles"] == ["emergency", "physician"]
    assert doctor["organization"] == ORG.did
    assert client.next_nonce(AUTHORITY.did) == 2


def test_set_roles_and_wait_check(client: NodeClient, people: dict[str, Any]) -> None:
    answer = client.send(ORG, [builder.set_roles(DOCTOR.did, ["nurse"])], wait="check")
    assert answer["status"] == "pending" and answer["result"] is None
    deadline = time.monotonic() + 5
    while client.tx(answer["hash"])["status"] != "committed":
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert client.identity(DOCTOR.did)["value"]["roles"] == ["nurse"]
    assert DOCTOR.did in client.identities(role="nurse")["value"]["dids"]


def test_listing_identities(url: str, client: NodeClient, people: dict[str, Any]) -> None:
    assert client.identities(organization=ORG.did)["value"]["members"] == [DOCTOR.did]
    assert client.identities(kind="patient")["value"]["dids"][0] == PATIENT.did
    assert client.identities(kind="organization/hospital")["value"] == \
        {"kind": "organization/hospital", "dids": [ORG.did], "next": None}
    with pytest.raises(ValueError, match="exactly one"):
        client.identities(kind="patient", role="nurse")
    got = httpx.get(f"{url}/v1/identities", params={"kind": "patient", "role": "nurse"})
    assert _error(got)[:3] == (400, "api", 1)  # the REST route says the same


def test_listing_pages_through_the_sdk_and_the_get_route(url: str, client: NodeClient,
                                                         people: dict[str, Any]) -> None:
    patients = [_wallet(120 + i, "paged patient") for i in range(3)]
    for patient in patients:
        client.send(patient, [builder.register_patient(patient.enc_key)], wait="check")
    client.send(patients[-1], [builder.revoke(patients[-1].did, "unspecified")])
    everyone = client.identities(kind="patient", limit=1000)["value"]["dids"]
    assert {p.did for p in patients} <= set(everyone) and everyone == sorted(everyone)
    seen, after = [], None
    while True:
        page = client.identities(kind="patient", limit=2, after=after)["value"]
        assert len(page["dids"]) <= 2
        seen += page["dids"]
        after = page["next"]
        if after is None:
            break
    assert seen == everyone
    # GET /v1/query passes every parameter through as a string
    got = httpx.get(f"{url}/v1/query/identity/kind",
                    params={"kind": "patient", "limit": "2", "after": everyone[0]}).json()
    assert got["value"]["dids"] == everyone[1:3]
    assert _error(httpx.get(f"{url}/v1/query/identity/kind",
                            params={"kind": "patient", "limit": "5000"}))[:3] == \
        (400, "query", 2)
    # and so does the REST listing route
    listed = httpx.get(f"{url}/v1/identities",
                       params={"kind": "patient", "limit": 2, "after": everyone[0]}).json()
    assert listed["value"]["dids"] == everyone[1:3]
    assert httpx.get(f"{url}/v1/identities",
                     params={"kind": "patient", "limit": 5000}).status_code in (400, 422)


def test_key_rotation_through_the_api(client: NodeClient, people: dict[str, Any]) -> None:
    patient = _wallet(5, "rotating patient")
    client.send(patient, [builder.register_patient(patient.enc_key)])
    msg, rotated = patient.rotate(CHAIN, random_bytes=lambda n: bytes([66]) * n)
    client.send(patient, [msg])
    record = client.identity(patient.did)["value"]
    assert record["signing_key"] == rotated.signing_key.public_key.hex()
    client.send(rotated, [builder.revoke(patient.did, "superseded")])  # new key signs
    with pytest.raises(ApiError) as exc:  # the revoked identity cannot sign any more
        client.send(rotated, [builder.register_patient(patient.enc_key)])
    assert (exc.value.status, exc.value.codespace, exc.value.code) == (422, "tx", 9)


# -- proofs ---------------------------------------------------------------------------------
def test_identity_answer_carries_a_proof_that_verifies(client: NodeClient,
                                                       people: dict[str, Any]) -> None:
    answer = client.identity(PATIENT.did)
    key = query_key("identity/did", {"did": PATIENT.did})
    assert key == id_key(PATIENT.did)
    value = verify_query(answer, expected_key=key)
    assert value["did"] == PATIENT.did and value["kind"] == "patient"
    header = client.header(answer["height"])
    assert verify_query_against_header(answer, header, VALIDATOR.did, key, chain_id=CHAIN,
                                       min_height=answer["height"]) == value
    assert verify_header(header, VALIDATOR.did, CHAIN).app_hash.hex() == answer["app_hash"]
    verify_query(answer, bytes.fromhex(answer["app_hash"]), key)
    with pytest.raises(ProofError, match="expected_key"):  # derivable: must be given
        verify_query(answer)
    with pytest.raises(ProofError, match="expected_key"):
        verify_query_against_header(answer, header, VALIDATOR.did)


def test_height_zero_answers_check_against_the_recomputed_genesis(
        node: SoloNode, client: NodeClient, people: dict[str, Any]) -> None:
    answer = client.query("identity/did", {"did": AUTHORITY.did}, height=0, prove=True)
    genesis = json.loads((node.home / "config" / "genesis.json").read_text())
    value = verify_query(answer, genesis_app_hash(genesis), id_key(AUTHORITY.did))
    assert value["kind"] == "authority"
    other = {**genesis, "chain_id": "phr-other"}
    with pytest.raises(ProofError, match="app hash"):
        verify_query(answer, genesis_app_hash(other), id_key(AUTHORITY.did))


def test_tampered_answers_are_refused(client: NodeClient, people: dict[str, Any]) -> None:
    answer = client.identity(PATIENT.did)
    key = id_key(PATIENT.did)
    raw = bytearray(bytes.fromhex(answer["raw_value"]))
    raw[-3] ^= 1
    sibling = answer["proof"]["siblings"][0]
    since = answer["value"]["since"]
    cases = {
        "raw_value": {**answer, "raw_value": raw.hex()},
        "value": {**answer, "value": {**answer["value"], "kind": "authority"}},
        # equal in Python (1.0 == 1), but not the proven bytes
        "value type": {**answer, "value": {**answer["value"], "since": float(since)}},
        "extra value field": {**answer, "value": {**answer["value"], "x": None}},
        "path": {**answer, "path": "store"},
        "proof": {**answer, "proof": {**answer["proof"], "siblings": [
            ("0" if sibling[0] != "0" else "1") + sibling[1:],
            *answer["proof"]["siblings"][1:]]}},
        "absent": {**answer, "raw_value": None, "value": None},
        "app_hash": {**answer, "app_hash": "00" * 32},
        "no proof": {k: v for k, v in answer.items() if k != "proof"},
    }
    assert verify_query(answer, expected_key=key) == answer["value"]
    for name, bad in cases.items():
        with pytest.raises(ProofError):
            verify_query(bad, expected_key=key)
            pytest.fail(f"tampered {name} was accepted")
    with pytest.raises(ProofError):
        verify_query(answer, expected_app_hash=bytes(32), expected_key=key)
    with pytest.raises(ProofError):
        verify_query(answer, expected_key=id_key(ORG.did))


def test_header_checks(client: NodeClient, people: dict[str, Any]) -> None:
    answer = client.identity(PATIENT.did)
    header = client.header(answer["height"])
    forged = json.loads(json.dumps(header))
    forged["header"]["app_hash"] = "11" * 32
    with pytest.raises(CryptoError):
        verify_header(forged, VALIDATOR.did)
    with pytest.raises(CryptoError):  # someone else's key
        verify_header(header, AUTHORITY.did)
    with pytest.raises(ProofError):
        verify_header(header, VALIDATOR.did, chain_id="phr-other")
    key = id_key(PATIENT.did)
    with pytest.raises(ProofError, match="height"):  # a header of another height
        verify_query_against_header({**answer, "height": answer["height"] + 1}, header,
                                    VALIDATOR.did, key)
    with pytest.raises(ProofError, match="chain"):  # pinned to another chain
        verify_query_against_header(answer, header, VALIDATOR.did, key, chain_id="phr-other")
    with pytest.raises(ProofError, match="older"):  # stale: the caller knows a newer height
        verify_query_against_header(answer, header, VALIDATOR.did, key,
                                    min_height=answer["height"] + 1)


def test_absence_is_proved(client: NodeClient, people: dict[str, Any]) -> None:
    stranger = keys.SigningKey(bytes([77]) * 32).did
    answer = client.query("identity/did", {"did": stranger}, prove=True)
    assert answer["raw_value"] is None and answer["value"] is None
    assert verify_query(answer, expected_key=id_key(stranger)) is None
    with pytest.raises(ProofError):  # an absent key may not come with a value
        verify_query({**answer, "value": {"did": stranger}}, expected_key=id_key(stranger))
    with pytest.raises(ApiError) as exc:
        client.identity(stranger)
    assert (exc.value.status, exc.value.codespace, exc.value.code) == (404, "query", 4)
    # The same proof read through the GET form of the query route.
    got = httpx.get(f"{client.base_url}/v1/query/identity/did",
                    params={"did": stranger, "prove": "true"}).json()
    assert got == answer


# -- chain reads ----------------------------------------------------------------------------
def test_headers_blocks_status(url: str, client: NodeClient, people: dict[str, Any]) -> None:
    status = client.status()
    assert status["chain_id"] == CHAIN and status["validator"] == VALIDATOR.did
    latest = client.header()
    assert latest["header"]["height"] >= status["height"] - 1 >= 0
    org_tx = people["org"]
    block = client.block(org_tx["height"])
    assert org_tx["hash"] in [r["hash"] for r in block["results"]]
    raw = bytes.fromhex(block["txs"][[r["hash"] for r in block["results"]]
                                     .index(org_tx["hash"])])
    assert tx_hash(raw).hex() == org_tx["hash"]
    verify_header(block["signed_header"], VALIDATOR.did, CHAIN)
    assert _error(httpx.get(f"{url}/v1/headers/999999")) == (404, "api", 2, "not_found")
    assert _error(httpx.get(f"{url}/v1/blocks/0"))[:3] == (422, "api", 1)


def test_openapi_lists_the_routes(url: str) -> None:
    spec = httpx.get(f"{url}/openapi.json").json()
    assert spec["info"]["title"] == "phrchain node API"
    paths = set(spec["paths"])
    for path in ("/v1/txs", "/v1/txs/{tx_hash}", "/v1/query/{path}", "/v1/query",
                 "/v1/headers/latest", "/v1/headers/{height}", "/v1/blocks/{height}",
                 "/v1/status", "/v1/identities/{did}", "/v1/identities", "/v1/events",
                 "/metrics"):
        assert path in paths, path
    assert "SubmitTxRequest" in spec["components"]["schemas"]
    assert "ErrorBody" in spec["components"]["schemas"]
    assert httpx.get(f"{url}/docs").status_code == 200


# -- errors ---------------------------------------------------------------------------------
def test_error_bodies_carry_stable_codes(url: str, client: NodeClient,
                                         people: dict[str, Any]) -> None:
    post = lambda body: httpx.post(f"{url}/v1/txs", json=body)  # noqa: E731
    assert _error(post({"tx": "not hex"})) == (422, "tx", 1, "malformed_tx")
    assert _error(post({"tx": "ABCD"})) == (422, "tx", 1, "malformed_tx")
    assert _error(post({"tx": b"{not json".hex()})) == (422, "tx", 1, "malformed_tx")
    nonce = client.next_nonce(AUTHORITY.did)
    msg = _admit_org(_wallet(50, "clinic"), "clinic", "Clinic")
    good = build_tx(AUTHORITY.signing_key, CHAIN, nonce, [msg])
    envelope = json.loads(good)
    envelope["sig"] = ("0" if envelope["sig"][0] != "0" else "1") + envelope["sig"][1:]
    bad_sig = json.dumps(envelope, separators=(",", ":"), sort_keys=True).encode()
    assert _error(post({"tx": bad_sig.hex()})) == (422, "tx", 5, "bad_signature")
    other_chain = build_tx(AUTHORITY.signing_key, "phr-other", nonce, [msg])
    assert _error(post({"tx": other_chain.hex()})) == (422, "tx", 4, "wrong_chain_id")
    replayed = build_tx(AUTHORITY.signing_key, CHAIN, 1, [msg])
    assert _error(post({"tx": replayed.hex()})) == (422, "tx", 6, "nonce_replayed")
    stranger = keys.SigningKey(bytes([51]) * 32)
    unknown = build_tx(stranger, CHAIN, 1, [msg])
    assert _error(post({"tx": unknown.hex()})) == (422, "tx", 8, "unknown_signer")
    not_allowed = build_tx(PATIENT.signing_key, CHAIN, client.next_nonce(PATIENT.did), [msg])
    assert _error(post({"tx": not_allowed.hex()})) == (422, "identity", 1, "unauthorized")
    assert _error(post({"wait": "commit"}))[:3] == (422, "api", 1)
    assert _error(post({"tx": "00", "wait": "later"}))[:3] == (422, "api", 1)
    assert _error(httpx.post(f"{url}/v1/txs", content=b"{"))[:3] == (422, "api", 1)
    too_big = httpx.post(f"{url}/v1/txs", content=b"x" * (300 * 1024),
                         headers={"content-type": "application/json"})
    assert _error(too_big) == (413, "api", 3, "body_too_large")
    assert _error(httpx.get(f"{url}/v1/txs/{'ab' * 32}")) == (404, "api", 2, "not_found")
    assert _error(httpx.get(f"{url}/v1/txs/xyz"))[:3] == (422, "api", 1)
    assert _error(httpx.get(f"{url}/v1/query/identity/nope"))[:3] == (404, "query", 1)
    assert _error(httpx.get(f"{url}/v1/query/identity/did"))[:3] == (400, "query", 2)
    assert _error(httpx.get(f"{url}/v1/query/identity/did",
                            params={"did": AUTHORITY.did, "height": 10**9}))[:3] == \
        (404, "query", 3)
    assert _error(httpx.get(f"{url}/v1/nowhere"))[:3] == (404, "api", 2)
    assert _error(httpx.get(f"{url}/v1/blocks/1/")) == (404, "api", 2, "not_found")  # no 307
    assert _error(httpx.delete(f"{url}/v1/txs"))[:3] == (405, "api", 4)
    with pytest.raises(ApiError) as exc:  # the SDK surfaces the same body
        client.submit(bad_sig)
    assert (exc.value.codespace, exc.value.code, exc.value.name) == ("tx", 5, "bad_signature")


def test_integer_parameters_are_bounded_to_64_bits(url: str, people: dict[str, Any]) -> None:
    """Issue 13, defect 4: a height of 2^63 reached SQLite and overflowed (a 500)."""
    too_big, largest = 1 << 63, (1 << 63) - 1
    for route in ("headers", "blocks"):
        assert _error(httpx.get(f"{url}/v1/{route}/{too_big}"))[:3] == (422, "api", 1)
        assert _error(httpx.get(f"{url}/v1/{route}/{10**30}"))[:3] == (422, "api", 1)
        assert _error(httpx.get(f"{url}/v1/{route}/{largest}")) == (404, "api", 2, "not_found")
    did = {"did": AUTHORITY.did}
    assert _error(httpx.get(f"{url}/v1/query/identity/did",
                            params={**did, "height": too_big}))[:3] == (422, "api", 1)
    assert _error(httpx.post(f"{url}/v1/query", json={
        "path": "identity/did", "data": did, "height": too_big}))[:3] == (422, "api", 1)
    for data in ({"index": str(too_big)}, {"index": too_big}):  # query data, GET and POST
        assert _error(httpx.get(f"{url}/v1/query/audit/entry",
                                params={"patient": PATIENT.did, **data}))[:3] == \
            (400, "query", 2)
        assert _error(httpx.post(f"{url}/v1/query", json={
            "path": "audit/entry", "data": {"patient": PATIENT.did, **data}}))[:3] == \
            (400, "query", 2)


def test_a_malformed_object_id_is_a_bad_query_not_null(url: str) -> None:
    """Issue 13, defect 10: ``records/get?record=xyz`` answered 200 ``null``."""
    for path, name in (("records/get", "record"), ("consent/get", "consent"),
                       ("claims/claim", "claim"), ("settlement/bill", "bill"),
                       ("exchange/get", "request")):
        got = httpx.get(f"{url}/v1/query/{path}", params={name: "xyz"})
        assert _error(got)[:3] == (400, "query", 2), path
        absent = httpx.get(f"{url}/v1/query/{path}", params={name: "ab" * 16})
        assert absent.status_code == 200 and absent.json()["value"] is None
    assert _error(httpx.get(f"{url}/v1/fhir/Consent/xyz"))[:3] == (400, "query", 2)
    assert _error(httpx.get(f"{url}/v1/fhir/Claim/xyz"))[:3] == (400, "query", 2)
    assert _error(httpx.get(f"{url}/v1/fhir/Consent/{'ab' * 16}"))[:3] == (404, "query", 4)


def test_bodies_never_reach_the_logs(url: str, client: NodeClient, people: dict[str, Any],
                                     caplog: pytest.LogCaptureFixture) -> None:
    marker = "Marker Clinic 4f1c"
    with caplog.at_level(logging.DEBUG):
        client.send(AUTHORITY, [_admit_org(_wallet(52, "marker"), "clinic", marker)])
        httpx.post(f"{url}/v1/txs", json={"tx": marker.encode().hex(), "wait": 7})
    assert marker not in caplog.text and marker.encode().hex() not in caplog.text


def test_metrics(url: str, people: dict[str, Any]) -> None:
    text = httpx.get(f"{url}/metrics").text
    values = {line.split()[0]: float(line.split()[1]) for line in text.splitlines()
              if line and not line.startswith("#")}
    assert values["phrchain_height"] >= 1
    assert values["phrchain_txs_submitted_total"] >= 3
    assert "phrchain_mempool_txs" in values and "phrchain_txs_rejected_total" in values
    assert "# TYPE phrchain_txs_submitted_total counter" in text


# -- events ---------------------------------------------------------------------------------
def _events(url: str, params: dict[str, str], timeout: float = 5.0) -> Iterator[str]:
    with httpx.stream("GET", f"{url}/v1/events", params=params,
                      timeout=httpx.Timeout(timeout)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        yield from response.iter_lines()


def _subscribers(url: str) -> float:
    for line in httpx.get(f"{url}/metrics").text.splitlines():
        if line.startswith("phrchain_event_subscribers "):
            return float(line.split()[1])
    raise AssertionError("no subscriber gauge")


def test_event_stream_delivers_tx_events(url: str, client: NodeClient,
                                         people: dict[str, Any]) -> None:
    patient = _wallet(6, "streamed patient")
    deadline = time.monotonic() + 10
    found: dict[str, Any] | None = None
    sent = ""
    lines = _events(url, {"kind": "tx", "event": "identity.registered"})
    for line in lines:
        assert time.monotonic() < deadline
        if line == ": subscribed":  # the server has subscribed: now make something happen
            client.send(ORG, [builder.set_roles(DOCTOR.did, ["clerk"])], wait="check")
            sent = client.send(patient, [builder.register_patient(patient.enc_key)],
                               wait="check")["hash"]
        elif line.startswith("data: "):
            item = json.loads(line[len("data: "):])
            assert item["kind"] == "tx"  # the set_roles tx and blocks were filtered out
            assert any(e["type"] == "identity.registered" for e in item["events"])
            if item["hash"] == sent:
                found = item
                break
    lines.close()  # disconnect
    assert found is not None and found["code"] == 0 and found["height"] >= 1
    deadline = time.monotonic() + 5
    while _subscribers(url) != 0:  # the server noticed and unsubscribed
        assert time.monotonic() < deadline
        time.sleep(0.05)


def test_event_stream_heartbeat_and_blocks(node: SoloNode, client: NodeClient,
                                           people: dict[str, Any]) -> None:
    with BackgroundServer(create_app(node, heartbeat_s=0.1)) as fast_url:
        seen: set[str] = set()
        deadline = time.monotonic() + 10
        lines = _events(fast_url, {"kind": "block"})
        for line in lines:
            assert time.monotonic() < deadline
            if line == ": subscribed":
                client.send(ORG, [builder.set_roles(DOCTOR.did, ["auditor"])], wait="check")
            elif line == ": heartbeat":
                seen.add("heartbeat")
            elif line.startswith("event: "):
                seen.add(line)
            if seen >= {"heartbeat", "event: block"}:
                break
        lines.close()
        assert "event: tx" not in seen
