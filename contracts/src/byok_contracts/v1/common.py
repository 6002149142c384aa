"""Building blocks shared by every v1 message: scopes, providers, ids, bases."""

from __future__ import annotations

import base64
import binascii
import functools
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
)

from byok_contracts.redaction import redact_secrets, refuse_keys

__all__ = [
    "ID_PATTERN",
    "AccountId",
    "Actor",
    "Base64Key32",
    "Chain",
    "ErrorReply",
    "Event",
    "FreeText",
    "Hint",
    "KeyId",
    "KeyState",
    "ModelId",
    "OwningAccount",
    "Provider",
    "Reply",
    "Request",
    "RequestId",
    "Route",
    "Scope",
    "ScopeType",
    "SealedBlob",
    "normalize_provider",
    "utcnow",
]

ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,127}$"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Request(BaseModel):
    """Base of every request: strict, unknown fields rejected, immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _status_required(schema: dict[str, Any]) -> None:
    """Every reply carries ``status``: say so in its JSON Schema (generated types need it)."""
    if "status" in schema.get("properties", {}):
        required = schema.setdefault("required", [])
        if "status" not in required:
            required.insert(0, "status")


class Reply(BaseModel):
    """Base of success replies. Clients ignore unknown fields (v1 grows additively)."""

    model_config = ConfigDict(extra="ignore", frozen=True, json_schema_extra=_status_required)


class Event(BaseModel):
    """Base of events. Consumers ignore unknown fields (v1 grows additively)."""

    model_config = ConfigDict(extra="ignore", frozen=True)


class ErrorReply(Reply):
    """The error contract: every failed request gets exactly this shape."""

    status: Literal["error"] = "error"
    code: int
    error: str
    message: str


class ScopeType(StrEnum):
    SESSION = "session"
    AGENT = "agent"
    CHATBOT = "chatbot"
    WORKSPACE = "workspace"
    ACCOUNT = "account"
    USER = "user"
    PLATFORM = "platform"


class KeyState(StrEnum):
    ACTIVE = "active"
    DISABLED = "disabled"
    REVOKED = "revoked"


PROVIDERS = ("anthropic", "openai", "gemini")
_PROVIDER_ALIASES = {"claude": "anthropic", "google": "gemini"}


def normalize_provider(value: object) -> object:
    """Map accepted aliases (``claude``) to canonical provider names."""
    if isinstance(value, str):
        lowered = value.strip().lower()
        return _PROVIDER_ALIASES.get(lowered, lowered)
    return value


Provider = Annotated[Literal["anthropic", "openai", "gemini"], BeforeValidator(normalize_provider)]

_NO_KEY = AfterValidator(refuse_keys)
Identifier = Annotated[str, StringConstraints(pattern=ID_PATTERN), _NO_KEY]
AccountId = Identifier
KeyId = Identifier
Hint = Annotated[
    str,
    Field(
        description="What a person may see of a stored key: a few first and last characters "
        'around "...", never more than a quarter of the key.'
    ),
]
OwningAccount = Annotated[
    AccountId | None,
    Field(
        description="The account owning `scope`: required unless the scope is platform (0.2); "
        "the first write naming the scope fixes it, and a scope of another account is a 403."
    ),
]
RequestId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$"), _NO_KEY
]
# Free text that is stored and published: a pasted key is masked, never kept.
Actor = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^[^\x00-\x1f\x7f]+$"),
    AfterValidator(redact_secrets),
]
FreeText = Annotated[str, Field(max_length=1024), AfterValidator(redact_secrets)]
ModelId = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/@-]{0,127}$"), _NO_KEY
]
Route = Annotated[
    str, StringConstraints(pattern=r"^(auto|metered|byok:(anthropic|openai|gemini))$")
]


def _check_b64(value: str, *, exact: int | None, limit: int) -> str:
    if len(value) > limit:
        raise ValueError(f"too long (at most {limit} base64 characters)")
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not valid base64") from exc
    if exact is not None and len(raw) != exact:
        raise ValueError(f"must decode to {exact} bytes")
    return value


@functools.lru_cache(maxsize=4096)
def _low_order(raw: bytes) -> bool:
    """A point no Diffie-Hellman secret comes out of (all-zero shared secret), e.g. 32 zero
    bytes. Cached: runtimes send the same recipient key with every request."""
    try:
        X25519PrivateKey.generate().exchange(X25519PublicKey.from_public_bytes(raw))
    except ValueError:
        return True
    return False


def _key32(value: str) -> str:
    _check_b64(value, exact=32, limit=64)
    if _low_order(base64.b64decode(value)):
        raise ValueError("is not a usable X25519 public key (low order point)")
    return value


def _sealed(value: str) -> str:
    return _check_b64(value, exact=None, limit=8192)


Base64Key32 = Annotated[str, AfterValidator(_key32)]
SealedBlob = Annotated[str, AfterValidator(_sealed)]


class Scope(BaseModel):
    """Where a key or setting lives: ``{"type": "workspace", "id": "acme"}``."""

    # Not strict: the type is read from its string in Python mode too (replies, records).
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: ScopeType
    id: Identifier

    @property
    def key(self) -> str:
        """Token-safe form used in KV keys and subjects: ``workspace.acme``."""
        return f"{self.type.value}.{self.id}"

    def __str__(self) -> str:
        return f"{self.type.value}:{self.id}"

    @classmethod
    def parse(cls, text: str) -> Scope:
        """Parse ``workspace:acme`` (the CLI form)."""
        kind, sep, ident = text.partition(":")
        if not sep:
            raise ValueError(f"scope must look like type:id, got {text!r}")
        return cls.model_validate({"type": kind, "id": ident}, strict=False)

    @classmethod
    def platform(cls) -> Scope:
        return cls(type=ScopeType.PLATFORM, id="default")


Chain = Annotated[list[Scope], Field(min_length=1, max_length=16)]
