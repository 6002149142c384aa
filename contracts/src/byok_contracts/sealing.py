"""HPKE sealing of provider keys (RFC 9180 base mode, DESIGN.md section 4).

Suite DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM. A sealed blob is
base64 of ``enc || ciphertext`` and the subject it travels on is the HPKE
``info``, so a blob replayed onto another subject does not open.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

__all__ = [
    "CONFIGURE_INFO",
    "SEAL_MAX_AGE",
    "SEAL_MAX_SKEW",
    "SUITE",
    "ConfigureEnvelope",
    "Keypair",
    "SealBindingError",
    "SealingError",
    "check_configure_binding",
    "configure_envelope",
    "kid_for",
    "load_public_key",
    "open_configure",
    "open_sealed",
    "parse_configure_envelope",
    "seal",
    "seal_configure",
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


# --- the bound seal of ``keys.configure`` (0.2, contracts/SEALING.md) ---------------

CONFIGURE_INFO = b"byok.v1.keys.configure"
SEAL_MAX_AGE = 300
"""Seconds an envelope's ``iat`` may lie in the past."""
SEAL_MAX_SKEW = 60
"""Seconds an envelope's ``iat`` may lie in the future (clock skew)."""
_ENVELOPE_FIELDS = frozenset({"v", "key", "account", "scope", "iat", "request_id"})


class SealBindingError(SealingError):
    """An envelope that does not bind to this request. ``error`` is the 400 error word:
    ``seal_mismatch``, ``seal_expired`` or ``malformed_seal``."""

    def __init__(self, error: str, message: str) -> None:
        super().__init__(message)
        self.error = error
        self.message = message


@dataclass(frozen=True, slots=True)
class ConfigureEnvelope:
    """The plaintext of a configure seal. ``key`` is a secret: never repr'd."""

    key: str = field(repr=False)
    account: str | None
    scope_type: str
    scope_id: str
    iat: int
    request_id: str | None


def _scope_parts(scope: object) -> tuple[str, str]:
    if isinstance(scope, Mapping):
        return str(scope["type"]), str(scope["id"])
    kind = getattr(scope, "type")  # noqa: B009 - a Scope model or any object alike
    return str(getattr(kind, "value", kind)), str(getattr(scope, "id"))  # noqa: B009


def configure_envelope(
    key: str,
    *,
    account: str | None,
    scope: object,
    request_id: str | None = None,
    iat: int | None = None,
) -> bytes:
    """The exact plaintext bytes: compact UTF-8 JSON, keys in this order."""
    kind, ident = _scope_parts(scope)
    body = {
        "v": 1,
        "key": key,
        "account": account,
        "scope": {"type": kind, "id": ident},
        "iat": int(time.time()) if iat is None else int(iat),
        "request_id": request_id,
    }
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def seal_configure(
    key: str,
    public_key: str | bytes | X25519PublicKey,
    *,
    account: str | None,
    scope: object,
    request_id: str | None = None,
    iat: int | None = None,
) -> str:
    """Seal ``key`` for ``keys.configure`` at ``scope`` of ``account`` (and ``request_id``)."""
    plaintext = configure_envelope(
        key, account=account, scope=scope, request_id=request_id, iat=iat
    )
    return seal(plaintext, public_key, CONFIGURE_INFO.decode())


def parse_configure_envelope(plaintext: bytes) -> ConfigureEnvelope:
    """Read an opened configure seal; :class:`SealBindingError` ``malformed_seal`` if it is not one."""
    try:
        data = json.loads(plaintext.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        data = None
    bad = SealBindingError("malformed_seal", "The sealed key is not a byok v1 configure envelope")
    if not isinstance(data, dict) or set(data) != _ENVELOPE_FIELDS or data["v"] != 1:
        raise bad
    scope, key, account = data["scope"], data["key"], data["account"]
    request_id, iat = data["request_id"], data["iat"]
    if not (
        isinstance(key, str)
        and isinstance(account, str | None)
        and isinstance(request_id, str | None)
        and isinstance(iat, int)
        and not isinstance(iat, bool)
        and isinstance(scope, dict)
        and set(scope) == {"type", "id"}
        and all(isinstance(v, str) for v in scope.values())
    ):
        raise bad
    return ConfigureEnvelope(key, account, scope["type"], scope["id"], iat, request_id)


def check_configure_binding(
    envelope: ConfigureEnvelope,
    *,
    accounts: Iterable[str | None],
    scope: object,
    request_id: str | None,
    now: float | None = None,
) -> None:
    """Raise :class:`SealBindingError` unless the envelope was made for this request, lately.

    ``accounts``: the values the request's account may take (the ``account`` field as
    sent, and the account the scope resolves to, e.g. an ``account:X`` scope's id).
    """
    kind, ident = _scope_parts(scope)
    if (
        (envelope.scope_type, envelope.scope_id) != (kind, ident)
        or envelope.account not in set(accounts)
        or envelope.request_id != request_id
    ):
        raise SealBindingError(
            "seal_mismatch", "The sealed key was sealed for another scope, account or request"
        )
    clock = time.time() if now is None else now
    if not (clock - SEAL_MAX_AGE <= envelope.iat <= clock + SEAL_MAX_SKEW):
        raise SealBindingError(
            "seal_expired", "The sealed key is outside its validity window; seal it again"
        )


def open_configure(
    sealed: str,
    private_key: X25519PrivateKey,
    *,
    account: str | None,
    scope: object,
    request_id: str | None = None,
    now: float | None = None,
) -> str:
    """Open a :func:`seal_configure` blob and check its binding; return the provider key."""
    try:
        plaintext = open_sealed(sealed, private_key, CONFIGURE_INFO.decode())
    except SealingError:
        raise SealBindingError("malformed_seal", "The sealed key does not open") from None
    envelope = parse_configure_envelope(plaintext)
    check_configure_binding(
        envelope, accounts=(account,), scope=scope, request_id=request_id, now=now
    )
    return envelope.key
