"""The ``phrchain`` command line: ``init`` and ``start`` as real subprocesses, the identity
commands in-process against a node whose API listens on a loopback socket."""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.app import Application, BlockInfo, new_application
from phrchain.cli.main import main
from phrchain.client import builder
from phrchain.client.http import NodeClient
from phrchain.client.wallet import Wallet, read_public
from phrchain.core import keys
from phrchain.core.block import Header, SignedHeader, sign_header
from phrchain.core.store import MemoryStateStore
from phrchain.engine.solo.home import NodeConfig
from phrchain.engine.solo.node import SoloNode

PASSPHRASE = "cli test passphrase"
ENV = {k: v for k, v in os.environ.items() if k != "PHRCHAIN_PASSPHRASE"}


def _run(*argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phrchain", *argv], capture_output=True,
                          text=True, timeout=timeout, env=ENV, check=False)


class Cli:
    """Runs ``main(argv)`` in-process and captures what it prints."""

    def __init__(self, capsys: pytest.CaptureFixture[str], url: str, pw: Path) -> None:
        self.capsys, self.url, self.pw = capsys, url, pw

    def __call__(self, *argv: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        code = main(list(argv))
        out, err = self.capsys.readouterr()
        return code, out, err

    def tx(self, command: str, wallet: Path, *argv: str) -> tuple[int, str, str]:
        return self("identity", command, "--node", self.url, "--wallet", str(wallet),
                    "--passphrase-file", str(self.pw), *argv)


@pytest.fixture(scope="module")
def pw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("secrets") / "passphrase.txt"
    path.write_text(PASSPHRASE + "\n")
    return path


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory, pw: Path) -> Path:
    home = tmp_path_factory.mktemp("cli") / "home"
    done = _run("init", "--home", str(home), "--chain-id", "phr-cli",
                "--passphrase-file", str(pw))
    assert done.returncode == 0, done.stderr
    assert "initialised chain 'phr-cli'" in done.stdout
    seed = json.loads((home / "config" / "validator_key.json").read_text())["seed"]
    assert seed not in done.stdout and PASSPHRASE not in done.stdout + done.stderr
    return home


@pytest.fixture(scope="module")
def url(home: Path) -> Iterator[str]:
    node = SoloNode(home, NodeConfig(block_interval_ms=20))
    node.start()
    try:
        with BackgroundServer(create_app(node, commit_timeout=10)) as base:
            yield base
    finally:
        node.close()


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], url: str, pw: Path) -> Cli:
    return Cli(capsys, url, pw)


@pytest.fixture(scope="module")
def wallets(tmp_path_factory: pytest.TempPathFactory, pw: Path) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("wallets")
    out = {}
    for name in ("org", "doctor", "patient"):
        out[name] = folder / f"{name}.json"
        assert main(["wallet", "new", "--out", str(out[name]), "--label", name,
                     "--passphrase-file", str(pw)]) == 0
    return out


def test_init_writes_genesis_and_an_encrypted_authority_wallet(home: Path) -> None:
    genesis = json.loads((home / "config" / "genesis.json").read_text())
    wallet_path = home / "wallets" / "authority.json"
    assert stat.S_IMODE(wallet_path.stat().st_mode) == 0o600
    info = read_public(wallet_path)
    assert genesis["chain_id"] == "phr-cli" and genesis["genesis_time_ms"] > 0
    assert genesis["app_state"]["identity"]["authorities"] == [
        {"did": info.did, "enc_key": info.enc_key.hex(), "name": "Genesis authority"}]
    assert Wallet.load(wallet_path, PASSPHRASE).did == info.did
    again = _run("init", "--home", str(home), "--passphrase-file", "/nonexistent")
    assert again.returncode == 2 and again.stderr.startswith("error: ")
    assert "already holds a chain" in again.stderr and "Traceback" not in again.stderr


def test_wallet_show_needs_no_passphrase(cli: Cli, wallets: dict[str, Path]) -> None:
    code, out, _ = cli("wallet", "show", str(wallets["doctor"]))
    info = read_public(wallets["doctor"])
    assert code == 0 and info.did in out and info.enc_key.hex() in out and "doctor" in out


