"""Key management messages: ``byok.v1.keys.*``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field

from .common import (
    Actor,
    Base64Key32,
    FreeText,
    Hint,
    KeyId,
    KeyState,
    ModelId,
    OwningAccount,
    Provider,
    Reply,
    Request,
    RequestId,
    Scope,
    SealedBlob,
)

__all__ = [
    "ConfigureKey",
    "KeyConfigured",
    "KeyInfo",
    "KeyList",
    "KeyRemoved",
    "KeyReportAccepted",
    "KeyStateChanged",
    "ListKeys",
    "PublicKey",
    "PublicKeyRequest",
    "RemoveKey",
    "ReportKey",
    "SetKeyEnabled",
]


class PublicKeyRequest(Request):
    """``byok.v1.keys.public-key``: ask for key-vault's sealing key."""


class PublicKey(Reply):
    status: Literal["ok"] = "ok"
    public_key: Base64Key32
    kid: str
    suite: str


class ConfigureKey(Request):
    """``byok.v1.keys.configure``: store a key (sealed to key-vault) at a scope."""

    scope: Scope
    sealed_key: SealedBlob
    kid: Annotated[str, Field(pattern=r"^[0-9a-f]{16}$")]
    provider: Provider | None = None
    model: ModelId | None = None
    actor: Actor
    request_id: RequestId | None = None
    # Its policy also decides whether a custom model is allowed.
    account: OwningAccount = None


class KeyConfigured(Reply):
    """The key was validated live, encrypted and stored; only its ``hint`` is ever shown."""

    status: Literal["configured"] = "configured"
    provider: Provider
    key_id: KeyId
    hint: Hint
    model: str
    scope: Scope
    request_id: str | None = None


class _ProviderKeyWrite(Request):
    """A change to one scope's key for one provider, by ``actor`` for ``account``."""

    scope: Scope
    provider: Provider
    actor: Actor
    account: OwningAccount = None


class RemoveKey(_ProviderKeyWrite):
    """``byok.v1.keys.remove``."""


class KeyRemoved(Reply):
    status: Literal["removed"] = "removed"
    provider: Provider
    key_id: KeyId | None = None


class ListKeys(Request):
    """``byok.v1.keys.list``."""

    scope: Scope
    # Optional for a read: when given, a scope owned by another account is a 403.
    account: OwningAccount = None


class KeyInfo(Reply):
    provider: Provider
    key_id: KeyId
    hint: Hint
    model: str
    state: KeyState
    created_at: datetime
    validated_at: datetime | None = None


class KeyList(Reply):
    status: Literal["ok"] = "ok"
    keys: list[KeyInfo]


class SetKeyEnabled(_ProviderKeyWrite):
    """``byok.v1.keys.set-enabled``: disable a key without deleting it, or enable it again."""

    enabled: bool


class KeyStateChanged(Reply):
    status: Literal["ok"] = "ok"
    provider: Provider
    state: KeyState
    key_id: KeyId | None = None


class ReportKey(Request):
    """``byok.v1.keys.report``: a runtime saw the provider answer ``status_code`` for a key."""

    key_id: KeyId
    status_code: Annotated[int, Field(ge=100, le=599)]
    reason: FreeText = ""


class KeyReportAccepted(Reply):
    status: Literal["accepted"] = "accepted"
    # What the re-validation concluded: revoked, valid, transient, ignored, deduplicated, inactive.
    outcome: str | None = None
