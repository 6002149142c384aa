"""A window's sums from the aggregates: what a ``usage.query`` reads.

The days wholly inside the window come from their month records (one or two for a month's
window), the (at most two) days it cuts through from their totals records (hour totals),
and the (at most two per such day) hours it cuts through from their minute records; all
are read at once. A day no month record names (stored by earlier code, or whose month
record a crash lost until the replay) is read from its own records. The consumer's copy
of a record, when loaded, is the freshest and is read instead of the stored one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from datetime import datetime
from typing import TYPE_CHECKING

from .records import (
    DAY,
    HOUR,
    DayTotals,
    HourRecord,
    Minutes,
    Month,
    Totals,
    add_into,
    day_key,
    digest,
    hour_totals,
    legacy_minutes,
    minute_of,
    month_of,
    totals_of,
    window_totals,
)

if TYPE_CHECKING:
    from .aggregates import Aggregates

__all__ = ["window_sums"]


async def window_sums(
    aggregates: Aggregates, dim: str, since: datetime | None, until: datetime | None
) -> Totals:
    """Per model sums of the calls with ``since <= at < until``."""
    lo = minute_of(since) if since is not None else None
    hi = minute_of(until) if until is not None else None
    whole: list[int] = []
    parts: list[Awaitable[Totals]] = []
    for day in sorted(await aggregates.days_of(dim)):
        start, end = day * DAY, (day + 1) * DAY
        if (lo is not None and end <= lo) or (hi is not None and start >= hi):
            continue
        if (lo is None or lo <= start) and (hi is None or end <= hi):
            whole.append(day)
        else:
            parts.append(asyncio.ensure_future(_edge_totals(aggregates, dim, day, lo, hi)))
    months = sorted({month_of(day) for day in whole})
    named = await asyncio.gather(*(_month_days(aggregates, dim, month) for month in months))
    by_month = dict(zip(months, named, strict=True))
    out: Totals = {}
    for day in whole:
        totals = by_month[month_of(day)].get(day)
        if totals is None:  # named by no month record: read on its own
            parts.append(_day_totals(aggregates, dim, day))
            continue
        for model, sums in totals.items():
            add_into(out, model, sums)
    for totals in await asyncio.gather(*parts):
        for model, sums in totals.items():
            add_into(out, model, sums)
    return out


async def _month_days(aggregates: Aggregates, dim: str, month: int) -> Minutes:
    """The day totals of a dimension's month."""
    key = day_key(dim, month)
    if (record := aggregates.month_in_memory(key)) is not None:
        return record.days
    raw = await aggregates.store.get(f"mon.{key}")
    if (record := aggregates.month_in_memory(key)) is not None:  # loaded meanwhile
        return record.days
    return Month.load(raw).days


async def _day_totals(aggregates: Aggregates, dim: str, day: int) -> Totals:
    """A whole day from its totals record (or, for a day of an earlier layout without one,
    its minutes summed)."""
    key = day_key(dim, day)
    if (record := aggregates.day_in_memory(key)) is not None:
        return record.totals.models
    raw = await aggregates.store.get(f"tot.{key}")
    if (record := aggregates.day_in_memory(key)) is not None:  # loaded meanwhile
        return record.totals.models
    if raw:
        return DayTotals.models_of(raw)
    legacy = await aggregates.store.get(f"day.{key}")
    return totals_of(legacy_minutes(legacy)[1]) if legacy else {}


async def _edge_totals(
    aggregates: Aggregates, dim: str, day: int, lo: int | None, hi: int | None
) -> Totals:
    """A day the window cuts through: the hours inside it from the day's totals, the
    minutes inside it of the (at most two) hours it cuts through from their records."""
    key = day_key(dim, day)
    hours = range(day * 24, day * 24 + 24)
    edges = sorted(
        {m // HOUR for m in (lo, hi) if m is not None and m % HOUR and m // HOUR in hours}
    )
    minute_keys = [f"min.{digest(dim)}.{hour}" for hour in edges]
    record = aggregates.day_in_memory(key)
    if record is None:
        tot, *raws = await asyncio.gather(
            aggregates.store.get(f"tot.{key}"), *(aggregates.store.get(k) for k in minute_keys)
        )
        record = aggregates.day_in_memory(key)  # loaded meanwhile
        if record is None:
            totals = DayTotals.load(tot)
            if totals is None:  # an earlier layout: the whole day's minute record
                legacy = await aggregates.store.get(f"day.{key}")
                day_minutes = legacy_minutes(legacy)[1] if legacy else {}
                return window_totals(hour_totals(day_minutes), day_minutes, lo, hi)
            loaded: Minutes = {}
            for raw in raws:  # distinct hours: no minute in two records
                loaded.update(HourRecord.load(raw).minutes)
            return window_totals(totals.hours, loaded, lo, hi)
    # The consumer's copy: an hour it has not loaded is as stored. What a query reads
    # stays its own: put into that copy, it could go stale before the next call.
    minutes: Minutes = {}
    for hour, minute_key in zip(edges, minute_keys, strict=True):
        if hour in record.hours or hour not in record.totals.hours:
            continue
        raw = await aggregates.store.get(minute_key)
        if hour not in record.hours:  # loaded meanwhile: that copy is fresher
            minutes.update(HourRecord.load(raw).minutes)
    for hour in edges:
        if hour in record.hours:
            minutes.update(record.hours[hour].minutes)
    return window_totals(record.totals.hours, minutes, lo, hi)
