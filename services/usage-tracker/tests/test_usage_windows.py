"""Windows through days and hours sum exactly like the calls, across restarts, crashes and
the upgrade from earlier layouts; a flush writes a bounded number of records at a time."""

from __future__ import annotations

import asyncio
import json
import random
from datetime import datetime, timedelta
from typing import Any

import pytest

from byok_contracts.v1 import UsageRecorded
from byok_usage_tracker import aggregates
from byok_usage_tracker.adapters.memory import MemoryAggregateStore
from byok_usage_tracker.aggregates import digest, minute_of

from .test_usage_records import T0, event, q, tracker_on


def _brute(calls: list[UsageRecorded], since: datetime | None, until: datetime | None) -> int:
    return sum(
        c.input_tokens
        for c in calls
        if (since is None or c.occurred_at >= since) and (until is None or c.occurred_at < until)
    )


def _calls(rng: random.Random, n: int) -> list[UsageRecorded]:
    return [
        # 4 days around T0, the first of a month: windows cut through months too
        event(
            f"r{i}", minute=rng.randrange(-2 * 1440, 2 * 1440), input_tokens=rng.randrange(1, 999)
        )
        for i in range(n)
    ]


def _moments(rng: random.Random) -> list[datetime | None]:
    """Window ends: none, random minutes (cutting hours, days and months), hour, day and
    month edges."""
    edges = [T0 + timedelta(hours=h) for h in (-25, -1, 0, 1, 23, 24, 50)]
    randoms = [T0 + timedelta(minutes=rng.randrange(-3 * 1440, 3 * 1440)) for _ in range(10)]
    return [None, *edges, *randoms]


async def _check_windows(tracker: Any, calls: list[UsageRecorded], rng: random.Random) -> None:
    moments = _moments(rng)
    for since in moments:
        for until in moments:
            if since is not None and until is not None and since > until:
                continue
            for query in (q(account="acme"), q(scope={"type": "workspace", "id": "w1"})):
                window = query.model_copy(update={"since": since, "until": until})
                report = await tracker.query(window)
                assert report.input_tokens == _brute(calls, since, until), (since, until)


async def test_windows_cutting_through_days_and_hours_sum_like_the_calls() -> None:
    rng = random.Random(13)
    calls = _calls(rng, 400)
    store = MemoryAggregateStore()
    writer = tracker_on(store)
    for seq, call in enumerate(calls[:300], start=1):
        await writer.record(call, seq)
    await writer.checkpoint(300)
    live = tracker_on(store, capacity=2)  # some days in memory, the others from the store
    await live.aggregates.start()
    for seq, call in enumerate(calls[300:], start=301):
        await live.record(call, seq)
    await _check_windows(live, calls, rng)
    await live.checkpoint(400)
    restarted = tracker_on(store)
    assert (await restarted.query(q(key_id="k1"))).input_tokens == _brute(calls, None, None)
    await _check_windows(restarted, calls, rng)


def _plus(a: list[Any], b: list[Any]) -> list[Any]:
    """Stored sums added (these calls are unpriced: usd stays "0")."""
    return [a[0] + b[0], a[1] + b[1], a[2] + b[2], "0", 0]


