"""Usage aggregates per dimension, month, day and hour, by minute and model, persisted.

A dimension (a scope, a key, an account) has, per calendar month, a record of its day
totals; per UTC day it saw calls in, a totals record (the day's and each hour's totals);
and a minute record per hour (see :mod:`.records`). Each account day also has a request
record: the request ids of that day (a short digest -> the stream sequence that carried
it), so a request republished beyond the stream's duplicate window counts once, per
(account, request_id).

A query (:mod:`.windows`) reads the month records of the days wholly inside its window,
and for the (at most two) days it cuts through their totals records and the minute
records of the (at most two) hours it cuts through, all at once. Its cost follows the
window's shape: not how many calls a day or an hour holds, nor how much history there is,
and it never reads request ids.

Records live in JetStream KV; memory holds an LRU of days and of months (the changed ones
until they are stored; of a stored day only its totals and latest hour) and a smaller LRU
of request records. A flush writes only the hours that changed, a bounded number at a
time and none while a query runs, so a query arriving meanwhile (the first one after a
restart lands in the catch-up's flush) waits behind a few writes, not the whole flush.
Start-up resumes from the checkpoint (the stream sequence every stored record includes),
and each record ignores a sequence it has already applied, so a crash between two record
writes counts nothing twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from datetime import datetime
from decimal import Decimal
from typing import TypeVar

from .domain import Call
from .ports import AggregateStore
from .records import (
    DAY,
    HOUR,
    Day,
    DayTotals,
    HourRecord,
    Month,
    Sums,
    day_key,
    digest,
    minute_of,
    month_of,
    requests_of_old_day,
)
from .windows import window_sums

__all__ = ["Aggregates", "digest", "minute_of"]  # the last two: re-exported for tests

V = TypeVar("V")

FLUSH_IN_FLIGHT = 32  # record writes outstanding at once during a flush
# A flush holds its next writes while a query runs, at most this long per write: queries
# go first, and a stream of queries still cannot stop the checkpoint.
QUERY_FIRST_S = 0.1


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
        self._months: OrderedDict[str, Month] = OrderedDict()  # "<dim digest>.<month>"
        self._dirty_months: set[str] = set()
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
        day = minute // DAY
        requests, loaded = await self._records_of(account, dims, day, minute // HOUR)
        first = requests.setdefault(digest(call.request_id), seq)
        if first != seq:
            return False  # the same request, carried by an earlier message
        self._dirty_requests.add(f"req.{digest(f'account:{account}')}.{day}")
        sums = _sums_of(call)
        for dim, (record, month) in zip(dims, loaded, strict=True):
            if record.add(minute, call.model, sums, seq):
                self._dirty.add(day_key(dim, day))
            if month.add(day, call.model, sums, seq):
                self._dirty_months.add(day_key(dim, month_of(day)))
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
        writes += [(f"mon.{key}", self._months[key].dump()) for key in self._dirty_months]
        writes += [
            (f"days.{dim_key}", json.dumps(sorted(self._day_lists.get(dim_key, ()))).encode())
            for dim_key in self._dirty_lists
        ]
        await self._put_all(writes)
        for record in stored:
            record.stored()
        self._dirty_requests.clear()
        self._dirty.clear()
        self._dirty_months.clear()
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
            return await window_sums(self, dim, since, until)
        finally:
            self._queries -= 1
            if not self._queries:
                self._no_query.set()

    def __len__(self) -> int:
        return len(self._days)

    def day_in_memory(self, key: str) -> Day | None:
        """The consumer's copy of a day (``<dim digest>.<day>``), the freshest, if loaded."""
        return self._days.get(key)

    def month_in_memory(self, key: str) -> Month | None:
        """The consumer's copy of a month (``<dim digest>.<month>``), if loaded."""
        return self._months.get(key)

    # -- records ------------------------------------------------------------

    async def days_of(self, dim: str) -> set[int]:
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
            legacy = await self.store.get(f"day.{day_key(f'account:{account}', day)}")
            requests = requests_of_old_day(legacy)
        self._requests[key] = requests
        return requests

    async def _records_of(
        self, account: str, dims: list[str], day: int, hour: int
    ) -> tuple[dict[str, int], list[tuple[Day, Month]]]:
        """A call's request record and, per dimension, its day (``hour`` loaded) and month."""
        requests = self._requests_in_memory(account, day)
        loaded = [self._day_in_memory(dim, day, hour) for dim in dims]
        if requests is not None and all(loaded):
            return requests, [pair for pair in loaded if pair is not None]
        # What is missing is loaded at once (a restart's catch-up reads most of it from
        # the store: round trips in a row would be its cost).
        return await asyncio.gather(
            self._requests_of(account, day),
            asyncio.gather(*(self._day(dim, day, hour) for dim in dims)),
        )

    def _day_in_memory(self, dim: str, day: int, hour: int) -> tuple[Day, Month] | None:
        """A day with ``hour`` loaded and its month, when all are in memory (most calls:
        an hour new to the day has nothing to read)."""
        key, month_key = day_key(dim, day), day_key(dim, month_of(day))
        record, month = self._days.get(key), self._months.get(month_key)
        if record is None or month is None:
            return None
        if hour not in record.hours:
            if hour in record.totals.hours:
                return None
            record.hours[hour] = HourRecord()
        self._days.move_to_end(key)
        self._months.move_to_end(month_key)
        return record, month

    def _requests_in_memory(self, account: str, day: int) -> dict[str, int] | None:
        key = f"req.{digest(f'account:{account}')}.{day}"
        if (requests := self._requests.get(key)) is not None:
            self._requests.move_to_end(key)
        return requests

    async def _day(self, dim: str, day: int, hour: int) -> tuple[Day, Month]:
        """The consumer's copy of a day, with ``hour`` loaded, and of its month; what is
        not in memory is read in one round trip (a day of an earlier layout is moved to
        this one, and named in its month)."""
        key, month_key = day_key(dim, day), day_key(dim, month_of(day))
        record, month = self._days.get(key), self._months.get(month_key)
        if record is not None and month is not None:
            self._days.move_to_end(key)
            self._months.move_to_end(month_key)
            if hour not in record.hours:
                await self._load_hour(dim, record, hour)
            return record, month
        # the hour, the dimension's list of days and the records of an earlier layout
        # are read along
        tot, legacy, raw_month, raw_hour, days = await asyncio.gather(
            self.store.get(f"tot.{key}"),
            self.store.get(f"day.{key}"),
            self.store.get(f"mon.{month_key}"),
            self.store.get(f"min.{digest(dim)}.{hour}"),
            self.days_of(dim),
        )
        month = self._months.setdefault(month_key, Month.load(raw_month))
        if (record := self._days.get(key)) is None:
            totals = DayTotals.load(tot)
            if totals is not None:
                record = Day(totals)
            elif legacy:
                record = Day.from_legacy(legacy)
                self._dirty.add(key)  # moved to this layout: stored at the next flush
                if month.adopt(day, record.totals.models):
                    self._dirty_months.add(month_key)
            else:
                record = Day()
            self._days[key] = record
        if hour not in record.hours:
            record.hours[hour] = _hour_record(record, hour, raw_hour)
        if day not in days:
            days.add(day)
            self._dirty_lists.add(digest(dim))
        return record, month

    async def _load_hour(self, dim: str, record: Day, hour: int) -> None:
        raw = None
        if hour in record.totals.hours:
            raw = await self.store.get(f"min.{digest(dim)}.{hour}")
        if hour not in record.hours:  # loaded meanwhile: that copy is fresher
            record.hours[hour] = _hour_record(record, hour, raw)

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
        _drop_clean(self._months, self._dirty_months, self.capacity)
        _drop_clean(self._requests, self._dirty_requests, self.request_capacity)
        if len(self._day_lists) > self.capacity:
            for dim_key in list(self._day_lists)[: len(self._day_lists) - self.capacity]:
                if dim_key not in self._dirty_lists:
                    del self._day_lists[dim_key]


def _hour_record(record: Day, hour: int, raw: bytes | None) -> HourRecord:
    """An hour's minute record as stored. An hour the day's totals do not name has none
    worth reading: a record written by a flush that crashed before the totals holds only
    calls after the checkpoint, which are replayed into a new one."""
    return HourRecord.load(raw) if hour in record.totals.hours else HourRecord()


def _drop_clean(cache: OrderedDict[str, V], dirty: set[str], capacity: int) -> None:
    """Drop the least recently used entries not waiting to be stored, down to ``capacity``."""
    for key in list(cache):
        if len(cache) <= capacity:
            break
        if key not in dirty:
            del cache[key]
