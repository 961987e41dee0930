"""Certificates and keys for a Flower 1.42 deployment with TLS and SuperNode authentication.

A Flower 1.42 deployment secures two things, each with its own keys:

TLS (the channel)
    The SuperLink serves its Fleet API (SuperNodes), Control API (``flwr``) and Runtime API
    (the ``ServerApp``) over HTTPS on one ``--host``/``--port`` with
    ``--ssl-ca-certfile ca.pem --ssl-certfile server.pem --ssl-keyfile server.key``. The
    server certificate must name, in its *subject alternative names*, every address clients
    dial (``127.0.0.1`` on loopback; the server's DNS name across machines). A SuperNode trusts
    the SuperLink through ``--root-certificates ca.pem``; ``flwr`` through the
    ``root-certificates`` key of its connection in ``$FLWR_HOME/config.toml``
    (:func:`fedlib.flower.deployment.write_connection`).
SuperNode authentication (who may be a node)
    The SuperLink runs with ``--enable-supernode-auth`` (which requires TLS). Each SuperNode
    holds an EC private key on a NIST curve in OpenSSH format
    (``--auth-supernode-private-key``) and signs a timestamp on every Fleet request with it;
    whoever runs the federation registers the matching OpenSSH public key with
    ``flwr supernode register <key.pub>`` over the Control API. A node whose public key was
    not registered cannot activate (the SuperLink answers that no SuperNode has that key)
    and the SuperNode exits.

:func:`write_test_pki` writes all of it into one directory **for loopback tests and demos
only**: a throwaway CA whose private key sits beside its certificate. A real deployment uses
certificates from the institutions' PKI, and each node generates its own key pair on its own
machine (:func:`write_node_key`, or ``ssh-keygen -t ecdsa -b 384 -m PEM`` would do the same)
and hands over only the ``.pub`` file.

References: Flower 1.42 ``flower-superlink --help``, ``flower-supernode --help``,
``flwr supernode register --help``; RFC 5280 (X.509 certificates, subject alternative names).

Examples
--------
>>> import tempfile
>>> pki = write_test_pki(tempfile.mkdtemp(), nodes=["bank-1"])
>>> sorted(p.name for p in pki.directory.iterdir())
['bank-1.key', 'bank-1.pub', 'ca.key', 'ca.pem', 'server.key', 'server.pem']
>>> server_hosts(pki.server_certificate)
['127.0.0.1', 'localhost']
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["TestPKI", "server_hosts", "write_ca", "write_node_key", "write_server_certificate",
           "write_test_pki"]

#: Hosts a loopback deployment dials: the IP the test uses and the name a reader may type.
LOOPBACK = ("127.0.0.1", "localhost")
#: How long the throwaway certificates are valid (a test or a demo, not a deployment).
VALID_DAYS = 7


def _write_private_key(path: Path, key: ec.EllipticCurvePrivateKey,
                       encoding: serialization.PrivateFormat) -> None:
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, encoding,
                                       serialization.NoEncryption()))
    path.chmod(0o600)                     # a private key readable by its owner only


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _validity(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    # A minute of slack either side: the processes that verify run on the same clock.
    return builder.not_valid_before(now - dt.timedelta(minutes=1)).not_valid_after(
        now + dt.timedelta(days=VALID_DAYS))


def write_ca(directory: str | Path, name: str = "fedbook test CA") -> tuple[Path, Path]:
    """Write a self-signed CA: ``ca.pem`` (what everyone trusts) and ``ca.key`` (its secret).

    Returns the two paths. For tests and demos: a real CA's key never sits beside the
    deployment.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (_validity(x509.CertificateBuilder())
                   .subject_name(_name(name)).issuer_name(_name(name))
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
                   .add_extension(x509.KeyUsage(
                       digital_signature=True, content_commitment=False,
                       key_encipherment=False, data_encipherment=False, key_agreement=False,
                       key_cert_sign=True, crl_sign=True, encipher_only=False,
                       decipher_only=False), critical=True)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()),
                                  critical=False)
                   .sign(key, hashes.SHA256()))
    pem, secret = directory / "ca.pem", directory / "ca.key"
    pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_private_key(secret, key, serialization.PrivateFormat.PKCS8)
    return pem, secret


def _subject_alternative_names(hosts: Sequence[str]) -> list[x509.GeneralName]:
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    return names