def _second_layout(store: MemoryAggregateStore, calls: list[UsageRecorded]) -> None:
    """``calls`` (seq 1..n) as the previous code stored them: a whole-day minute record and
    a totals record without hours per dimension and day, request ids in their own record."""
    days: dict[str, dict[int, dict[str, Any]]] = {}
    for seq, call in enumerate(calls, start=1):
        minute = minute_of(call.occurred_at)
        sums = [1, call.input_tokens, call.output_tokens, "0", 0]
        for dim in ("account:acme", "scope:workspace.w1", "scope:session.s1", "key:k1"):
            record = days.setdefault(dim, {}).setdefault(minute // 1440, {"minutes": {}})
            record["seq"] = seq
            models = record["minutes"].setdefault(str(minute), {})
            old = models.get(call.model, [0, 0, 0, "0", 0])
            models[call.model] = _plus(old, sums)
        requests = days.setdefault("req", {}).setdefault(minute // 1440, {})
        requests[digest(call.request_id)] = seq
    for dim, per_day in days.items():
        for day, record in per_day.items():
            if dim == "req":
                store.records[f"req.{digest('account:acme')}.{day}"] = json.dumps(record).encode()
                continue
            key = f"{digest(dim)}.{day}"
            totals: dict[str, list[Any]] = {}
            for models in record["minutes"].values():
                for model, s in models.items():
                    t = totals.setdefault(model, [0, 0, 0, "0", 0])
                    totals[model] = _plus(t, s)
            record["last"] = max(int(m) for m in record["minutes"])
            store.records[f"day.{key}"] = json.dumps(record).encode()
            tot = {"seq": record["seq"], "models": totals}
            store.records[f"tot.{key}"] = json.dumps(tot).encode()
        if dim != "req":
            store.records[f"days.{digest(dim)}"] = json.dumps(sorted(per_day)).encode()
    store.seq = len(calls)


async def test_windows_stay_exact_across_the_upgrade_from_whole_day_records() -> None:
    rng = random.Random(7)
    calls = _calls(rng, 300)
    store = MemoryAggregateStore()
    _second_layout(store, calls[:200])
    live = tracker_on(store, capacity=2)
    await live.aggregates.start()
    await _check_windows(live, calls[:200], rng)  # old records only
    for seq, call in enumerate(calls[200:], start=201):
        assert await live.record(call, seq)
    assert not await live.record(calls[5], 301)  # counted by the previous code
    await _check_windows(live, calls, rng)  # some days moved, in memory or stored
    await live.checkpoint(301)
    await _check_windows(tracker_on(store), calls, rng)


class _CrashingStore(MemoryAggregateStore):
    """A store whose writes of keys starting with ``fail`` fail: a crash mid-flush."""

    def __init__(self) -> None:
        super().__init__()
        self.fail: tuple[str, ...] = ()

    async def put(self, key: str, value: bytes) -> None:
        if key.startswith(self.fail):
            raise ConnectionError("lost")
        await super().put(key, value)


@pytest.mark.parametrize("lost", ["tot.", "min.", "mon.", "req."])
async def test_a_crash_between_the_writes_of_a_flush_counts_nothing_twice(lost: str) -> None:
    rng = random.Random(3)
    calls = _calls(rng, 200)
    store = _CrashingStore()
    first = tracker_on(store)
    for seq, call in enumerate(calls[:100], start=1):
        await first.record(call, seq)
    await first.checkpoint(100)
    for seq, call in enumerate(calls[100:], start=101):
        await first.record(call, seq)
    store.fail = (lost,)
    with pytest.raises(ConnectionError):  # the other records of this flush are stored
        await first.checkpoint(200)
    store.fail = ()
    assert store.seq == 100
    restarted = tracker_on(store)  # replays everything after the checkpoint
    await restarted.aggregates.start()
    for seq, call in enumerate(calls[100:], start=101):
        assert await restarted.record(call, seq)  # the same message: not a duplicate
    await _check_windows(restarted, calls, rng)
    await restarted.checkpoint(200)
    await _check_windows(tracker_on(store), calls, rng)


class _SlowStore(MemoryAggregateStore):
    def __init__(self) -> None:
        super().__init__()
        self.in_flight = self.most = 0

    async def put(self, key: str, value: bytes) -> None:
        self.in_flight += 1
        self.most = max(self.most, self.in_flight)
        await asyncio.sleep(0)
        self.in_flight -= 1
        await super().put(key, value)


async def test_a_flush_keeps_a_bounded_number_of_writes_outstanding() -> None:
    """A query arriving during a flush (the first one after a restart does) queues behind
    at most that many writes, not the whole flush."""
    store = _SlowStore()
    tracker = tracker_on(store, flush_in_flight=4)
    for i in range(50):
        chain = [{"type": "session", "id": f"s{i}"}]
        await tracker.record(event(f"r{i}", minute=i * 61, chain=chain), i + 1)
    await tracker.checkpoint(50)
    assert len(store.records) > 100
    assert store.most == 4


class _GatedStore(MemoryAggregateStore):
    """Writes wait for ``writes``, reads for ``reads``: a flush and a query held mid-way."""

    def __init__(self) -> None:
        super().__init__()
        self.writes, self.reads = asyncio.Event(), asyncio.Event()
        self.reads.set()
        self.started = 0

    async def put(self, key: str, value: bytes) -> None:
        self.started += 1
        await self.writes.wait()
        await super().put(key, value)

    async def get(self, key: str) -> bytes | None:
        await self.reads.wait()
        return await super().get(key)


async def _settle() -> None:
    for _ in range(50):
        await asyncio.sleep(0)


async def test_a_flush_starts_no_write_while_a_query_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aggregates, "QUERY_FIRST_S", 60.0)  # no timing in this test
    store = _GatedStore()
    store.writes.set()
    tracker = tracker_on(store, capacity=1, flush_in_flight=2)
    for i in range(20):
        await tracker.record(event(f"r{i}", minute=i * 1440), i + 1)
    await tracker.checkpoint(20)  # w1's days are stored, and no longer in memory
    elsewhere = {"account": "other", "chain": [{"type": "workspace", "id": "w2"}], "key_id": "k2"}
    for i in range(20, 40):
        await tracker.record(event(f"r{i}", minute=(i - 20) * 1440 + 61, **elsewhere), i + 1)
    store.writes.clear()
    store.started = 0
    flush = asyncio.create_task(tracker.checkpoint(40))
    await _settle()
    assert store.started == 2  # the flush's first writes, held
    store.reads.clear()
    query = asyncio.create_task(tracker.query(q(scope={"type": "workspace", "id": "w1"})))
    await _settle()
    store.writes.set()  # those two complete; the next wait for the query
    await _settle()
    assert store.started == 2
    assert not flush.done()
    store.reads.set()
    assert (await query).calls == 20
    await flush
    assert store.started > 40
    assert store.seq == 40