def test_identity_commands_for_every_role(cli: Cli, home: Path,
                                          wallets: dict[str, Path]) -> None:
    authority = home / "wallets" / "authority.json"
    org, doctor, patient = (read_public(wallets[n]) for n in ("org", "doctor", "patient"))
    code, out, err = cli.tx("admit-org", authority, "--wallet-for", str(wallets["org"]),
                            "--org-type", "hospital", "--name", "General Hospital")
    assert code == 0, err
    assert out.startswith("committed in block ")
    # the doctor asks to join, with the doctor's own wallet; the organization admits
    request = wallets["doctor"].with_name("doctor-join.json")
    code, out, err = cli("wallet", "join-request", "--wallet", str(wallets["doctor"]),
                         "--admitter", org.did, "--node", cli.url, "--out", str(request),
                         "--passphrase-file", str(cli.pw))
    assert code == 0, err
    assert f"join request written to {request}" in out
    assert set(json.loads(request.read_text())) == {"admitted_by", "chain_id", "did",
                                                    "enc_key", "pop"}
    code, out, err = cli.tx("admit-practitioner", wallets["org"], "--request", str(request),
                            "--roles", "physician,nurse")
    assert code == 0, err
    code, out, err = cli.tx("register-patient", wallets["patient"])
    assert code == 0, err
    code, out, err = cli.tx("set-roles", wallets["org"], "--wallet-for",
                            str(wallets["doctor"]), "--roles", "emergency,clerk")
    assert code == 0, err

    validator = json.loads((home / "config" / "genesis.json").read_text())["validator"]
    code, out, err = cli("identity", "show", doctor.did, "--node", cli.url,
                         "--validator", validator)
    assert code == 0, err
    shown = json.loads(out)
    assert shown["identity"]["roles"] == ["clerk", "emergency"]
    assert shown["identity"]["organization"] == org.did
    assert validator in shown["proof"]["verified_against"]

    code, out, _ = cli("identity", "list", "--node", cli.url, "--role", "clerk")
    assert code == 0 and json.loads(out) == {"role": "clerk", "dids": [doctor.did],
                                             "next": None}
    code, out, _ = cli("identity", "list", "--node", cli.url, "--organization", org.did)
    assert json.loads(out)["members"] == [doctor.did]
    code, out, _ = cli("identity", "list", "--node", cli.url, "--kind", "patient")
    assert json.loads(out)["dids"] == [patient.did]

    code, out, err = cli.tx("revoke", wallets["org"], "--wallet-for", str(wallets["doctor"]),
                            "--reason", "affiliation_changed")
    assert code == 0, err
    code, out, _ = cli("identity", "show", doctor.did, "--node", cli.url)
    assert json.loads(out)["identity"]["status"] == "revoked"


def test_rotate_key_writes_a_new_wallet(cli: Cli, wallets: dict[str, Path]) -> None:
    old = wallets["patient"]
    listed = json.loads(cli("identity", "list", "--node", cli.url, "--kind", "patient")[1])
    if read_public(old).did not in listed["dids"]:  # when this test runs on its own
        assert cli.tx("register-patient", old)[0] == 0
    code, out, err = cli.tx("rotate-key", old)
    assert code == 0, err
    new = old.with_name("patient.rotated-1.json")
    assert f"now signs with the key in {new}" in out and new.exists()
    assert stat.S_IMODE(new.stat().st_mode) == 0o600
    assert read_public(new).did == read_public(old).did
    assert read_public(new).signing_key != read_public(old).signing_key
    code, _, err = cli.tx("revoke", old, "--did", read_public(old).did,
                          "--reason", "superseded")
    assert code == 2 and "[tx/5 bad_signature]" in err  # the old key no longer signs
    code, _, err = cli.tx("revoke", new, "--did", read_public(old).did,
                          "--reason", "superseded")
    assert code == 0, err


