"""Usage aggregates per dimension, day and hour, by minute and model, persisted and bounded.

A dimension (a scope, a key, an account) has, per UTC day it saw calls in, a totals record
(the day's and each hour's totals) and a minute record per hour (see :mod:`.records`).
Each account day also has a request record: the request ids of that day (a short digest ->
the stream sequence that carried it), so a request republished beyond the stream's
duplicate window counts once, per (account, request_id).

A query reads the totals of the days wholly inside its window; for the (at most two) days
it cuts through, their totals record and the minute records of the (at most two) hours it
cuts through, all at once. Its cost follows the window's shape: not how many calls a day
or an hour holds, nor how much history there is, and it never reads request ids.

Records live in JetStream KV; memory holds an LRU of days (the changed ones until they are
stored; of a stored day only its totals and latest hour) and a smaller LRU of request
records. A flush writes only the hours that changed, a bounded number at a time, so a
query arriving meanwhile (the first one after a restart lands in the catch-up's flush)
waits behind a few writes, not the whole flush. Start-up resumes from the checkpoint (the
stream sequence every stored record includes), and each record ignores a sequence it has
already applied, so a crash between two record writes counts nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
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
    HOUR,
    Day,
    DayTotals,
    HourRecord,
    Minutes,
    Sums,
    Totals,
    add_into,
    hour_totals,
    legacy_minutes,
    requests_of_old_day,
    totals_of,
    window_totals,
)

__all__ = ["Aggregates", "digest", "minute_of"]

V = TypeVar("V")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_DAY = 1440  # minutes
FLUSH_IN_FLIGHT = 32  # record writes outstanding at once during a flush
# A flush holds its next writes while a query runs, at most this long per write: queries
# go first, and a stream of queries still cannot stop the checkpoint.
QUERY_FIRST_S = 0.1


@lru_cache(maxsize=65_536)
def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def minute_of(moment: datetime) -> int:
    return int((moment - _EPOCH).total_seconds() // 60)


def _sums_of(call: Call) -> Sums:
    usd = call.usd if call.usd is not None else Decimal(0)
    return [1, call.input_tokens, call.output_tokens, usd, 1 if call.usd is not None else 0]


class Aggregates:
    def __init__(
        self,
        store: AggregateStore,
        *,
        capacity: int = 4096,
        request_capacity: int = 256,
        flush_in_flight: int = FLUSH_IN_FLIGHT,
    ) -> None:
        self.store = store
        self.capacity = capacity
        self.request_capacity = request_capacity
        self.flush_in_flight = flush_in_flight
        self._days: OrderedDict[str, Day] = OrderedDict()  # "<dim digest>.<day>"
        self._dirty: set[str] = set()
        self._requests: OrderedDict[str, dict[str, int]] = OrderedDict()
        self._dirty_requests: set[str] = set()
        self._day_lists: dict[str, set[int]] = {}  # dim digest -> days with a record
        self._dirty_lists: set[str] = set()
        self._queries = 0
        self._no_query = asyncio.Event()
        self._no_query.set()
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
        self._dirty_requests.add(f"req.{digest(f'account:{account}')}.{day}")
        sums = _sums_of(call)
        for dim in dims:
            key = _day_key(dim, day)
            record = await self._day(dim, day)
            await self._load_hour(key, record, minute // HOUR)
            if record.add(minute, call.model, sums, seq):
                self._dirty.add(key)
        return True

    async def flush(self, seq: int) -> None:
        """Store every changed record, then the checkpoint ``seq`` they all include."""
        writes = [
            (key, json.dumps(self._requests[key], separators=(",", ":")).encode())
            for key in self._dirty_requests
            if key in self._requests
        ]
        stored: list[Day] = []
        for key in self._dirty:
            if (record := self._days.get(key)) is not None:
                tot, hours = record.dump()
                dim_key = key.partition(".")[0]
                writes.append((f"tot.{key}", tot))
                writes += [(f"min.{dim_key}.{hour}", raw) for hour, raw in hours.items()]
                stored.append(record)
        writes += [
            (f"days.{dim_key}", json.dumps(sorted(self._day_lists.get(dim_key, ()))).encode())
            for dim_key in self._dirty_lists
        ]
        await self._put_all(writes)
        for record in stored:
            record.stored()
        self._dirty_requests.clear()
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
        self._queries += 1
        self._no_query.clear()
        try:
            return await self._sums(dim, since, until)
        finally:
            self._queries -= 1
            if not self._queries:
                self._no_query.set()

    async def _sums(
        self, dim: str, since: datetime | None, until: datetime | None
    ) -> dict[str, list[int | Decimal]]:
        lo = minute_of(since) if since is not None else None
        hi = minute_of(until) if until is not None else None
        parts: list[asyncio.Future[Totals]] = []
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
        """A whole day: its totals record (or, for a day of an earlier layout without one,
        its minutes summed). The consumer's copy in memory is the freshest."""
        key = _day_key(dim, day)
        if (record := self._days.get(key)) is not None:
            return record.totals.models
        raw = await self.store.get(f"tot.{key}")
        if (record := self._days.get(key)) is not None:  # loaded meanwhile
            return record.totals.models
        if raw:
            return DayTotals.models_of(raw)
        legacy = await self.store.get(f"day.{key}")
        return totals_of(legacy_minutes(legacy)[1]) if legacy else {}

    async def _edge_totals(self, dim: str, day: int, lo: int | None, hi: int | None) -> Totals:
        """A day the window cuts through: the hours inside it from the day's totals, the
        minutes inside it of the (at most two) hours it cuts through from their records."""
        key = _day_key(dim, day)
        hours = range(day * 24, day * 24 + 24)
        edges = {m // HOUR for m in (lo, hi) if m is not None and m % HOUR and m // HOUR in hours}
        minute_keys = [f"min.{key.partition('.')[0]}.{hour}" for hour in sorted(edges)]
        record = self._days.get(key)
        if record is None:
            tot, *raws = await asyncio.gather(
                self.store.get(f"tot.{key}"), *(self.store.get(k) for k in minute_keys)
            )
            record = self._days.get(key)  # loaded meanwhile
            if record is None:
                totals = DayTotals.load(tot)
                if totals is None:  # an earlier layout: the whole day's minute record
                    legacy = await self.store.get(f"day.{key}")
                    day_minutes = legacy_minutes(legacy)[1] if legacy else {}
                    return window_totals(hour_totals(day_minutes), day_minutes, lo, hi)
                loaded: Minutes = {}
                for raw in raws:  # distinct hours: no minute in two records
                    loaded.update(HourRecord.load(raw).minutes)
                return window_totals(totals.hours, loaded, lo, hi)
        # The consumer's copy: an hour it has not loaded is as stored. What a query reads
        # stays its own: put into that copy, it could go stale before the next call.
        minutes: Minutes = {}
        for hour, minute_key in zip(sorted(edges), minute_keys, strict=True):
            if hour in record.hours or hour not in record.totals.hours:
                continue
            raw = await self.store.get(minute_key)
            if hour not in record.hours:  # loaded meanwhile: that copy is fresher
                minutes.update(HourRecord.load(raw).minutes)
        for hour in edges & record.hours.keys():
            minutes.update(record.hours[hour].minutes)
        return window_totals(record.totals.hours, minutes, lo, hi)

    # -- records ------------------------------------------------------------

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
        record of the first layout (which carried the request ids itself)."""
        key = f"req.{digest(f'account:{account}')}.{day}"
        requests = self._requests.get(key)
        if requests is not None:
            self._requests.move_to_end(key)
            return requests
        raw = await self.store.get(key)
        if raw:
            requests = {str(k): int(v) for k, v in json.loads(raw).items()}
        else:
            legacy = await self.store.get(f"day.{_day_key(f'account:{account}', day)}")
            requests = requests_of_old_day(legacy)
        self._requests[key] = requests
        return requests

    async def _day(self, dim: str, day: int) -> Day:
        key = _day_key(dim, day)
        record = self._days.get(key)
        if record is not None:
            self._days.move_to_end(key)
            return record
        # the record of an earlier layout is read along, in the same round trip
        tot, legacy = await asyncio.gather(
            self.store.get(f"tot.{key}"), self.store.get(f"day.{key}")
        )
        totals = DayTotals.load(tot)
        if totals is not None:
            record = Day(totals)
        elif legacy:
            record = Day.from_legacy(legacy)
        else:
            record = Day()
        if key in self._days:  # loaded meanwhile
            return self._days[key]
        self._days[key] = record
        if record.dirty_hours:
            self._dirty.add(key)  # moved to this layout: stored at the next flush
        days = await self._days_of(dim)
        if day not in days:
            days.add(day)
            self._dirty_lists.add(digest(dim))
        return record

    async def _load_hour(self, key: str, record: Day, hour: int) -> None:
        """Load an hour's minute record before it changes. An hour the day's totals do not
        name has none worth reading: a record written by a flush that crashed before the
        totals holds only calls after the checkpoint, which are replayed into a new one."""
        if hour in record.hours:
            return
        if hour not in record.totals.hours:
            record.hours[hour] = HourRecord()
            return
        raw = await self.store.get(f"min.{key.partition('.')[0]}.{hour}")
        if hour not in record.hours:
            record.hours[hour] = HourRecord.load(raw)

    async def _put_all(self, writes: list[tuple[str, bytes]]) -> None:
        """Write with at most ``flush_in_flight`` outstanding, none started while a query
        runs: a query's reads queue behind those few, not behind the whole flush."""
        slots = asyncio.Semaphore(self.flush_in_flight)

        async def put(key: str, value: bytes) -> None:
            async with slots:
                if self._queries:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._no_query.wait(), QUERY_FIRST_S)
                await self.store.put(key, value)

        await asyncio.gather(*(put(key, value) for key, value in writes))

    def _evict(self) -> None:
        _drop_clean(self._days, self._dirty, self.capacity)
        _drop_clean(self._requests, self._dirty_requests, self.request_capacity)
        if len(self._day_lists) > self.capacity:
            for dim_key in list(self._day_lists)[: len(self._day_lists) - self.capacity]:
                if dim_key not in self._dirty_lists:
                    del self._day_lists[dim_key]


def _day_key(dim: str, day: int) -> str:
    return f"{digest(dim)}.{day}"


def _drop_clean(cache: OrderedDict[str, V], dirty: set[str], capacity: int) -> None:
    """Drop the least recently used entries not waiting to be stored, down to ``capacity``."""
    for key in list(cache):
        if len(cache) <= capacity:
            break
        if key not in dirty:
            del cache[key]
