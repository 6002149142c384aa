"""What the usage-tracker needs: a store of calls indexed by dimension and time."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol

from .domain import Call

__all__ = ["UsageStore"]


class UsageStore(Protocol):
    def add(self, call: Call, dims: Sequence[str]) -> bool:
        """Record ``call`` under ``dims``; False (and no change) if its request_id is known."""
        ...

    def calls(self, dim: str, since: datetime | None, until: datetime | None) -> Sequence[Call]:
        """Calls of ``dim`` with ``since <= at < until``."""
        ...

    def __len__(self) -> int: ...