def write_server_certificate(directory: str | Path, ca_certificate: str | Path,
                             ca_key: str | Path, hosts: Sequence[str] = LOOPBACK
                             ) -> tuple[Path, Path]:
    """Write the SuperLink's ``server.pem`` and ``server.key``, signed by the CA.

    Parameters
    ----------
    directory
        Where to write them.
    ca_certificate, ca_key
        The CA of :func:`write_ca`.
    hosts
        Every address clients dial, IPs and DNS names: they become the certificate's subject
        alternative names, which TLS clients check (the common name is not).

    Raises
    ------
    ValueError
        ``hosts`` is empty: no client could verify the certificate.
    """
    hosts = list(hosts)
    if not hosts:
        raise ValueError("hosts is empty; name every address clients dial, e.g. "
                         f"{list(LOOPBACK)} on loopback")
    directory = Path(directory)
    ca = x509.load_pem_x509_certificate(Path(ca_certificate).read_bytes())
    signer = serialization.load_pem_private_key(Path(ca_key).read_bytes(), password=None)
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = (_validity(x509.CertificateBuilder())
                   .subject_name(_name(hosts[0])).issuer_name(ca.subject)
                   .public_key(key.public_key()).serial_number(x509.random_serial_number())
                   .add_extension(x509.BasicConstraints(ca=False, path_length=None),
                                  critical=True)
                   .add_extension(x509.SubjectAlternativeName(_subject_alternative_names(hosts)),
                                  critical=False)
                   .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]),
                                  critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(
                       ca.public_key()), critical=False)
                   .sign(signer, hashes.SHA256()))
    pem, secret = directory / "server.pem", directory / "server.key"
    pem.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    _write_private_key(secret, key, serialization.PrivateFormat.PKCS8)
    return pem, secret


def server_hosts(certificate: str | Path) -> list[str]:
    """The subject alternative names of a certificate, as strings (what TLS clients check)."""
    cert = x509.load_pem_x509_certificate(Path(certificate).read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return [str(n.value) for n in names]


def write_node_key(directory: str | Path, name: str) -> tuple[Path, Path]:
    """Write a SuperNode's authentication key pair: ``<name>.key`` and ``<name>.pub``.

    An EC key on NIST P-384 (Flower's register command accepts any NIST curve), the private
    key in OpenSSH format (``flower-supernode --auth-supernode-private-key``), the public key
    as one OpenSSH line (``flwr supernode register``). Returns the two paths.
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP384R1())
    private, public = directory / f"{name}.key", directory / f"{name}.pub"
    _write_private_key(private, key, serialization.PrivateFormat.OpenSSH)
    public.write_bytes(key.public_key().public_bytes(serialization.Encoding.OpenSSH,
                                                     serialization.PublicFormat.OpenSSH) + b"\n")
    return private, public


@dataclass(frozen=True)
class TestPKI:
    """The files :func:`write_test_pki` wrote (loopback tests and demos only)."""

    __test__ = False                      # a data class, not a pytest test class

    directory: Path
    ca_certificate: Path
    ca_key: Path
    server_certificate: Path
    server_key: Path
    #: node name → (private key, public key)
    node_keys: dict[str, tuple[Path, Path]]


def write_test_pki(directory: str | Path, hosts: Sequence[str] = LOOPBACK,
                   nodes: Sequence[str] = ()) -> TestPKI:
    """Write a throwaway CA, a SuperLink certificate for ``hosts`` and one key pair per node.

    For loopback tests and demos: a real deployment uses certificates from the institutions'
    PKI, and each node makes its own key pair. The files, all in ``directory``: ``ca.pem``,
    ``ca.key``, ``server.pem``, ``server.key`` and ``<node>.key`` / ``<node>.pub``.

    Raises
    ------
    ValueError
        Two nodes share a name (their key files would overwrite each other).
    """
    nodes = list(nodes)
    if len(set(nodes)) != len(nodes):
        raise ValueError(f"node names must be unique, got {nodes}")
    ca_certificate, ca_key = write_ca(directory)
    server_certificate, server_key = write_server_certificate(directory, ca_certificate,
                                                              ca_key, hosts)
    return TestPKI(Path(directory), ca_certificate, ca_key, server_certificate, server_key,
                   {name: write_node_key(directory, name) for name in nodes})
