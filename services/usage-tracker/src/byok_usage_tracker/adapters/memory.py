"""The read model: every call once (by request_id), indexed per dimension by time.

It lives in memory and is rebuilt from the ``BYOK_USAGE`` stream at start
(the stream keeps 400 days), so any replica can rebuild it.
"""

from __future__ import annotations

from bisect import bisect_left, insort
from collections.abc import Sequence
from datetime import datetime
from operator import attrgetter

from ..domain import Call

__all__ = ["MemoryUsageStore"]

_AT = attrgetter("at")


class MemoryUsageStore:
    def __init__(self) -> None:
        self._seen: set[str] = set()
        self._by_dim: dict[str, list[Call]] = {}

    def add(self, call: Call, dims: Sequence[str]) -> bool:
        if call.request_id in self._seen:
            return False
        self._seen.add(call.request_id)
        for dim in dims:
            calls = self._by_dim.setdefault(dim, [])
            if not calls or calls[-1].at <= call.at:
                calls.append(call)  # the usual case: calls arrive in time order
            else:
                insort(calls, call, key=_AT)
        return True

    def calls(self, dim: str, since: datetime | None, until: datetime | None) -> Sequence[Call]:
        calls = self._by_dim.get(dim, [])
        lo = bisect_left(calls, since, key=_AT) if since is not None else 0
        hi = bisect_left(calls, until, key=_AT) if until is not None else len(calls)
        return calls[lo:hi]

    def __len__(self) -> int:
        return len(self._seen)
