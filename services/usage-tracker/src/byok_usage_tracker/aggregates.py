"""Usage aggregates per dimension and day, by minute and model, persisted and bounded.

A dimension (a scope, a key, an account) has one record per UTC day it saw
calls in: per minute, per model, ``[calls, input, output, usd, priced_calls]``,
and ``seq``, the last stream sequence applied to it. A day record of an
``account:`` dimension also keeps the request ids of that day (a short digest
-> the stream sequence that carried it), so a request republished beyond the
stream's duplicate window counts once, per (account, request_id).

Records live in JetStream KV; memory holds an LRU of them (the changed ones
until they are stored). Start-up resumes from the checkpoint (the stream
sequence every stored record includes) and a record ignores a sequence it
already applied, so a crash between two record writes counts nothing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache

from .domain import Call
from .ports import AggregateStore

__all__ = ["Aggregates", "DayRecord"]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 1440  # minutes


@lru_cache(maxsize=65_536)
def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def minute_of(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds() // 60)


Sums = list[int | Decimal]  # [calls, input tokens, output tokens, usd, priced calls]


@dataclass
class DayRecord:
    seq: int = 0
    minutes: dict[int, dict[str, Sums]] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)

    def add(self, minute: int, call: Call) -> None:
        sums = self.minutes.setdefault(minute, {}).get(call.model)
        if sums is None:
            sums = self.minutes[minute][call.model] = [0, 0, 0, Decimal(0), 0]
        sums[0] += 1
        sums[1] += call.input_tokens
        sums[2] += call.output_tokens
        if call.usd is not None:
            sums[3] += call.usd
            sums[4] += 1

    def dump(self) -> bytes:
        minutes = {
            m: {model: [*s[:3], str(s[3]), s[4]] for model, s in models.items()}
            for m, models in self.minutes.items()
        }
        return json.dumps(
            {"seq": self.seq, "minutes": minutes, "requests": self.requests},
            separators=(",", ":"),
        ).encode()

    @classmethod
    def load(cls, raw: bytes) -> DayRecord:
        data = json.loads(raw)
        minutes: dict[int, dict[str, Sums]] = {
            int(m): {
                model: [int(s[0]), int(s[1]), int(s[2]), Decimal(s[3]), int(s[4])]
                for model, s in models.items()
            }
            for m, models in data["minutes"].items()
        }
        return cls(int(data["seq"]), minutes, dict(data.get("requests", {})))


class Aggregates:
    def __init__(self, store: AggregateStore, *, capacity: int = 4096) -> None:
        self.store = store
        self.capacity = capacity
        self._days: OrderedDict[str, DayRecord] = OrderedDict()
        self._dirty: set[str] = set()
        self._day_lists: dict[str, set[int]] = {}  # dim digest -> days with a record
        self._dirty_lists: set[str] = set()
        self.checkpoint = 0

    async def start(self) -> int:
        self.checkpoint = await self.store.checkpoint()
        return self.checkpoint

    async def add(self, call: Call, dims: list[str], account: str, seq: int) -> bool:
        """Count ``call`` (stream sequence ``seq``) once per (account, request_id)."""
        minute = minute_of(call.at)
        day = minute // _DAY
        owner = await self._day(f"account:{account}", day)
        rid = digest(call.request_id)
        first = owner.requests.setdefault(rid, seq)
        if first != seq:
            return False  # the same request, carried by an earlier message
        for dim in dims:
            record = await self._day(dim, day)
            if record.seq >= seq:
                continue  # applied before a crash, replayed from the checkpoint
            record.add(minute, call)
            record.seq = seq
            self._dirty.add(self._key(dim, day))
        owner.seq = max(owner.seq, seq)
        self._dirty.add(self._key(f"account:{account}", day))
        return True

    async def flush(self, seq: int) -> None:
        """Store every changed record, then the checkpoint ``seq`` they all include."""
        writes = [(key, self._days[key].dump()) for key in self._dirty if key in self._days]
        writes += [
            (f"days.{dim_key}", json.dumps(sorted(self._day_lists.get(dim_key, ()))).encode())
            for dim_key in self._dirty_lists
        ]
        await asyncio.gather(*(self.store.put(key, value) for key, value in writes))
        self._dirty.clear()
        self._dirty_lists.clear()
        if seq > self.checkpoint:
            await self.store.set_checkpoint(seq)
            self.checkpoint = seq
        self._evict()

    async def sums(
        self, dim: str, since: datetime | None, until: datetime | None
    ) -> dict[str, list[int | Decimal]]:
        """Per model ``[calls, input, output, usd, priced_calls]`` with ``since <= at < until``."""
        lo = minute_of(since) if since is not None else None
        hi = minute_of(until) if until is not None else None
        out: dict[str, list[int | Decimal]] = {}
        for day in sorted(await self._days_of(dim)):
            if (lo is not None and (day + 1) * _DAY <= lo) or (hi is not None and day * _DAY >= hi):
                continue
            record = await self._day(dim, day, create=False)
            for minute, models in record.minutes.items():
                if (lo is not None and minute < lo) or (hi is not None and minute >= hi):
                    continue
                for model, s in models.items():
                    into = out.setdefault(model, [0, 0, 0, Decimal(0), 0])
                    for i in range(5):
                        into[i] += s[i]
        return out

    def __len__(self) -> int:
        return len(self._days)

    # -- records ------------------------------------------------------------

    @staticmethod
    def _key(dim: str, day: int) -> str:
        return f"day.{digest(dim)}.{day}"

    async def _days_of(self, dim: str) -> set[int]:
        dim_key = digest(dim)
        days = self._day_lists.get(dim_key)
        if days is None:
            raw = await self.store.get(f"days.{dim_key}")
            # A query and the consumer may both load this list: the one that finished
            # first may already have added a day to it, which must not be overwritten.
            days = self._day_lists.setdefault(dim_key, set(json.loads(raw)) if raw else set())
        return days

    async def _day(self, dim: str, day: int, *, create: bool = True) -> DayRecord:
        key = self._key(dim, day)
        record = self._days.get(key)
        if record is not None:
            self._days.move_to_end(key)
            return record
        raw = await self.store.get(key)
        record = DayRecord.load(raw) if raw else DayRecord()
        if key in self._days:  # loaded meanwhile
            return self._days[key]
        self._days[key] = record
        if create:
            days = await self._days_of(dim)
            if day not in days:
                days.add(day)
                self._dirty_lists.add(digest(dim))
        return record

    def _evict(self) -> None:
        for key in list(self._days):
            if len(self._days) <= self.capacity:
                break
            if key not in self._dirty:
                del self._days[key]
        if len(self._day_lists) > self.capacity:
            for dim_key in list(self._day_lists)[: len(self._day_lists) - self.capacity]:
                if dim_key not in self._dirty_lists:
                    del self._day_lists[dim_key]
