"""Internal hops between services. Keys cross them sealed to the receiver only."""

from __future__ import annotations

from typing import Literal

from .common import (
    AccountId,
    Actor,
    Base64Key32,
    FreeText,
    KeyId,
    KeyState,
    Provider,
    Reply,
    Request,
    Scope,
    SealedBlob,
)

__all__ = [
    "KeyRevoked",
    "KeyUnsealed",
    "KeyValid",
    "KeysRotated",
    "RevokeKey",
    "RotateKeys",
    "UnsealKey",
    "ValidateKey",
    "ValidatorPublicKey",
    "ValidatorPublicKeyRequest",
]


class ValidatorPublicKeyRequest(Request):
    """``byok.v1.internal.validator.public-key``: a validator replica's sealing key."""


class ValidatorPublicKey(Reply):
    status: Literal["ok"] = "ok"
    public_key: Base64Key32
    replica: str


class ValidateKey(Request):
    """``byok.v1.keys.validate.<replica>``: the key is sealed to that replica."""

    provider: Provider
    sealed_key: SealedBlob


class KeyValid(Reply):
    status: Literal["valid"] = "valid"
    provider: Provider


class UnsealKey(Request):
    """``byok.v1.internal.keys.unseal``: key-vault seals a stored key to ``recipient_key``."""

    key_id: KeyId
    recipient_key: Base64Key32


class KeyUnsealed(Reply):
    status: Literal["ok"] = "ok"
    key_id: KeyId
    provider: Provider
    sealed_key: str
    revision: int
    state: KeyState | None = None
    scope: Scope | None = None
    account: AccountId | None = None


class RevokeKey(Request):
    """``byok.v1.internal.keys.revoke``: the provider rejected this stored key (validator)."""

    key_id: KeyId
    reason: FreeText = ""
    actor: Actor = "validator"


class KeyRevoked(Reply):
    status: Literal["revoked"] = "revoked"
    key_id: KeyId
    provider: Provider
    revision: int = 0
    scope: Scope | None = None
    account: AccountId | None = None


class RotateKeys(Request):
    """``byok.v1.internal.keys.rotate``: rotate the cipher key and rewrap every ciphertext.

    With ``sealing`` a new sealing keypair becomes current too (old ones keep
    opening blobs sealed to them until they age out).
    """

    cipher: bool = True
    sealing: bool = False
    actor: Actor | None = None


class KeysRotated(Reply):
    status: Literal["rotated"] = "rotated"
    rewrapped: int
    unchanged: int = 0
    kid: str