def test_user_errors_are_one_line(cli: Cli, home: Path, wallets: dict[str, Path],
                                  tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not the passphrase\n")
    authority = str(home / "wallets" / "authority.json")
    node = ("--node", cli.url)

    def err(*argv: str) -> str:
        code, _, stderr = cli(*argv)
        assert code == 2 and stderr.startswith("error: ") and stderr.count("\n") == 1, stderr
        return stderr

    assert err("identity", "register-patient", *node, "--wallet", str(wallets["org"]),
               "--passphrase-file", str(wrong)) == \
        "error: wrong passphrase or corrupted wallet\n"
    monkeypatch.setenv("PHRCHAIN_PASSPHRASE", PASSPHRASE)  # the env var is the fallback
    assert "no wallet file at" in err(
        "identity", "admit-org", *node, "--wallet", str(wallets["doctor"]),
        "--wallet-for", str(tmp_path / "none.json"), "--org-type", "clinic", "--name", "X")
    assert "give --request REQ.json" in err(
        "identity", "admit-org", *node, "--wallet", str(wallets["patient"]),
        "--org-type", "clinic", "--name", "X")
    assert "[identity/4 invalid_key]" in err(
        "wallet", "join-request", "--wallet", str(wallets["doctor"]), "--admitter",
        "did:key:zBad", "--chain-id", "phr-cli", "--out", str(tmp_path / "r.json"))
    # a join request made for another admitter, or another chain, is refused before sending
    for chain_id, admitter in (("phr-cli", read_public(wallets["org"]).did),
                               ("phr-other", read_public(authority).did)):
        request = tmp_path / f"{chain_id}-{admitter[-6:]}.json"
        assert cli("wallet", "join-request", "--wallet", str(wallets["patient"]),
                   "--admitter", admitter, "--chain-id", chain_id, "--out", str(request))[0] == 0
        assert "[identity/9 bad_admission_proof]" in err(
            "identity", "admit-org", *node, "--wallet", authority, "--request", str(request),
            "--org-type", "clinic", "--name", "X")
    assert "already exists" in err(
        "wallet", "join-request", "--wallet", str(wallets["patient"]), "--admitter",
        read_public(authority).did, "--chain-id", "phr-cli", "--out", str(request))
    assert "[identity/1 unauthorized]" in err(  # refused by the chain, with its code
        "identity", "admit-org", *node, "--wallet", str(wallets["org"]),
        "--wallet-for", str(wallets["patient"]),
        "--org-type", "clinic", "--name", "X")
    assert "[client/1 unreachable]" in err(
        "identity", "show", read_public(wallets["org"]).did, "--node", "http://127.0.0.1:9")


def test_verify_wiring(cli: Cli, home: Path, tmp_path: Path, url: str) -> None:
    code, out, err = cli("verify", "--home", str(home))
    assert code == 0 and out.startswith("chain ok: ") and "verified" in err
    # A copy whose first block's tx bytes were altered: exit 1, naming the height.
    copy = tmp_path / "copy"
    (copy / "config").mkdir(parents=True)
    (copy / "data").mkdir()
    for name in ("genesis.json", "node.json"):
        (copy / "config" / name).write_bytes((home / "config" / name).read_bytes())
    src = sqlite3.connect(home / "data" / "blocks.db")
    dst = sqlite3.connect(copy / "data" / "blocks.db")
    src.backup(dst)
    src.close()
    dst.execute("UPDATE txs SET raw = X'00' WHERE height = 1")
    dst.commit()
    dst.close()
    code, out, err = cli("verify", "--home", str(copy))
    assert code == 1 and "first bad block at height 1" in err


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_start_serves_and_stops_on_signal(tmp_path: Path, pw: Path, signum: int) -> None:
    home = tmp_path / "node"
    assert main(["init", "--home", str(home), "--passphrase-file", str(pw)]) == 0
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "phrchain", "start", "--home", str(home),
                             "--port", str(port)], env=ENV, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        status: dict[str, Any] = {}
        while not status:
            assert proc.poll() is None and time.monotonic() < deadline
            try:
                status = httpx.get(f"http://127.0.0.1:{port}/v1/status", timeout=1).json()
            except httpx.TransportError:
                time.sleep(0.05)
        assert status["height"] == 0 and status["healthy"]
        proc.send_signal(signum)
        assert proc.wait(timeout=20) == 0  # graceful: the node was closed, not killed
    finally:
        if proc.poll() is None:
            proc.kill()
        _, err = proc.communicate(timeout=5)
    assert "Traceback" not in err and "Finished server process" in err


def test_wallet_for_makes_the_join_request_with_that_wallets_passphrase(
        cli: Cli, home: Path, tmp_path: Path) -> None:
    other_pw = tmp_path / "other.txt"
    other_pw.write_text("another passphrase\n")
    clinic = tmp_path / "clinic.json"
    assert main(["wallet", "new", "--out", str(clinic), "--passphrase-file",
                 str(other_pw)]) == 0
    authority = home / "wallets" / "authority.json"
    args = ("--wallet-for", str(clinic), "--org-type", "clinic", "--name", "Clinic")
    code, _, err = cli.tx("admit-org", authority, *args)  # the signer's passphrase: wrong
    assert code == 2 and "wrong passphrase" in err
    code, _, err = cli.tx("admit-org", authority, *args, "--for-passphrase-file",
                          str(other_pw))
    assert code == 0, err
    code, out, _ = cli("identity", "list", "--node", cli.url, "--kind", "organization/clinic")
    assert read_public(clinic).did in json.loads(out)["dids"]


