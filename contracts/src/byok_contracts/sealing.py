"""HPKE sealing of provider keys (RFC 9180 base mode, DESIGN.md section 4).

Suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM. A sealed blob is
base64 of ``enc || ciphertext`` and the subject it travels on is the HPKE
``info``, so a blob replayed onto another subject does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

__all__ = [
    "SUITE",
    "Keypair",
    "SealingError",
    "kid_for",
    "load_public_key",
    "open_sealed",
    "seal",
]

SUITE = "DHKEM(X25519,HKDF-SHA256)/HKDF-SHA256/AES-256-GCM"
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)


class SealingError(ValueError):
    """A blob or key that cannot be used: bad base64, wrong recipient, wrong subject."""


def load_public_key(public_key: str | bytes | X25519PublicKey) -> X25519PublicKey:
    """Accept a base64 string, 32 raw bytes or a key object."""
    if isinstance(public_key, X25519PublicKey):
        return public_key
    if isinstance(public_key, str):
        try:
            raw = base64.b64decode(public_key, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise SealingError("public key is not valid base64") from exc
    else:
        raw = public_key
    if len(raw) != 32:
        raise SealingError("public key must be 32 bytes (X25519)")
    return X25519PublicKey.from_public_bytes(raw)


def seal(plaintext: bytes, public_key: str | bytes | X25519PublicKey, subject: str) -> str:
    """Seal ``plaintext`` to ``public_key`` for travel on ``subject``; returns base64."""
    blob = _SUITE.encrypt(plaintext, load_public_key(public_key), info=subject.encode())
    return base64.b64encode(blob).decode("ascii")


def open_sealed(sealed: str, private_key: X25519PrivateKey, subject: str) -> bytes:
    """Open a blob made by :func:`seal`; raises :class:`SealingError` on any mismatch."""
    try:
        blob = base64.b64decode(sealed, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SealingError("sealed key is not valid base64") from exc
    if len(blob) <= 32 + 16:
        raise SealingError("sealed key is too short")
    try:
        return _SUITE.decrypt(blob, private_key, info=subject.encode())
    except (InvalidTag, ValueError) as exc:
        raise SealingError("sealed key does not open with this recipient and subject") from exc


def kid_for(public_key: X25519PublicKey) -> str:
    """Stable key id of a public key: the first 16 hex digits of its SHA-256."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Keypair:
    """An X25519 keypair with its base64 public half and ``kid``."""

    private_key: X25519PrivateKey

    @classmethod
    def generate(cls) -> Keypair:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, raw: bytes) -> Keypair:
        return cls(X25519PrivateKey.from_private_bytes(raw))

    @property
    def public_key(self) -> X25519PublicKey:
        return self.private_key.public_key()

    @property
    def public_b64(self) -> str:
        raw = self.public_key.public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        return base64.b64encode(raw).decode("ascii")

    @property
    def kid(self) -> str:
        return kid_for(self.public_key)

    def private_bytes(self) -> bytes:
        return self.private_key.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    def open(self, sealed: str, subject: str) -> bytes:
        return open_sealed(sealed, self.private_key, subject)
