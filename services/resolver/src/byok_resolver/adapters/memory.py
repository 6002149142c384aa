"""In-memory :class:`~byok_resolver.ports.KeySource`, for unit tests."""

from __future__ import annotations

from byok_contracts import NotFound
from byok_resolver.errors import KeySourceUnavailable
from byok_resolver.ports import Material

__all__ = ["InMemoryKeySource"]


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
