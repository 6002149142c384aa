"""The stored layout of usage aggregates: totals records, request records, the upgrade path."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from byok_contracts import Catalog
from byok_contracts.pricing import Pricing
from byok_contracts.v1 import QueryUsage, UsageRecorded
from byok_usage_tracker.adapters.memory import MemoryAggregateStore
from byok_usage_tracker.aggregates import Aggregates, digest, minute_of
from byok_usage_tracker.handlers import UsageTracker

T0 = datetime(2025, 6, 1, tzinfo=UTC)
PRICING = Pricing(Catalog.load())
ACCOUNT = digest("account:acme")
DAY0 = minute_of(T0) // 1440


def event(rid: str, minute: int = 0, **overrides: Any) -> UsageRecorded:
    values: dict[str, Any] = {
        "request_id": rid,
        "account": "acme",
        "chain": [{"type": "session", "id": "s1"}, {"type": "workspace", "id": "w1"}],
        "key_id": "k1",
        "source": "byok",
        "provider": "anthropic",
        "model": "claude-sonnet-4-6",
        "input_tokens": 1000,
        "output_tokens": 500,
        "occurred_at": T0 + timedelta(minutes=minute),
    }
    values.update(overrides)
    return UsageRecorded.model_validate(values)


def q(**kwargs: Any) -> QueryUsage:
    return QueryUsage.model_validate(kwargs)


class _CountingStore(MemoryAggregateStore):
    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    async def get(self, key: str) -> bytes | None:
        self.reads.append(key)
        return await super().get(key)


def tracker_on(store: MemoryAggregateStore, **kwargs: Any) -> UsageTracker:
    return UsageTracker(Aggregates(store, **kwargs), PRICING)


async def test_request_ids_live_in_their_own_record_and_dedupe_across_a_restart() -> None:
    store = MemoryAggregateStore()
    first = tracker_on(store)
    assert await first.record(event("r1"), 1)
    await first.checkpoint(1)
    assert json.loads(store.records[f"req.{ACCOUNT}.{DAY0}"]) == {digest("r1"): 1}
    assert "requests" not in json.loads(store.records[f"day.{ACCOUNT}.{DAY0}"])
    restarted = tracker_on(store, capacity=1, request_capacity=1)
    await restarted.aggregates.start()
    assert not await restarted.record(event("r1"), 2)  # republished: counted once
    assert (await restarted.query(q(account="acme"))).calls == 1


def _old_layout(store: MemoryAggregateStore) -> None:
    """What the previous code stored for r1 (seq 1) and r2 (seq 2), minute 0 and 3 of DAY0."""
    sums = [1, 1000, 500, "0.0105", 1]
    minutes = {str(DAY0 * 1440): {"claude-sonnet-4-6": sums}, str(DAY0 * 1440 + 3): {"x": sums}}
    for dim in ("scope:session.s1", "key:k1", "account:acme"):
        record: dict[str, Any] = {"seq": 2, "minutes": minutes}
        if dim.startswith("account:"):
            record["requests"] = {digest("r1"): 1, digest("r2"): 2}
        store.records[f"day.{digest(dim)}.{DAY0}"] = json.dumps(record).encode()
        store.records[f"days.{digest(dim)}"] = json.dumps([DAY0]).encode()
    store.seq = 2


async def test_old_records_are_answered_from_their_minutes() -> None:
    store = MemoryAggregateStore()
    _old_layout(store)
    tracker = tracker_on(store)
    await tracker.aggregates.start()
    report = await tracker.query(q(account="acme"))  # a whole day, no totals record yet
    assert (report.calls, report.input_tokens, report.by_model["x"].calls) == (2, 2000, 1)
    assert report.estimated_cost_usd == pytest.approx(0.021)
    window = q(key_id="k1", since=T0 + timedelta(minutes=1))
    assert (await tracker.query(window)).calls == 1


async def test_upgrade_keeps_the_request_ids_of_an_old_day_record() -> None:
    store = MemoryAggregateStore()
    _old_layout(store)
    tracker = tracker_on(store)
    await tracker.aggregates.start()
    assert not await tracker.record(event("r1"), 3)  # counted by the previous code
    assert await tracker.record(event("r9", minute=9), 4)
    await tracker.checkpoint(4)
    # the day record is rewritten without ids: they now live in the request record
    assert "requests" not in json.loads(store.records[f"day.{ACCOUNT}.{DAY0}"])
    assert set(json.loads(store.records[f"req.{ACCOUNT}.{DAY0}"])) == {
        digest("r1"),
        digest("r2"),
        digest("r9"),
    }
    restarted = tracker_on(store)
    await restarted.aggregates.start()
    assert not await restarted.record(event("r2"), 5)
    assert not await restarted.record(event("r9", minute=9), 6)
    assert (await restarted.query(q(account="acme"))).calls == 3


async def test_a_query_reads_totals_for_whole_days_and_never_request_ids() -> None:
    store = _CountingStore()
    writer = tracker_on(store)
    for i, day in enumerate(range(5)):
        await writer.record(event(f"r{i}", minute=day * 1440 + 30), i + 1)
    await writer.checkpoint(5)
    store.reads.clear()
    reader = tracker_on(store)
    since = T0 + timedelta(minutes=60)  # cuts through the first day: one minute record
    assert (await reader.query(q(account="acme", since=since))).calls == 4
    minute_reads = [key for key in store.reads if key.startswith("day.")]
    assert minute_reads == [f"day.{ACCOUNT}.{DAY0}"]
    assert len([key for key in store.reads if key.startswith("tot.")]) == 4
    assert not [key for key in store.reads if key.startswith("req.")]


def _brute(calls: list[UsageRecorded], since: datetime | None, until: datetime | None) -> int:
    return sum(
        c.input_tokens
        for c in calls
        if (since is None or c.occurred_at >= since) and (until is None or c.occurred_at < until)
    )


async def test_windows_cutting_through_days_sum_like_the_calls() -> None:
    rng = random.Random(13)
    calls = [
        event(f"r{i}", minute=rng.randrange(4 * 1440), input_tokens=rng.randrange(1, 999))
        for i in range(400)
    ]
    store = MemoryAggregateStore()
    writer = tracker_on(store)
    for seq, call in enumerate(calls[:300], start=1):
        await writer.record(call, seq)
    await writer.checkpoint(300)
    live = tracker_on(store, capacity=2)  # some days in memory, the others from the store
    await live.aggregates.start()
    for seq, call in enumerate(calls[300:], start=301):
        await live.record(call, seq)
    moments = [None, *(T0 + timedelta(minutes=rng.randrange(-60, 5 * 1440)) for _ in range(12))]
    for since in moments:
        for until in moments:
            if since is not None and until is not None and since > until:
                continue
            for query in (q(account="acme"), q(scope={"type": "workspace", "id": "w1"})):
                window = query.model_copy(update={"since": since, "until": until})
                report = await live.query(window)
                assert report.input_tokens == _brute(calls, since, until), (since, until)
    await live.checkpoint(400)
    restarted = tracker_on(store)
    assert (await restarted.query(q(key_id="k1"))).input_tokens == _brute(calls, None, None)


async def test_request_records_are_bounded_in_memory() -> None:
    tracker = tracker_on(MemoryAggregateStore(), capacity=8, request_capacity=2)
    for day in range(6):
        await tracker.record(event(f"r{day}", minute=day * 1440), day + 1)
        await tracker.checkpoint(day + 1)
    aggregates = tracker.aggregates
    assert len(aggregates._requests) <= 2
    assert len(aggregates) <= 8


async def test_a_totals_record_behind_its_minute_record_is_not_trusted() -> None:
    """A crash between the two writes of a flush: the consumer reads the minutes back."""
    store = MemoryAggregateStore()
    writer = tracker_on(store)
    await writer.record(event("r1", minute=5), 1)
    await writer.checkpoint(1)
    stale = store.records[f"tot.{ACCOUNT}.{DAY0}"]
    await writer.record(event("r2", minute=2), 2)  # earlier minute: merged, not appended
    await writer.record(event("r3", minute=9), 3)
    await writer.checkpoint(3)
    store.records[f"tot.{ACCOUNT}.{DAY0}"] = stale
    restarted = tracker_on(store)
    await restarted.aggregates.start()
    assert await restarted.record(event("r4", minute=10), 4)
    await restarted.checkpoint(4)
    assert (await tracker_on(store).query(q(account="acme"))).calls == 4
    minutes = json.loads(store.records[f"day.{ACCOUNT}.{DAY0}"])["minutes"]
    assert sorted(int(m) - DAY0 * 1440 for m in minutes) == [2, 5, 9, 10]