def test_list_pages(cli: Cli, tmp_path: Path) -> None:
    code, out, _ = cli("identity", "list", "--node", cli.url, "--kind", "organization",
                       "--limit", "1000")
    everyone = json.loads(out)["dids"]
    assert code == 0 and len(everyone) >= 2, everyone
    code, out, _ = cli("identity", "list", "--node", cli.url, "--kind", "organization",
                       "--limit", "1")
    first = json.loads(out)
    assert first["dids"] == everyone[:1] and first["next"] == everyone[0]
    code, out, _ = cli("identity", "list", "--node", cli.url, "--kind", "organization",
                       "--after", first["next"])
    assert json.loads(out) == {"kind": "organization", "dids": everyone[1:], "next": None}
    code, _, err = cli("identity", "list", "--node", cli.url, "--kind", "patient",
                       "--limit", "0")
    assert code == 2 and "[query/2 bad_query]" in err


def test_show_pins_validator_and_chain_from_the_genesis_file(cli: Cli, home: Path) -> None:
    authority = read_public(home / "wallets" / "authority.json").did
    genesis = home / "config" / "genesis.json"
    validator = json.loads(genesis.read_text())["validator"]
    code, out, err = cli("identity", "show", authority, "--node", cli.url, "--genesis",
                         str(genesis), "--min-height", "1")
    assert code == 0, err
    shown = json.loads(out)
    assert shown["identity"]["kind"] == "authority" and shown["proof"]["verified"] is True
    assert validator in shown["proof"]["verified_against"]
    assert "as reported by the node" not in shown["proof"]["verified_against"]
    code, _, err = cli("identity", "show", authority, "--node", cli.url, "--chain-id",
                       "phr-other", "--validator", validator)
    assert code == 2 and "header is for chain 'phr-cli'" in err


# -- a malicious node: everything it says is checked, height 0 is never "verified" -------
MOCK_CHAIN = "phr-mock"
MOCK_VALIDATOR = keys.SigningKey(bytes([70]) * 32)
MOCK_AUTHORITY = Wallet.from_secrets(bytes([71]) * 32, bytes([72]) * 32)
MOCK_PATIENT = Wallet.from_secrets(bytes([73]) * 32, bytes([74]) * 32)


def _mock_genesis(chain_id: str = MOCK_CHAIN, *extra: Wallet) -> dict[str, Any]:
    return {"chain_id": chain_id, "genesis_time_ms": 0, "validator": MOCK_VALIDATOR.did,
            "app_state": {"version": 2, "identity": {"authorities": [
                {"did": w.did, "enc_key": w.enc_key.hex(), "name": "Mock consortium"}
                for w in (MOCK_AUTHORITY, *extra)]}}}


@dataclass
class MockChain:
    """A real application and real validator signatures, served by a lying node."""

    app: Application
    headers: dict[int, SignedHeader]

    @classmethod
    def build(cls) -> MockChain:
        app = new_application(MemoryStateStore())
        app.init_chain(_mock_genesis())
        headers: dict[int, SignedHeader] = {}
        for height, msg in ((1, builder.register_patient(MOCK_PATIENT.enc_key)),
                            (2, builder.revoke(MOCK_PATIENT.did, "key_compromise"))):
            raw = builder.sign(MOCK_PATIENT, MOCK_CHAIN, height, [msg])
            result = app.finalize_block(BlockInfo(height, height * 1000), [raw])
            assert result.tx_results[0].ok, result.tx_results[0].log
            app.commit()
            headers[height] = cls.header(height, result.app_hash)
        return cls(app, headers)

    @staticmethod
    def header(height: int, app_hash: bytes, chain_id: str = MOCK_CHAIN) -> SignedHeader:
        return sign_header(MOCK_VALIDATOR, Header(
            chain_id=chain_id, height=height, time_ms=height * 1000, prev_hash=bytes(32),
            num_txs=1, tx_root=bytes(32), results_root=bytes(32), app_hash=app_hash,
            proposer=MOCK_VALIDATOR.did))

    def answer(self, did: str, height: int) -> dict[str, Any]:
        return self.app.query("identity/did", {"did": did}, height, prove=True)

    def serve(self, monkeypatch: pytest.MonkeyPatch, answer: dict[str, Any],
              header: SignedHeader | None = None) -> None:
        """Every identity request gets ``answer``; headers are the real ones unless
        ``header`` replaces the one of the answer's height."""
        def handle(request: httpx.Request) -> httpx.Response:
            path = request.url.path
            if path == "/v1/status":
                return httpx.Response(200, json={"chain_id": MOCK_CHAIN, "height": 2,
                                                 "validator": MOCK_VALIDATOR.did})
            if path.startswith("/v1/identities/"):
                return httpx.Response(200, json=answer)
            if path.startswith("/v1/headers/"):
                height = int(path.rsplit("/", 1)[1])
                signed = header if header is not None else self.headers[height]
                return httpx.Response(200, json=signed.to_json())
            return httpx.Response(404, json={"error": {"codespace": "api", "code": 2,
                                                       "name": "not_found", "message": ""}})

        monkeypatch.setattr("phrchain.cli.identity.node_client", lambda args: NodeClient(
            "http://mock", transport=httpx.MockTransport(handle)))


