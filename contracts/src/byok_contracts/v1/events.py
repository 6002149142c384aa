"""Fan-out events on ``byok.v1.events.>`` (JetStream). None carries a secret."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from .common import AccountId, Event, KeyId, KeyState, Provider, Scope, utcnow
from .settings import AccountPolicy, ScopeSettings

__all__ = [
    "AccountChanged",
    "CreditsChanged",
    "KeyChanged",
    "KeyRejectedEvent",
    "ScopeChanged",
]


class KeyChanged(Event):
    """``events.keys.<configured|removed|revoked|disabled|enabled>``.

    ``revision`` is the key record's KV revision after the change (0 once removed),
    so a consumer can ignore an event older than what it already holds.
    """

    event: Literal["configured", "removed", "revoked", "disabled", "enabled"]
    key_id: KeyId
    scope: Scope
    provider: Provider
    state: KeyState | None = None
    hint: str | None = None
    model: str | None = None
    actor: str | None = None
    request_id: str | None = None
    revision: int = 0
    occurred_at: datetime = Field(default_factory=utcnow)
    # The account owning ``scope`` (None for platform keys).
    account: AccountId | None = None


class KeyRejectedEvent(Event):
    """``events.keys.rejected``: outcome of a fire-and-forget configure that failed."""

    request_id: str | None = None
    scope: Scope | None = None
    provider: Provider | None = None
    code: int
    error: str
    message: str
    occurred_at: datetime = Field(default_factory=utcnow)


class ScopeChanged(Event):
    """``events.scopes.changed``: the scope's settings after the change."""

    settings: ScopeSettings
    revision: int = 0
    occurred_at: datetime = Field(default_factory=utcnow)


class AccountChanged(Event):
    """``events.accounts.changed``: the account's policy after the change."""

    policy: AccountPolicy
    revision: int = 0
    occurred_at: datetime = Field(default_factory=utcnow)


class CreditsChanged(Event):
    """``events.credits.<exhausted|restored>``."""

    event: Literal["exhausted", "restored"]
    account: AccountId
    balance: int
    occurred_at: datetime = Field(default_factory=utcnow)
