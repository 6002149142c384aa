"""Container helpers: ``python -m byok_gateway.deploy init|health``.

``init`` (a one-shot compose job) writes, once, into the gateway's data volume:
the end-user token secret (``gateway/secret``, 0600, shared by every replica) and a
self-signed TLS certificate for uvicorn (``tls/gateway.crt``, ``tls/gateway.key``
0600; ECDSA P-256, names from ``--name``). Put a real certificate in its place, or
terminate TLS in front, for anything public. ``health`` asks this container's own
``/healthz`` (TLS or not) and exits 0 or 1.
"""

from __future__ import annotations

import argparse
import datetime as dt
import ipaddress
import json
import os
import ssl
import sys
import urllib.request
from collections.abc import Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .config import GatewaySettings, load_secret

__all__ = ["main", "self_signed"]


def _write_private(path: Path, data: bytes) -> None:
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def self_signed(names: Sequence[str], days: int = 825) -> tuple[bytes, bytes]:
    """``(certificate PEM, private key PEM)`` for ``names`` (DNS names or IP addresses)."""
    key = ec.generate_private_key(ec.SECP256R1())
    alt: list[x509.GeneralName] = []
    for name in names:
        try:
            alt.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            alt.append(x509.DNSName(name))
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def init(data_dir: Path, names: Sequence[str]) -> None:
    load_secret(GatewaySettings(gateway_secret=None), data_dir)
    cert, key = data_dir / "tls" / "gateway.crt", data_dir / "tls" / "gateway.key"
    if cert.exists() and key.exists():
        print(f"gateway init: {cert} exists; kept")
        return
    cert_pem, key_pem = self_signed(names)
    _write_private(key, key_pem)
    _write_private(cert, cert_pem)
    print(f"gateway init: wrote {cert} for {', '.join(names)}")


def health(settings: GatewaySettings) -> int:
    tls = settings.http_tls_cert is not None
    url = f"{'https' if tls else 'http'}://127.0.0.1:{settings.http_port}/healthz"
    context = ssl.create_default_context()
    if tls:  # our own listener on loopback; the name check is the client's business
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    try:
        with urllib.request.urlopen(url, timeout=3, context=context) as reply:  # noqa: S310
            return 0 if json.loads(reply.read()).get("nats") is True else 1
    except (OSError, ValueError):
        return 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m byok_gateway.deploy")
    sub = parser.add_subparsers(dest="command", required=True)
    setup = sub.add_parser("init", help="secret and self-signed TLS certificate, once")
    setup.add_argument("--data", type=Path, default=Path(os.environ.get("BYOK_DATA_DIR", ".byok")))
    setup.add_argument("--name", action="append", help="DNS name or IP (repeatable)")
    sub.add_parser("health", help="GET this container's /healthz; exit 0 or 1")
    args = parser.parse_args(argv)
    if args.command == "init":
        init(args.data, args.name or ["localhost", "127.0.0.1", "gateway"])
        return 0
    return health(GatewaySettings())


if __name__ == "__main__":
    sys.exit(main())