@pytest.fixture(scope="module")
def mock_chain() -> MockChain:
    return MockChain.build()


@pytest.fixture
def genesis_file(tmp_path: Path) -> Path:
    path = tmp_path / "genesis.json"
    path.write_text(json.dumps(_mock_genesis()))
    return path


def _show(cli: Cli, did: str, *argv: str) -> tuple[int, str, str]:
    return cli("identity", "show", did, "--node", "http://mock", *argv)


def test_show_against_an_honest_mock_node(cli: Cli, mock_chain: MockChain,
                                          monkeypatch: pytest.MonkeyPatch,
                                          genesis_file: Path) -> None:
    mock_chain.serve(monkeypatch, mock_chain.answer(MOCK_PATIENT.did, 2))
    code, out, err = _show(cli, MOCK_PATIENT.did, "--genesis", str(genesis_file),
                           "--min-height", "2")
    assert code == 0, err
    assert json.loads(out)["identity"]["status"] == "revoked"
    mock_chain.serve(monkeypatch, mock_chain.answer(MOCK_AUTHORITY.did, 0))
    code, out, err = _show(cli, MOCK_AUTHORITY.did, "--genesis", str(genesis_file))
    assert code == 0, err
    shown = json.loads(out)
    assert shown["proof"] == {"height": 0, "app_hash": shown["proof"]["app_hash"],
                              "verified": True, "verified_against":
                              f"genesis app hash recomputed from {genesis_file}"}


def test_show_never_calls_a_height_zero_answer_verified_without_genesis(
        cli: Cli, monkeypatch: pytest.MonkeyPatch, genesis_file: Path) -> None:
    # The node invents a chain whose genesis made the patient an authority: its proof is
    # self-consistent against the app hash the node itself reports.
    forged = new_application(MemoryStateStore())
    forged.init_chain(_mock_genesis(MOCK_CHAIN, MOCK_PATIENT))
    answer = forged.query("identity/did", {"did": MOCK_PATIENT.did}, 0, prove=True)
    MockChain(forged, {}).serve(monkeypatch, answer)
    code, out, err = _show(cli, MOCK_PATIENT.did)
    assert code == 3, err
    assert "UNVERIFIED" in err and "--genesis" in err
    shown = json.loads(out)
    assert shown["proof"]["verified"] is False and shown["proof"]["verified_against"] is None
    code, out, err = _show(cli, MOCK_PATIENT.did, "--genesis", str(genesis_file))
    assert code == 2 and "app hash is not the expected one" in err and out == ""
    code, _, err = _show(cli, MOCK_PATIENT.did, "--min-height", "1")
    assert code == 2 and "older than --min-height" in err


@pytest.mark.parametrize("attack", ["another key", "another chain", "stale", "wrong type",
                                    "another path"])
def test_show_refuses_a_lying_node(cli: Cli, mock_chain: MockChain, attack: str,
                                   monkeypatch: pytest.MonkeyPatch,
                                   genesis_file: Path) -> None:
    header: SignedHeader | None = None
    argv: tuple[str, ...] = ("--genesis", str(genesis_file))
    answer = mock_chain.answer(MOCK_PATIENT.did, 1)
    if attack == "another key":  # a valid proof, for the authority's record
        answer = mock_chain.answer(MOCK_AUTHORITY.did, 1)
        expected = "another key"
    elif attack == "another chain":  # the same validator key signed another chain's header
        header = MockChain.header(1, bytes.fromhex(answer["app_hash"]), "phr-evil")
        expected = "header is for chain 'phr-evil'"
    elif attack == "stale":  # height 1: before the revocation at height 2
        argv += ("--min-height", "2")
        expected = "older than the required height 2"
    elif attack == "wrong type":  # since: True where the proven bytes say 1
        assert answer["value"]["since"] == 1
        answer = {**answer, "value": {**answer["value"], "since": True}}
        expected = "differs from its proven raw value"
    else:
        answer = {**answer, "path": "store", "value": answer["raw_value"]}
        expected = "another query"
    mock_chain.serve(monkeypatch, answer, header)
    code, out, err = _show(cli, MOCK_PATIENT.did, *argv)
    assert code == 2 and expected in err and out == "", err
