"""The in-memory aggregate store: the fake the unit tests run against."""

from __future__ import annotations

__all__ = ["MemoryAggregateStore"]


class MemoryAggregateStore:
    def __init__(self) -> None:
        self.records: dict[str, bytes] = {}
        self.seq = 0

    async def get(self, key: str) -> bytes | None:
        return self.records.get(key)

    async def put(self, key: str, value: bytes) -> None:
        self.records[key] = value

    async def checkpoint(self) -> int:
        return self.seq

    async def set_checkpoint(self, seq: int) -> None:
        self.seq = seq
