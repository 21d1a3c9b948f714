"""Transport security: the TLS settings of a server (node API, vault) and of a client (the
SDK, the CLI), the loopback rule for plain HTTP, and a small certificate authority.

Plain HTTP is for loopback only: a server asked to listen elsewhere without a certificate
refuses (:func:`check_plain_http`) before it binds, unless the operator says
``--insecure-plain-http``. A vault may also require *client* certificates issued by the
consortium's CA (mutual TLS between institutions' vaults and their clients).

Clients verify the server against a CA file (``--ca`` or ``PHRCHAIN_CA``) and present a
client certificate when one is configured (``PHRCHAIN_CLIENT_CERT``/``PHRCHAIN_CLIENT_KEY``).
:func:`issue_network` makes a CA and one certificate per institution (``phrchain tls
init``, docs/tls.md), with ``cryptography``, already a runtime dependency.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

from phrchain.core.errors import PhrError

__all__ = ["CA_ENV", "CLIENT_CERT_ENV", "CLIENT_KEY_ENV", "LOOPBACK", "ClientTLS",
           "PlainHttpRefused", "ServerTLS", "TlsError", "check_plain_http", "issue_cert",
           "issue_network", "make_ca"]

CA_ENV: Final = "PHRCHAIN_CA"
CLIENT_CERT_ENV: Final = "PHRCHAIN_CLIENT_CERT"
CLIENT_KEY_ENV: Final = "PHRCHAIN_CLIENT_KEY"
LOOPBACK: Final = ("127.0.0.1", "localhost", "::1")
CERT_DAYS: Final = 825  # the longest validity browsers accept for a server certificate
CA_DAYS: Final = 3650


class TlsError(PhrError):
    """A certificate, key or CA file that cannot be used, or an inconsistent TLS option."""


class PlainHttpRefused(TlsError):
    """Plain HTTP was asked for on an address other than loopback."""


def is_loopback(host: str) -> bool:
    if host in LOOPBACK:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_plain_http(host: str, tls: ServerTLS | None, insecure_plain_http: bool) -> None:
    """Refuse to serve plain HTTP on ``host`` unless it is loopback or the operator said
    so explicitly: anyone on the path could read health-record traffic otherwise."""
    if tls is None and not insecure_plain_http and not is_loopback(host):
        raise PlainHttpRefused(
            f"refusing to serve plain HTTP on {host}: give --tls-cert and --tls-key "
            "(docs/tls.md), or --insecure-plain-http if something else encrypts the traffic")


def _readable(path: str | os.PathLike[str], what: str) -> str:
    p = Path(path)
    if not p.is_file():
        raise TlsError(f"{what} {p} does not exist or is not a file")
    return str(p)


@dataclass(frozen=True)
class ServerTLS:
    """What a server needs: its certificate chain and key, and, for mutual TLS, the CA
    whose certificates it requires of every client."""

    cert: str
    key: str
    client_ca: str | None = None

    @classmethod
    def from_options(cls, cert: str | None, key: str | None,
                     client_ca: str | None = None) -> ServerTLS | None:
        if cert is None and key is None:
            if client_ca is not None:
                raise TlsError("--tls-client-ca needs --tls-cert and --tls-key")
            return None
        if cert is None or key is None:
            raise TlsError("give both --tls-cert and --tls-key")
        tls = cls(_readable(cert, "certificate"), _readable(key, "key"),
                  None if client_ca is None else _readable(client_ca, "client CA"))
        tls.context()  # a wrong file fails here, with a sentence, not inside uvicorn
        return tls

    def context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.load_cert_chain(self.cert, self.key)
            if self.client_ca is not None:
                ctx.load_verify_locations(self.client_ca)
                ctx.verify_mode = ssl.CERT_REQUIRED
        except (ssl.SSLError, ValueError) as exc:
            raise TlsError(f"cannot use {self.cert} / {self.key}: {exc}") from None
        return ctx

    def uvicorn_options(self) -> dict[str, Any]:
        """The ``uvicorn.Config`` keywords: the whole context comes from :meth:`context`."""
        return {"ssl_certfile": self.cert, "ssl_keyfile": self.key,
                "ssl_context_factory": lambda config, default: self.context()}


@dataclass(frozen=True)
class ClientTLS:
    """What a client needs: the CA that signs the servers' certificates (None: the
    system's roots) and, for mutual TLS, its own certificate and key."""

    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ClientTLS:
        env = os.environ if environ is None else environ
        return cls(env.get(CA_ENV) or None, env.get(CLIENT_CERT_ENV) or None,
                   env.get(CLIENT_KEY_ENV) or None)

    def verify(self) -> ssl.SSLContext | bool:
        """The ``verify=`` of an ``httpx.Client``: True (system roots) when nothing is
        configured, else a context trusting ``ca`` and presenting ``cert``."""
        if self.ca is None and self.cert is None:
            return True
        if (self.cert is None) != (self.key is None):
            raise TlsError(f"a client certificate needs both {CLIENT_CERT_ENV} and "
                           f"{CLIENT_KEY_ENV} (or --client-cert and --client-key)")
        try:
            ctx = ssl.create_default_context(
                cafile=None if self.ca is None else _readable(self.ca, "CA file"))
            if self.cert is not None and self.key is not None:
                ctx.load_cert_chain(_readable(self.cert, "client certificate"),
                                    _readable(self.key, "client key"))
        except (ssl.SSLError, ValueError) as exc:
            raise TlsError(f"cannot use the TLS files {self}: {exc}") from None
        return ctx


