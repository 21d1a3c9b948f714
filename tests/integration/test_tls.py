"""Transport security: the node API and a vault over HTTPS on 127.0.0.1 with a CA made by
``phrchain tls init``; a wrong CA refused; a vault requiring client certificates (mutual
TLS) refuses a client without one and serves one with it; plain HTTP refused on an
address other than loopback, before anything binds."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from phrchain.api.server import BackgroundServer, create_app
from phrchain.cli.main import main
from phrchain.client.http import ApiError, NodeClient
from phrchain.client.phr import Phr
from phrchain.client.vault import VaultClient
from phrchain.gateway.http import create_vault_app
from phrchain.tls import (
    CA_ENV,
    CLIENT_CERT_ENV,
    CLIENT_KEY_ENV,
    ClientTLS,
    PlainHttpRefused,
    ServerTLS,
    TlsError,
    check_plain_http,
    issue_network,
)
from tests.consortium import HOSPITAL_A, HOSPITAL_B, Consortium, P, running

ROOT = Path(__file__).resolve().parents[2]
ENV = {k: v for k, v in os.environ.items()
       if k not in ("PHRCHAIN_PASSPHRASE", CA_ENV, CLIENT_CERT_ENV, CLIENT_KEY_ENV)}


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A consortium CA with certificates for the node, two vaults and a client; and a
    second, unrelated CA (with a certificate of its own) for the wrong-CA cases."""
    out = tmp_path_factory.mktemp("tls")
    code = main(["tls", "init", "--out", str(out / "ca"), "--name", "node",
                 "--name", "hospital-a", "--name", "hospital-b"])
    assert code == 0
    issue_network(out / "other", ["stranger"], ["127.0.0.1"])
    return out


@pytest.fixture(scope="module")
def c(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Consortium]:
    with running(tmp_path_factory.mktemp("consortium")) as consortium:
        yield consortium


def _server_tls(pki: Path, name: str, client_ca: bool = False) -> ServerTLS:
    tls = ServerTLS.from_options(str(pki / "ca" / f"{name}.pem"),
                                 str(pki / "ca" / f"{name}-key.pem"),
                                 str(pki / "ca" / "ca.pem") if client_ca else None)
    assert tls is not None
    return tls


def _client(pki: Path, name: str | None = None, ca: str = "ca") -> ClientTLS:
    if name is None:
        return ClientTLS(str(pki / ca / "ca.pem"))
    return ClientTLS(str(pki / ca / "ca.pem"), str(pki / ca / f"{name}.pem"),
                     str(pki / ca / f"{name}-key.pem"))


def test_tls_init_writes_private_keys_0600_and_never_overwrites(pki: Path) -> None:
    for name in ("ca-key", "node-key", "hospital-a-key"):
        assert (pki / "ca" / f"{name}.pem").stat().st_mode & 0o777 == 0o600
    before = (pki / "ca" / "node.pem").read_bytes()
    with pytest.raises(TlsError, match="already exists"):
        issue_network(pki / "ca", ["node"], ["127.0.0.1"])
    with pytest.raises(TlsError, match="letters, digits"):
        issue_network(pki / "ca", ["../escape"], ["127.0.0.1"])
    assert (pki / "ca" / "node.pem").read_bytes() == before


def test_node_api_round_trip_over_tls_and_a_wrong_ca_is_refused(c: Consortium,
                                                                 pki: Path) -> None:
    with BackgroundServer(create_app(c.node), tls=_server_tls(pki, "node")) as url:
        assert url.startswith("https://127.0.0.1:")
        with NodeClient(url, tls=_client(pki)) as node:
            assert node.status()["chain_id"] == c.node.status()["chain_id"]
            assert node.query("identity/did", {"did": P.did})["value"]["kind"] == "patient"
        with NodeClient(url, tls=_client(pki, ca="other")) as node, \
                pytest.raises(ApiError) as refused:
            node.status()
        assert refused.value.name == "unreachable" and "CERTIFICATE_VERIFY_FAILED" in str(
            refused.value)
        with NodeClient(url.replace("https://", "http://")) as node, \
                pytest.raises(ApiError):
            node.status()  # plain HTTP to a TLS port gets no answer
        with NodeClient(url, tls=_client(pki)) as node:  # still serving after all that
            assert node.status()["healthy"]


