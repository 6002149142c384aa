"""``byok.v1.resolve``: which key and model a runtime must use for one request."""

from __future__ import annotations

from typing import Literal

from .common import AccountId, Base64Key32, Chain, KeyId, ModelId, Provider, Reply, Request, Scope

__all__ = ["Resolve", "Resolved", "Source"]

Source = Literal["auto", "byok", "credits"]


class Resolve(Request):
    account: AccountId
    chain: Chain
    provider: Provider | None = None
    model: ModelId | None = None
    source: Source = "auto"
    recipient_key: Base64Key32


class Resolved(Reply):
    status: Literal["resolved"] = "resolved"
    source: Literal["byok", "platform"]
    provider: Provider
    model: str
    key_id: KeyId
    scope: Scope
    sealed_key: str
    credits_paused: bool
    reason: str