# -- a small certificate authority -----------------------------------------------------------
def _now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


def _name(common_name: str) -> Any:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "phrchain consortium"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def make_ca(common_name: str = "phrchain consortium CA",
            days: int = CA_DAYS) -> tuple[bytes, bytes]:
    """A new self-signed CA: ``(certificate PEM, private key PEM)`` (ECDSA P-256)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec

    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    cert = (x509.CertificateBuilder().subject_name(_name(common_name))
            .issuer_name(_name(common_name)).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=days))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True,
                                         crl_sign=True, content_commitment=False,
                                         key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False,
                                         decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                           critical=False)
            .sign(key, hashes.SHA256()))
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def issue_cert(ca_cert_pem: bytes, ca_key_pem: bytes, common_name: str,
               hosts: Sequence[str], days: int = CERT_DAYS) -> tuple[bytes, bytes]:
    """A certificate for one institution's server *and* client use (serverAuth and
    clientAuth: the same key serves its vault and opens mutual-TLS connections to other
    vaults), valid for ``hosts`` (DNS names or IP addresses)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID

    ca_cert = x509.load_pem_x509_certificate(ca_cert_pem)
    ca_key = serialization.load_pem_private_key(ca_key_pem, password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise TlsError("the CA key is not the ECDSA key `phrchain tls init` makes")
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    key = ec.generate_private_key(ec.SECP256R1())
    now = _now()
    builder = (x509.CertificateBuilder().subject_name(_name(common_name))
               .issuer_name(ca_cert.subject).public_key(key.public_key())
               .serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5))
               .not_valid_after(now + datetime.timedelta(days=days))
               .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
               .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                                     ExtendedKeyUsageOID.CLIENT_AUTH]),
                              critical=False)
               .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                   ca_key.public_key()), critical=False))
    if names:
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    cert = builder.sign(ca_key, hashes.SHA256())
    return (cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                              serialization.NoEncryption()))


def _write(path: Path, data: bytes, private: bool) -> None:
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL  # never overwrite a key
    fd = os.open(path, flags, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def issue_network(out: Path, names: Sequence[str], hosts: Sequence[str]) -> dict[str, Path]:
    """``out/ca.pem`` and ``out/ca-key.pem`` (made if absent), then ``out/NAME.pem`` and
    ``out/NAME-key.pem`` for each name, valid for ``hosts``. Returns the files written."""
    out.mkdir(parents=True, exist_ok=True, mode=0o700)
    written: dict[str, Path] = {}
    ca_path, ca_key_path = out / "ca.pem", out / "ca-key.pem"
    if ca_path.exists() != ca_key_path.exists():
        raise TlsError(f"{out} holds only one of ca.pem and ca-key.pem")
    if not ca_path.exists():
        ca_cert, ca_key = make_ca()
        _write(ca_key_path, ca_key, private=True)
        _write(ca_path, ca_cert, private=False)
        written["ca"] = ca_path
    ca_cert, ca_key = ca_path.read_bytes(), ca_key_path.read_bytes()
    for name in names:
        if not name or not all(ch.isalnum() or ch in "-_." for ch in name) or name[0] == ".":
            raise TlsError(f"certificate name {name!r}: letters, digits, '-', '_', '.' only")
        cert_path, key_path = out / f"{name}.pem", out / f"{name}-key.pem"
        if cert_path.exists() or key_path.exists() or name in ("ca", "ca-key"):
            raise TlsError(f"{cert_path} already exists; pick another name")
        cert, key = issue_cert(ca_cert, ca_key, name, hosts)
        _write(key_path, key, private=True)
        _write(cert_path, cert, private=False)
        written[name] = cert_path
    return written
