"""What the usage-tracker needs: a key-value store for its aggregates and checkpoint."""

from __future__ import annotations

from typing import Protocol

__all__ = ["AggregateStore"]


class AggregateStore(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def put(self, key: str, value: bytes) -> None: ...

    async def checkpoint(self) -> int:
        """The stream sequence every stored aggregate includes (0: none yet)."""
        ...

    async def set_checkpoint(self, seq: int) -> None: ...
