"""Usage aggregates and reports against the in-memory read model."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from byok_contracts import Catalog, MalformedRequest
from byok_contracts.pricing import Pricing
from byok_contracts.v1 import QueryUsage, UsageRecorded
from byok_usage_tracker.adapters.memory import MemoryAggregateStore
from byok_usage_tracker.aggregates import Aggregates
from byok_usage_tracker.domain import dimensions
from byok_usage_tracker.handlers import UsageTracker

T0 = datetime(2025, 6, 1, tzinfo=UTC)


def event(rid: str, minute: int = 0, **overrides: Any) -> UsageRecorded:
    values: dict[str, Any] = {
        "request_id": rid,
        "account": "acme",
        "chain": [
            {"type": "session", "id": "s1"},
            {"type": "workspace", "id": "w1"},
            {"type": "account", "id": "acme"},
        ],
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


@pytest.fixture
def tracker() -> UsageTracker:
    return UsageTracker(Aggregates(MemoryAggregateStore()), Pricing(Catalog.load()))


def q(**kwargs: Any) -> QueryUsage:
    return QueryUsage.model_validate(kwargs)


def test_a_call_counts_in_every_scope_of_its_chain_its_key_and_account() -> None:
    assert dimensions(event("r1")) == [
        "scope:session.s1",
        "scope:workspace.w1",
        "scope:account.acme",
        "key:k1",
        "account:acme",
    ]


async def test_totals_by_model_and_cost(tracker: UsageTracker) -> None:
    assert await tracker.record(event("r1"))
    assert await tracker.record(event("r2", model="gpt-4o-mini", provider="openai"))
    assert not await tracker.record(event("r1"))  # redelivered or republished: counted once
    report = await tracker.query(q(scope={"type": "session", "id": "s1"}))
    assert (report.calls, report.input_tokens, report.output_tokens) == (2, 2000, 1000)
    # claude-sonnet-4-6: 1000 * $3/M + 500 * $15/M = $0.0105; gpt-4o-mini: $0.00045
    assert report.estimated_cost_usd == pytest.approx(0.0105 + 0.00045)
    assert report.by_model["claude-sonnet-4-6"].calls == 1
    assert report.by_model["gpt-4o-mini"].estimated_cost_usd == pytest.approx(0.00045)
    assert report.unpriced_calls == 0
    assert report.unpriced_models == []
    assert (await tracker.query(q(key_id="k1"))).calls == 2
    assert (await tracker.query(q(account="acme"))).calls == 2
    assert (await tracker.query(q(scope={"type": "session", "id": "other"}))).calls == 0


async def test_unpriced_models_are_named_not_zero(tracker: UsageTracker) -> None:
    await tracker.record(event("r1"))
    await tracker.record(event("r2", model="in-house-llm", provider="openai"))
    await tracker.record(event("r3", model="in-house-llm", provider="openai"))
    report = await tracker.query(q(account="acme"))
    assert report.calls == 3
    assert report.unpriced_calls == 2
    assert report.unpriced_models == ["in-house-llm"]
    assert report.by_model["in-house-llm"].estimated_cost_usd is None
    assert report.by_model["in-house-llm"].priced is False
    assert report.estimated_cost_usd == pytest.approx(0.0105)


async def test_catalog_price_is_the_fallback() -> None:
    tracker = UsageTracker(
        Aggregates(MemoryAggregateStore()), Pricing(Catalog.load(), use_genai_prices=False)
    )
    await tracker.record(event("r1", model="gpt-4o", provider="openai"))
    # catalog: $2.5/M in, $10/M out
    assert (await tracker.query(q(account="acme"))).estimated_cost_usd == pytest.approx(0.0075)


async def test_time_windows(tracker: UsageTracker) -> None:
    for minute in (5, 0, 10, 20):  # out of order on purpose
        await tracker.record(event(f"r{minute}", minute=minute))
    since, until = T0 + timedelta(minutes=5), T0 + timedelta(minutes=20)
    assert (await tracker.query(q(account="acme", since=since))).calls == 3
    assert (await tracker.query(q(account="acme", until=until))).calls == 3  # until is exclusive
    assert (await tracker.query(q(account="acme", since=since, until=until))).calls == 2
    naive = datetime(2025, 6, 1, 0, 5)  # no zone: UTC
    assert (await tracker.query(q(account="acme", since=naive))).calls == 3
    with pytest.raises(MalformedRequest):
        await tracker.query(q(account="acme", since=until, until=since))


async def test_same_request_id_in_two_accounts_counts_in_both(tracker: UsageTracker) -> None:
    """Tenant A's request_id must not suppress tenant B's usage."""
    assert await tracker.record(event("shared-id"))
    assert await tracker.record(event("shared-id", account="other"))
    assert (await tracker.query(q(account="acme"))).calls == 1
    assert (await tracker.query(q(account="other"))).calls == 1


async def test_aggregates_survive_a_restart_and_a_replay_counts_nothing_twice() -> None:
    store = MemoryAggregateStore()
    first = UsageTracker(Aggregates(store), Pricing(Catalog.load()))
    for seq in range(1, 6):
        await first.record(event(f"r{seq}", minute=seq), seq)
    await first.checkpoint(5)
    await first.record(event("r6", minute=6), 6)  # counted, not yet stored: lost with memory
    restarted = UsageTracker(Aggregates(store, capacity=1), Pricing(Catalog.load()))
    assert await restarted.aggregates.start() == 5
    assert (await restarted.query(q(account="acme"))).calls == 5
    # the feed resumes after the checkpoint: 6 comes again, and 4 is a republished duplicate
    assert await restarted.record(event("r6", minute=6), 6)
    assert not await restarted.record(event("r4", minute=4), 7)
    await restarted.checkpoint(7)
    report = await restarted.query(q(scope={"type": "workspace", "id": "w1"}))
    assert (report.calls, report.input_tokens) == (6, 6000)
    assert len(restarted.aggregates) <= 1 + 1  # bounded: one day record (+ the one in use)


class _SlowStore(MemoryAggregateStore):
    """A store whose reads yield, as JetStream KV's do: queries and the consumer interleave."""

    async def get(self, key: str) -> bytes | None:
        await asyncio.sleep(0)
        await asyncio.sleep(0)
        return await super().get(key)


async def test_a_query_racing_the_first_call_of_a_scope_does_not_lose_it() -> None:
    # The query loaded the (empty) list of the scope's days while the consumer created it
    # with today in it; the query's late empty list used to replace it, and every later
    # query answered 0 calls for ever.
    tracker = UsageTracker(Aggregates(_SlowStore()), Pricing(Catalog.load()))

    async def query_meanwhile() -> None:
        for _ in range(3):  # start reading the day list just after the consumer did
            await asyncio.sleep(0)
        await tracker.query(q(account="acme"))

    await asyncio.gather(tracker.record(event("r1")), query_meanwhile())
    assert (await tracker.query(q(account="acme"))).calls == 1
    assert (await tracker.query(q(scope={"type": "workspace", "id": "w1"}))).calls == 1
