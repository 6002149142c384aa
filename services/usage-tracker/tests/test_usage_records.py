"""The stored layout of usage aggregates: totals records, request records, the upgrade path."""

from __future__ import annotations

import json
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
    assert "requests" not in json.loads(store.records[f"min.{ACCOUNT}.{DAY0 * 24}"])
    assert not [key for key in store.records if key.startswith("day.")]
    restarted = tracker_on(store, capacity=1, request_capacity=1)
    await restarted.aggregates.start()
    assert not await restarted.record(event("r1"), 2)  # republished: counted once
    assert (await restarted.query(q(account="acme"))).calls == 1


def _old_layout(store: MemoryAggregateStore, *, with_totals: bool = False) -> None:
    """What earlier code stored for r1 (seq 1) and r2 (seq 2), minute 0 and 3 of DAY0: a
    whole-day minute record (the first layout carried the account's request ids in it; the
    second wrote a totals record without hours beside it)."""
    sums = [1, 1000, 500, "0.0105", 1]
    minutes = {str(DAY0 * 1440): {"claude-sonnet-4-6": sums}, str(DAY0 * 1440 + 3): {"x": sums}}
    for dim in ("scope:session.s1", "key:k1", "account:acme"):
        record: dict[str, Any] = {"seq": 2, "minutes": minutes}
        if with_totals:
            record["last"] = DAY0 * 1440 + 3
            models = {"claude-sonnet-4-6": sums, "x": sums}
            totals = {"seq": 2, "models": models}
            store.records[f"tot.{digest(dim)}.{DAY0}"] = json.dumps(totals).encode()
        elif dim.startswith("account:"):
            record["requests"] = {digest("r1"): 1, digest("r2"): 2}
        store.records[f"day.{digest(dim)}.{DAY0}"] = json.dumps(record).encode()
        store.records[f"days.{digest(dim)}"] = json.dumps([DAY0]).encode()
    if with_totals:
        requests = {digest("r1"): 1, digest("r2"): 2}
        store.records[f"req.{ACCOUNT}.{DAY0}"] = json.dumps(requests).encode()
    store.seq = 2


@pytest.mark.parametrize("with_totals", [False, True], ids=["first-layout", "second-layout"])
async def test_old_records_are_answered_from_their_minutes(with_totals: bool) -> None:
    store = MemoryAggregateStore()
    _old_layout(store, with_totals=with_totals)
    tracker = tracker_on(store)
    await tracker.aggregates.start()
    report = await tracker.query(q(account="acme"))
    assert (report.calls, report.input_tokens, report.by_model["x"].calls) == (2, 2000, 1)
    assert report.estimated_cost_usd == pytest.approx(0.021)
    window = q(key_id="k1", since=T0 + timedelta(minutes=1))
    assert (await tracker.query(window)).calls == 1
    window = q(key_id="k1", since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3))
    assert (await tracker.query(window)).calls == 0


@pytest.mark.parametrize("with_totals", [False, True], ids=["first-layout", "second-layout"])
async def test_upgrade_moves_an_old_day_to_hours_and_keeps_its_request_ids(
    with_totals: bool,
) -> None:
    store = MemoryAggregateStore()
    _old_layout(store, with_totals=with_totals)
    old_day = store.records[f"day.{ACCOUNT}.{DAY0}"]
    tracker = tracker_on(store)
    await tracker.aggregates.start()
    assert not await tracker.record(event("r1"), 3)  # counted by the previous code
    assert await tracker.record(event("r9", minute=9), 4)
    assert await tracker.record(event("r10", minute=125), 5)
    await tracker.checkpoint(5)
    assert store.records[f"day.{ACCOUNT}.{DAY0}"] == old_day  # never rewritten
    assert set(json.loads(store.records[f"req.{ACCOUNT}.{DAY0}"])) == {
        digest("r1"),
        digest("r2"),
        digest("r9"),
        digest("r10"),
    }
    first_hour = json.loads(store.records[f"min.{ACCOUNT}.{DAY0 * 24}"])["minutes"]
    assert sorted(int(m) - DAY0 * 1440 for m in first_hour) == [0, 3, 9]
    totals = json.loads(store.records[f"tot.{ACCOUNT}.{DAY0}"])
    assert {int(h) - DAY0 * 24: v["claude-sonnet-4-6"][0] for h, v in totals["hours"].items()} == {
        0: 2,
        2: 1,
    }
    restarted = tracker_on(store)
    await restarted.aggregates.start()
    assert not await restarted.record(event("r2"), 6)
    assert not await restarted.record(event("r9", minute=9), 7)
    assert (await restarted.query(q(account="acme"))).calls == 4
    window = q(account="acme", since=T0 + timedelta(minutes=2), until=T0 + timedelta(minutes=126))
    assert (await restarted.query(window)).calls == 3


async def test_a_query_reads_a_month_record_and_at_most_two_edge_days_and_hours() -> None:
    """Whole days: their month's record; a day the window cuts: its totals record and the
    minute records of the hours it cuts, however many calls the day holds."""
    store = _CountingStore()
    writer = tracker_on(store)
    seq = 0
    for day in range(5):
        for minute in range(0, 1440, 7):  # a dense day: calls in every hour
            seq += 1
            await writer.record(event(f"r{seq}", minute=day * 1440 + minute), seq)
    await writer.checkpoint(seq)
    reader = tracker_on(store)
    since = T0 + timedelta(minutes=90)  # cuts the first day in its second hour
    until = T0 + timedelta(days=4, minutes=200)  # cuts the last day in its fourth hour
    store.reads.clear()
    report = await reader.query(q(account="acme", since=since, until=until))
    assert report.calls == len([m for m in range(5 * 1440) if m % 1440 % 7 == 0 and 90 <= m < 5960])
    minute_reads = sorted(key for key in store.reads if key.startswith("min."))
    assert minute_reads == [f"min.{ACCOUNT}.{DAY0 * 24 + 1}", f"min.{ACCOUNT}.{DAY0 * 24 + 99}"]
    month = 2025 * 12 + 5  # June 2025
    assert sorted(key for key in store.reads if not key.startswith("min.")) == [
        f"days.{ACCOUNT}",
        f"mon.{ACCOUNT}.{month}",
        f"tot.{ACCOUNT}.{DAY0}",
        f"tot.{ACCOUNT}.{DAY0 + 4}",
    ]
    store.reads.clear()
    inside_one_hour = q(account="acme", since=since, until=since + timedelta(minutes=20))
    assert (await reader.query(inside_one_hour)).calls == 3  # minutes 91, 98, 105
    assert sorted(k for k in store.reads if k.startswith("min.")) == [
        f"min.{ACCOUNT}.{DAY0 * 24 + 1}"
    ]


async def test_memory_is_bounded_and_a_stored_day_keeps_only_its_latest_hour() -> None:
    tracker = tracker_on(MemoryAggregateStore(), capacity=8, request_capacity=2)
    seq = 0
    for day in range(6):
        for hour in range(24):
            seq += 1
            await tracker.record(event(f"r{seq}", minute=day * 1440 + hour * 60), seq)
        await tracker.checkpoint(seq)
    aggregates = tracker.aggregates
    assert len(aggregates._requests) <= 2
    assert len(aggregates) <= 8
    assert all(len(day.hours) <= 1 for day in aggregates._days.values())
