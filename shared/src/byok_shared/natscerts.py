"""TLS material for the NATS cluster routes: a private CA and one certificate per node.

``compose.yaml`` runs this once in its ``nats-certs`` init container
(``python -m byok_shared.natscerts /certs nats-1 nats-2 nats-3``); the process
tests make the same files for their :class:`~byok_shared.natsserver.NatsCluster`.
Files: ``ca.pem``, ``<node>.pem`` and ``<node>-key.pem`` (keys mode 0600), and
``routes.conf`` (0600, :func:`write_route_auth`): the route user's secret. The CA's
key is not kept: no further certificate can be signed with it, so a new node
means making the set again. Existing files are kept (a restart of the init step
does not rotate them).
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["make_cluster_certs", "write_route_auth"]

_VALID = datetime.timedelta(days=825)


def _name(common: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "byok"),
            x509.NameAttribute(NameOID.COMMON_NAME, common),
        ]
    )


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def _write(path: Path, data: bytes, mode: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)
    os.chmod(path, mode)


def make_cluster_certs(
    out: Path, nodes: Sequence[str], *, hosts: Sequence[str] = ("localhost", "127.0.0.1")
) -> Path:
    """Write a CA and a cert per node into ``out`` (unless ``ca.pem`` is there); return ``out``.

    Each node certificate names the node and ``hosts`` (DNS names or IPs), and is
    usable as server and client (routes authenticate both ways with ``verify``).
    """
    out.mkdir(parents=True, exist_ok=True)
    if (out / "ca.pem").exists() and all((out / f"{n}.pem").exists() for n in nodes):
        return out
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = (
        x509.CertificateBuilder()
        .subject_name(_name("byok nats CA"))
        .issuer_name(_name("byok nats CA"))
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + _VALID)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                key_cert_sign=True,
                crl_sign=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write(out / "ca.pem", _pem(ca), 0o644)
    for node in nodes:
        key = ec.generate_private_key(ec.SECP256R1())
        names: list[x509.GeneralName] = [x509.DNSName(node)]
        for host in hosts:
            try:
                names.append(x509.IPAddress(ipaddress.ip_address(host)))
            except ValueError:
                names.append(x509.DNSName(host))
        cert = (
            x509.CertificateBuilder()
            .subject_name(_name(node))
            .issuer_name(ca.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + _VALID)
            .add_extension(x509.SubjectAlternativeName(names), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.ExtendedKeyUsage(
                    [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
                ),
                critical=False,
            )
            .sign(ca_key, hashes.SHA256())
        )
        _write(out / f"{node}.pem", _pem(cert), 0o644)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        _write(out / f"{node}-key.pem", key_pem, 0o600)
    return out


def write_route_auth(out: Path, nodes: Sequence[str], *, port: int = 6222) -> Path:
    """Write ``routes.conf`` (0600) for inside a node's ``cluster {}`` block: the route
    user (a fresh secret, checked by its bcrypt hash) and the routes to every node,
    logging in with it. Kept on later runs. nats-server takes a route's credentials
    only from its URL, so this file, not the environment, is where they live."""
    import secrets

    import bcrypt

    path = out / "routes.conf"
    if path.exists():
        return path
    secret = secrets.token_urlsafe(24)
    hashed = bcrypt.hashpw(secret.encode(), bcrypt.gensalt(rounds=11)).decode()
    routes = "".join(f'  "nats-route://route:{secret}@{node}:{port}"\n' for node in nodes)
    text = (
        "# Made by byok_shared.natscerts: the route user and the routes of this cluster.\n"
        f'authorization {{ user: "route", password: "{hashed}", timeout: 5 }}\n'
        f"routes: [\n{routes}]\n"
    )
    _write(path, text.encode(), 0o600)
    return path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m byok_shared.natscerts",
        description="Make a CA and route certificates for byok's NATS cluster nodes.",
    )
    parser.add_argument("out", type=Path, help="directory for ca.pem, <node>.pem, <node>-key.pem")
    parser.add_argument("nodes", nargs="+", help="node names (each becomes a DNS name)")
    parser.add_argument("--host", action="append", default=[], help="another name or IP")
    parser.add_argument("--route-port", type=int, default=6222, help="the nodes' route port")
    args = parser.parse_args(argv)
    make_cluster_certs(args.out, args.nodes, hosts=[*args.host, "localhost", "127.0.0.1"])
    write_route_auth(args.out, args.nodes, port=args.route_port)
    print(f"certificates and route credentials for {', '.join(args.nodes)} in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
