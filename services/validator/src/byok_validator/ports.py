"""What the validator needs from outside: providers, key-vault, stored keys, sweep claims."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from .domain import Check

__all__ = ["KeyVault", "Providers", "StoredKey", "StoredKeys", "SweepClaims", "UnsealedKey"]


class Providers(Protocol):
    async def check(self, provider: str, key: str) -> Check:
        """One model-list call; timeouts and connection errors are a TRANSIENT check."""
        ...

    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class UnsealedKey:
    key_id: str
    provider: str
    key: str
    state: str | None


class KeyVault(Protocol):
    async def unseal(self, key_id: str) -> UnsealedKey:
        """The stored key, opened here (raise NotFound when it is gone)."""
        ...

    async def revoke(self, key_id: str, reason: str) -> None: ...


@dataclass(frozen=True, slots=True)
class StoredKey:
    key_id: str
    state: str
    validated_at: datetime | None


class StoredKeys(Protocol):
    def pages(self) -> AsyncIterator[list[StoredKey]]:
        """Every stored key, page after page (no cap on how many)."""
        ...


class SweepClaims(Protocol):
    async def claim(self, key_id: str, interval: float) -> bool:
        """True if this replica may re-validate ``key_id`` now (none did within ``interval``)."""
        ...
