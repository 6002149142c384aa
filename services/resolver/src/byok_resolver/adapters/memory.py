"""In-memory :class:`~byok_resolver.ports.KeySource` and state loader, for unit tests."""

from __future__ import annotations

from byok_contracts import NotFound
from byok_contracts.v1 import Resolve, Scope
from byok_resolver.cache import ResolverCache
from byok_resolver.errors import KeySourceUnavailable
from byok_resolver.ports import Material

__all__ = ["InMemoryKeySource", "InMemoryStateLoader"]


class InMemoryKeySource:
    """Holds materials by ``key_id``; counts calls so tests can see the cache work."""

    def __init__(self) -> None:
        self._materials: dict[str, Material] = {}
        self.calls = 0
        self.down = False

    def add(self, key_id: str, provider: str, secret: bytes, revision: int = 1) -> None:
        self._materials[key_id] = Material(key_id, provider, revision, secret)

    def remove(self, key_id: str) -> None:
        self._materials.pop(key_id, None)

    async def unseal(self, key_id: str) -> Material:
        self.calls += 1
        if self.down:
            raise KeySourceUnavailable("key-vault is not answering")
        material = self._materials.get(key_id)
        if material is None:
            raise NotFound(f"No key {key_id}", error="key_not_found")
        return material


class InMemoryStateLoader:
    """Marks what a request reads as present and empty; tests then apply state directly."""

    def __init__(self, cache: ResolverCache) -> None:
        self.cache = cache
        self.loads = 0

    async def load(self, request: Resolve) -> None:
        scopes, accounts = self.cache.missing(request)
        self.present(*scopes)
        self.present_account(*accounts)

    def present_account(self, *accounts: str) -> None:
        for account in accounts:
            token = self.cache.begin_account(account)
            if token is not None:
                self.cache.finish_account(token, (0, None), (float("-inf"), None))

    def present(self, *scopes: Scope) -> None:
        for scope in scopes:
            token = self.cache.begin_scope(scope)
            if token is not None:
                self.loads += 1
                self.cache.finish_scope(token, (0, None), [])
