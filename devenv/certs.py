"""Certificates and keys for the test control plane, made fresh for every session.

A real apiserver needs TLS, a client identity and a service-account signing key.
Making them per session (rather than committing fixtures) means nothing expires and
no private key lives in the repo. ECDSA P-256 keys keep generation instant.
"""

from __future__ import annotations

import datetime
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

# Long enough for any session, short enough that a leaked file is soon useless.
VALIDITY = datetime.timedelta(days=2)


@dataclass(frozen=True)
class Pki:
    """File paths of the session's certificates and keys (all PEM)."""

    ca_cert: Path
    ca_key: Path
    """Kept (0600, in the session's scratch directory) to sign a real node's kubelet
    serving certificate when one starts (`issue_serving_cert`)."""
    serving_cert: Path
    serving_key: Path
    admin_cert: Path
    admin_key: Path
    service_account_key: Path
    service_account_pub: Path
    kubelet_client_cert: Path
    """The API server's client identity towards kubelets (logs, exec, port-forward)."""
    kubelet_client_key: Path


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _name(common_name: str, organization: str | None = None) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if organization:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization))
    return x509.Name(attrs)


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # Backdated a little so a process with a slightly different clock accepts it.
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + VALIDITY)
    )


def _leaf(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_name: x509.Name,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    sans: list[x509.GeneralName] | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    builder = (
        _builder(subject, ca_name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(ca_key, hashes.SHA256()), key


def _write_cert(path: Path, cert: x509.Certificate) -> None:
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)


def make_pki(directory: Path) -> Pki:
    """Write a CA, a localhost serving cert, an admin client cert, the API server's client
    cert towards kubelets and a service-account key pair."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name("turnout-test-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_encipherment=False,
                content_commitment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    serving_cert, serving_key = _leaf(
        ca_key,
        ca_name,
        _name("kube-apiserver"),
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans=[
            x509.DNSName("localhost"),
            x509.DNSName("kubernetes"),
            x509.DNSName("kubernetes.default.svc"),
            x509.IPAddress(ipaddress.IPv4Address("127.0.0.1")),
            # The `kubernetes` Service's ClusterIP, which pods on a real node dial.
            x509.IPAddress(ipaddress.IPv4Address("198.19.0.1")),
        ],
    )
    # Group system:masters is bound to cluster-admin by the bootstrap RBAC policy.
    admin_cert, admin_key = _leaf(
        ca_key, ca_name, _name("turnout-admin", "system:masters"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    # The API server's identity when it calls a kubelet (kubectl logs, exec): the
    # kubelet authenticates it by this CA and authorizes every caller it authenticated.
    kubelet_client_cert, kubelet_client_key = _leaf(
        ca_key, ca_name, _name("kube-apiserver-kubelet-client"), ExtendedKeyUsageOID.CLIENT_AUTH
    )
    sa_key = _key()

    pki = Pki(
        ca_cert=directory / "ca.crt",
        ca_key=directory / "ca.key",
        serving_cert=directory / "serving.crt",
        serving_key=directory / "serving.key",
        admin_cert=directory / "admin.crt",
        admin_key=directory / "admin.key",
        service_account_key=directory / "sa.key",
        service_account_pub=directory / "sa.pub",
        kubelet_client_cert=directory / "kubelet-client.crt",
        kubelet_client_key=directory / "kubelet-client.key",
    )
    _write_cert(pki.ca_cert, ca_cert)
    _write_key(pki.ca_key, ca_key)
    _write_cert(pki.kubelet_client_cert, kubelet_client_cert)
    _write_key(pki.kubelet_client_key, kubelet_client_key)
    _write_cert(pki.serving_cert, serving_cert)
    _write_key(pki.serving_key, serving_key)
    _write_cert(pki.admin_cert, admin_cert)
    _write_key(pki.admin_key, admin_key)
    _write_key(pki.service_account_key, sa_key)
    pki.service_account_pub.write_bytes(
        sa_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    return pki


def _sans(hosts: list[str]) -> list[x509.GeneralName]:
    sans: list[x509.GeneralName] = []
    for host in hosts:
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            sans.append(x509.DNSName(host))
    return sans


def issue_serving_cert(
    pki: Pki, cert_path: Path, key_path: Path, common_name: str, hosts: list[str]
) -> None:
    """A server certificate for `hosts` signed by the session's CA (a real node's kubelet:
    the API server checks it against that CA before it sends a `kubectl exec` there)."""
    ca_cert = x509.load_pem_x509_certificate(pki.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(pki.ca_key.read_bytes(), password=None)
    assert isinstance(ca_key, ec.EllipticCurvePrivateKey)
    cert, key = _leaf(
        ca_key,
        ca_cert.subject,
        _name(common_name),
        ExtendedKeyUsageOID.SERVER_AUTH,
        sans=_sans(hosts),
    )
    cert_path.parent.mkdir(parents=True, exist_ok=True)
    _write_cert(cert_path, cert)
    _write_key(key_path, key)


@dataclass(frozen=True)
class ServingCert:
    """A CA and a serving certificate it signed (PEM files), e.g. for an admission webhook."""

    ca_cert: Path
    cert: Path
    key: Path


def make_serving_cert(directory: Path, common_name: str, hosts: list[str]) -> ServingCert:
    """A fresh CA and a server certificate for `hosts` (DNS names or IP addresses)."""
    directory.mkdir(parents=True, exist_ok=True)
    ca_key = _key()
    ca_name = _name(f"{common_name}-ca")
    ca_cert = (
        _builder(ca_name, ca_name, ca_key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    cert, key = _leaf(
        ca_key, ca_name, _name(common_name), ExtendedKeyUsageOID.SERVER_AUTH, sans=_sans(hosts)
    )
    files = ServingCert(directory / "ca.crt", directory / "tls.crt", directory / "tls.key")
    _write_cert(files.ca_cert, ca_cert)
    _write_cert(files.cert, cert)
    _write_key(files.key, key)
    return files
