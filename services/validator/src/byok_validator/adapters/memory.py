"""In-memory fakes of the validator's ports, for unit tests of the use cases."""

from __future__ import annotations

from collections.abc import AsyncIterator

from byok_contracts import NotFound

from ..domain import Check, Outcome
from ..ports import StoredKey, UnsealedKey

__all__ = ["MemoryClaims", "MemoryKeyVault", "MemoryProviders", "MemoryStoredKeys"]


class MemoryProviders:
    """``answers[key]`` is a list of checks given in turn (the last one repeats)."""

    def __init__(self) -> None:
        self.answers: dict[str, list[Check]] = {}
        self.calls: list[tuple[str, str]] = []

    def set(self, key: str, *checks: Check) -> None:
        self.answers[key] = list(checks)

    async def check(self, provider: str, key: str) -> Check:
        self.calls.append((provider, key))
        queue = self.answers.get(key) or [Check(Outcome.REJECTED, "invalid x-api-key")]
        return queue.pop(0) if len(queue) > 1 else queue[0]

    async def close(self) -> None:
        return None


class MemoryKeyVault:
    def __init__(self) -> None:
        self.keys: dict[str, UnsealedKey] = {}
        self.revoked: list[tuple[str, str]] = []

    def add(self, key_id: str, provider: str, key: str, state: str = "active") -> None:
        self.keys[key_id] = UnsealedKey(key_id, provider, key, state)

    async def unseal(self, key_id: str) -> UnsealedKey:
        if key_id not in self.keys:
            raise NotFound(f"No stored key {key_id}", error="key_not_found")
        return self.keys[key_id]

    async def revoke(self, key_id: str, reason: str) -> None:
        self.revoked.append((key_id, reason))
        found = self.keys[key_id]
        self.keys[key_id] = UnsealedKey(found.key_id, found.provider, found.key, "revoked")


class MemoryStoredKeys:
    def __init__(self, keys: list[StoredKey] | None = None, *, page_size: int = 1000) -> None:
        self.keys = keys or []
        self.page_size = page_size

    async def pages(self) -> AsyncIterator[list[StoredKey]]:
        for start in range(0, len(self.keys), self.page_size):
            yield self.keys[start : start + self.page_size]


class MemoryClaims:
    def __init__(self) -> None:
        self.claimed: set[str] = set()

    async def claim(self, key_id: str, interval: float) -> bool:
        if key_id in self.claimed:
            return False
        self.claimed.add(key_id)
        return True
