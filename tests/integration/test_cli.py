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
from pathlib import Path
from typing import Any

import httpx
import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.cli.main import main
from phrchain.client.wallet import Wallet, read_public
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
    code, out, err = cli.tx("admit-practitioner", wallets["org"], "--did", doctor.did,
                            "--enc-key", doctor.enc_key.hex(), "--roles", "physician,nurse")
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
    assert code == 0 and json.loads(out)["dids"] == [doctor.did]
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
    assert "--did and --enc-key, or --wallet-for" in err(
        "identity", "admit-org", *node, "--wallet", str(wallets["patient"]),
        "--org-type", "clinic", "--name", "X")
    assert "[identity/4 invalid_key]" in err(
        "identity", "admit-org", *node, "--wallet", authority, "--did", "did:key:zBad",
        "--enc-key", "00", "--org-type", "clinic", "--name", "X")
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
