"""Internal hops between services. Keys cross them sealed to the receiver only."""

from __future__ import annotations

from typing import Literal

from .common import Base64Key32, KeyId, Provider, Reply, Request, SealedBlob

__all__ = [
    "KeyUnsealed",
    "KeyValid",
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