def test_vault_mutual_tls_refuses_a_client_without_a_certificate(
        c: Consortium, pki: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    vault = c.vaults[HOSPITAL_A.did]
    tls = _server_tls(pki, "hospital-a", client_ca=True)
    with BackgroundServer(create_vault_app(vault), tls=tls) as url:
        with VaultClient(url, HOSPITAL_A.did, P, tls=_client(pki)) as client, \
                pytest.raises(ApiError) as refused:
            client.sync()
        assert refused.value.name == "unreachable"
        # a certificate from another CA is refused as well
        with VaultClient(url, HOSPITAL_A.did, P,
                         tls=ClientTLS(str(pki / "ca" / "ca.pem"),
                                       str(pki / "other" / "stranger.pem"),
                                       str(pki / "other" / "stranger-key.pem"))) as client, \
                pytest.raises(ApiError):
            client.sync()
        # with the consortium's client certificate, from the environment, through the SDK
        monkeypatch.setenv(CA_ENV, str(pki / "ca" / "ca.pem"))
        monkeypatch.setenv(CLIENT_CERT_ENV, str(pki / "ca" / "hospital-b.pem"))
        monkeypatch.setenv(CLIENT_KEY_ENV, str(pki / "ca" / "hospital-b-key.pem"))
        directory = {**c.directory, HOSPITAL_A.did: url}
        with NodeClient(c.api_url) as node:
            with Phr(node, HOSPITAL_A, directory) as hospital:
                record = hospital.records.add(b'{"resourceType":"Basic"}', P.did,
                                              resource="Basic", category="other")
            with Phr(node, P, directory) as patient:
                opened = patient.records.open(record)
        assert opened.plaintext == b'{"resourceType":"Basic"}'
        assert HOSPITAL_B.did in directory  # other vaults stay plain HTTP on loopback


def test_cli_reaches_an_https_node_with_ca(c: Consortium, pki: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    with BackgroundServer(create_app(c.node), tls=_server_tls(pki, "node")) as url:
        capsys.readouterr()
        code = main(["identity", "list", "--node", url, "--kind", "patient",
                     "--ca", str(pki / "ca" / "ca.pem")])
        out, err = capsys.readouterr()
        assert code == 0, err
        assert P.did in json.loads(out)["dids"]
        assert CA_ENV not in os.environ  # the option lasted for the command only
        code = main(["identity", "list", "--node", url, "--kind", "patient",
                     "--ca", str(pki / "other" / "ca.pem")])
        out, err = capsys.readouterr()
        assert code == 2 and err.startswith("error: ") and "Traceback" not in err
        assert "CERTIFICATE_VERIFY_FAILED" in err


def test_plain_http_only_on_loopback() -> None:
    for host in ("127.0.0.1", "localhost", "::1", "127.0.0.2"):
        check_plain_http(host, None, insecure_plain_http=False)
    for host in ("0.0.0.0", "::", "10.1.2.3", "node.example"):  # noqa: S104
        with pytest.raises(PlainHttpRefused, match="--tls-cert"):
            check_plain_http(host, None, insecure_plain_http=False)
        check_plain_http(host, None, insecure_plain_http=True)


def _held_port() -> tuple[socket.socket, int]:
    """A port held open on every address: a server that tried to bind it would fail
    with 'address in use', so a refusal about plain HTTP proves the check came first."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("0.0.0.0", 0))  # noqa: S104 - held only, never accepting
    return sock, int(sock.getsockname()[1])


def _phrchain(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "phrchain", *argv], capture_output=True,
                          text=True, timeout=60, env=ENV, check=False, cwd=ROOT)


def test_node_and_vault_refuse_plain_http_off_loopback_before_binding(
        tmp_path: Path) -> None:
    (tmp_path / "pw").write_text("a passphrase\n")
    home = tmp_path / "node"
    assert _phrchain("init", "--home", str(home), "--passphrase-file",
                     str(tmp_path / "pw")).returncode == 0
    sock, port = _held_port()
    with sock:
        start = _phrchain("start", "--home", str(home), "--host", "0.0.0.0",  # noqa: S104
                          "--port", str(port))
        vault = _phrchain("vault", "serve", "--home", str(tmp_path / "vault"), "--wallet",
                          str(tmp_path / "missing.json"), "--host", "0.0.0.0",  # noqa: S104
                          "--port", str(port), "--node", "http://127.0.0.1:9")
    for done in (start, vault):
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: refusing to serve plain HTTP on 0.0.0.0")
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "vault").exists()  # refused before touching anything


@pytest.mark.slow
def test_start_serves_https_with_tls_options(tmp_path: Path, pki: Path) -> None:
    (tmp_path / "pw").write_text("a passphrase\n")
    home = tmp_path / "node"
    assert _phrchain("init", "--home", str(home), "--passphrase-file",
                     str(tmp_path / "pw")).returncode == 0
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = int(probe.getsockname()[1])
    proc = subprocess.Popen(
        [sys.executable, "-m", "phrchain", "start", "--home", str(home), "--port", str(port),
         "--tls-cert", str(pki / "ca" / "node.pem"), "--tls-key",
         str(pki / "ca" / "node-key.pem")], env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE, text=True)
    try:
        verify = ssl.create_default_context(cafile=str(pki / "ca" / "ca.pem"))
        deadline, status = time.monotonic() + 30, None
        while status is None:
            assert proc.poll() is None and time.monotonic() < deadline
            try:
                status = httpx.get(f"https://127.0.0.1:{port}/v1/status", verify=verify,
                                   timeout=2).json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert status["height"] >= 0
        with pytest.raises(httpx.TransportError):
            httpx.get(f"https://127.0.0.1:{port}/v1/status", timeout=2)  # system roots
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0 and "Traceback" not in err
    assert f"API on https://127.0.0.1:{port}" in err


def test_inconsistent_tls_options_are_refused_with_a_sentence(pki: Path, tmp_path: Path) -> None:
    cert = str(pki / "ca" / "node.pem")
    assert ServerTLS.from_options(None, None) is None
    with pytest.raises(TlsError, match="both --tls-cert and --tls-key"):
        ServerTLS.from_options(cert, None)
    with pytest.raises(TlsError, match="needs --tls-cert"):
        ServerTLS.from_options(None, None, str(pki / "ca" / "ca.pem"))
    with pytest.raises(TlsError, match="does not exist"):
        ServerTLS.from_options(cert, str(tmp_path / "missing.pem"))
    with pytest.raises(TlsError, match="cannot use"):  # a key that is not the cert's
        ServerTLS.from_options(cert, str(pki / "ca" / "hospital-a-key.pem"))
    with pytest.raises(TlsError, match="needs both"):
        ClientTLS(str(pki / "ca" / "ca.pem"), cert, None).verify()
    assert ClientTLS().verify() is True  # nothing configured: the system's roots
    env = ClientTLS.from_env({CA_ENV: "a.pem", CLIENT_CERT_ENV: "", CLIENT_KEY_ENV: "k"})
    assert env == ClientTLS("a.pem", None, "k")
