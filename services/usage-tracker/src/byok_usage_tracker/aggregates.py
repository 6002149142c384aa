"""Usage aggregates per dimension and day, by minute and model, persisted and bounded.

A dimension (a scope, a key, an account) has, per UTC day it saw calls in, a minute
record and a totals record (see :mod:`.records`), and ``seq``, the last stream sequence
applied to them. Each account day also has a request record: the request ids of that day
(a short digest -> the stream sequence that carried it), so a request republished beyond
the stream's duplicate window counts once, per (account, request_id).

A query reads the totals of the days wholly inside its window and the minute records of
the (at most two) days it cuts through, all at once: its cost does not grow with how many
calls a day holds, and it never reads request ids.

Records live in JetStream KV; memory holds an LRU of day records (the changed ones until
they are stored) and a smaller LRU of request records. Start-up resumes from the
checkpoint (the stream sequence every stored record includes) and a record ignores a
sequence it already applied, so a crash between two record writes counts nothing twice.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections import OrderedDict
from datetime import UTC, datetime
from decimal import Decimal
from functools import lru_cache
from typing import TypeVar

from .domain import Call
from .ports import AggregateStore
from .records import (
    DayRecord,
    Totals,
    add_into,
    load_totals,
    requests_of_old_day,
    totals_of,
)

__all__ = ["Aggregates", "DayRecord"]

V = TypeVar("V")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 1440  # minutes


@lru_cache(maxsize=65_536)
def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def minute_of(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds() // 60)


class Aggregates:
    def __init__(
        self, store: AggregateStore, *, capacity: int = 4096, request_capacity: int = 256
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.request_capacity = request_capacity
        self._days: OrderedDict[str, DayRecord] = OrderedDict()
        self._dirty: set[str] = set()
        self._requests: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._dirty_requests: set[str] = set()
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
        requests = await self._requests_of(account, day)
        first = requests.setdefault(digest(call.request_id), seq)
        if first != seq:
            return False  # the same request, carried by an earlier message
        self._dirty_requests.add(self._key("req", f"account:{account}", day))
        for dim in dims:
            record = await self._day(dim, day)
            if record.seq >= seq:
                continue  # applied before a crash, replayed from the checkpoint
            record.add(minute, call)
            record.seq = seq
            self._dirty.add(self._key("day", dim, day))
        return True

    async def flush(self, seq: int) -> None:
        """Store every changed record, then the checkpoint ``seq`` they all include.

        Request records first: a day record of the previous layout loses its request ids
        when it is rewritten, so they must be stored in their own record before."""
        await asyncio.gather(
            *(
                self.store.put(key, json.dumps(self._requests[key], separators=(",", ":")).encode())
                for key in self._dirty_requests
                if key in self._requests
            )
        )
        self._dirty_requests.clear()
        writes: list[tuple[str, bytes]] = []
        for key in self._dirty:
            if (record := self._days.get(key)) is not None:
                day_raw, tot_raw = record.dump()
                writes += [(key, day_raw), ("tot" + key.removeprefix("day"), tot_raw)]
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
        parts: list[asyncio.Task[Totals] | asyncio.Future[Totals]] = []
        for day in sorted(await self._days_of(dim)):
            start, end = day * _DAY, (day + 1) * _DAY
            if (lo is not None and end <= lo) or (hi is not None and start >= hi):
                continue
            whole = (lo is None or lo <= start) and (hi is None or end <= hi)
            part = self._day_totals(dim, day) if whole else self._edge_totals(dim, day, lo, hi)
            parts.append(asyncio.ensure_future(part))
        out: dict[str, list[int | Decimal]] = {}
        for totals in await asyncio.gather(*parts):
            for model, s in totals.items():
                add_into(out, model, s)
        return out

    def __len__(self) -> int:
        return len(self._days)

    # -- queries --------------------------------------------------------------

    async def _day_totals(self, dim: str, day: int) -> Totals:
        """A whole day: its totals record (or, for a record of the previous layout, its
        minutes summed). The consumer's copy in memory is the freshest."""
        key = self._key("day", dim, day)
        if (record := self._days.get(key)) is not None:
            return record.totals
        raw = await self.store.get(self._key("tot", dim, day))
        if (record := self._days.get(key)) is not None:  # loaded meanwhile
            return record.totals
        if raw:
            return load_totals(raw)
        return await self._edge_totals(dim, day, None, None)

    async def _edge_totals(self, dim: str, day: int, lo: int | None, hi: int | None) -> Totals:
        """A day the window cuts through: the minutes inside it, from the minute record."""
        key = self._key("day", dim, day)
        record = self._days.get(key)
        raw: bytes | None = None
        if record is None:
            raw = await self.store.get(key)
            record = self._days.get(key)  # loaded meanwhile
        if record is not None:
            minutes = record.minutes()
        else:
            minutes = DayRecord.minutes_of(raw) if raw else {}
        return totals_of(
            {
                m: models
                for m, models in minutes.items()
                if (lo is None or m >= lo) and (hi is None or m < hi)
            }
        )

    # -- records ------------------------------------------------------------

    @staticmethod
    def _key(kind: str, dim: str, day: int) -> str:
        return f"{kind}.{digest(dim)}.{day}"

    async def _days_of(self, dim: str) -> set[int]:
        dim_key = digest(dim)
        days = self._day_lists.get(dim_key)
        if days is None:
            raw = await self.store.get(f"days.{dim_key}")
            # A query and the consumer may both load this list: the one that finished
            # first may already have added a day to it, which must not be overwritten.
            days = self._day_lists.setdefault(dim_key, set(json.loads(raw)) if raw else set())
        return days

    async def _requests_of(self, account: str, day: int) -> dict[str, int]:
        """The request record of an account day; absent, seeded from the account's day
        record of the previous layout (which carried the request ids itself)."""
        dim = f"account:{account}"
        key = self._key("req", dim, day)
        requests = self._requests.get(key)
        if requests is not None:
            self._requests.move_to_end(key)
            return requests
        raw = await self.store.get(key)
        if raw:
            requests = {str(k): int(v) for k, v in json.loads(raw).items()}
        else:
            requests = requests_of_old_day(await self.store.get(self._key("day", dim, day)))
        self._requests[key] = requests
        return requests

    async def _day(self, dim: str, day: int) -> DayRecord:
        key = self._key("day", dim, day)
        record = self._days.get(key)
        if record is not None:
            self._days.move_to_end(key)
            return record
        raw, tot = await asyncio.gather(
            self.store.get(key), self.store.get(self._key("tot", dim, day))
        )
        record = DayRecord.load(raw, tot) if raw else DayRecord()
        if key in self._days:  # loaded meanwhile
            return self._days[key]
        self._days[key] = record
        days = await self._days_of(dim)
        if day not in days:
            days.add(day)
            self._dirty_lists.add(digest(dim))
        return record

    def _evict(self) -> None:
        _drop_clean(self._days, self._dirty, self.capacity)
        _drop_clean(self._requests, self._dirty_requests, self.request_capacity)
        if len(self._day_lists) > self.capacity:
            for dim_key in list(self._day_lists)[: len(self._day_lists) - self.capacity]:
                if dim_key not in self._dirty_lists:
                    del self._day_lists[dim_key]


def _drop_clean(cache: OrderedDict[str, V], dirty: set[str], capacity: int) -> None:
    """Drop the least recently used entries not waiting to be stored, down to ``capacity``."""
    for key in list(cache):
        if len(cache) <= capacity:
            break
        if key not in dirty:
            del cache[key]
