"""The freshness barrier against a real JetStream server."""

from __future__ import annotations

import time

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_contracts.v1 import KeyChanged, Scope
from byok_shared.freshness import FreshnessBarrier, ReplicaPresence
from byok_shared.jetstream import BUCKET_RESOLVERS, ensure_jetstream

EVENT = KeyChanged(
    event="removed", key_id="key_1", scope=Scope.parse("session:s1"), provider="openai"
)


async def test_every_live_replica_applies_the_change_before_confirm_returns(
    nc: NatsClient, js: JetStreamContext
) -> None:
    await ensure_jetstream(js)
    applied: dict[str, list[str]] = {"r1": [], "r2": []}
    replicas = [
        ReplicaPresence(
            nc, js, name, lambda subject, _data, name=name: applied[name].append(subject)
        )
        for name in applied
    ]
    for replica in replicas:
        await replica.start()
    barrier = FreshnessBarrier(nc, js, timeout=2.0)
    result = await barrier.confirm(subjects.EVENTS_KEYS_REMOVED, EVENT)
    assert result.complete
    assert result.replicas == {"r1", "r2"}
    assert applied == {"r1": [subjects.EVENTS_KEYS_REMOVED], "r2": [subjects.EVENTS_KEYS_REMOVED]}

    await replicas[1].stop()  # a clean stop: not waited for any more
    started = time.monotonic()
    result = await barrier.confirm(subjects.EVENTS_KEYS_REMOVED, EVENT)
    assert result.replicas == {"r1"}
    assert result.complete
    assert time.monotonic() - started < 1.0
    await replicas[0].stop()


async def test_confirms_create_no_consumers(nc: NatsClient, js: JetStreamContext) -> None:
    """A stream of removals must not pile up consumers until the server refuses more."""
    await ensure_jetstream(js)
    replica = ReplicaPresence(nc, js, "r1", lambda _s, _d: None)
    await replica.start()
    barrier = FreshnessBarrier(nc, js, timeout=2.0)
    for _ in range(200):
        assert (await barrier.confirm(subjects.EVENTS_KEYS_REMOVED, EVENT)).complete
    info = await js.stream_info(f"KV_{BUCKET_RESOLVERS}")
    assert info.state.consumer_count == 0
    await replica.stop()


async def test_no_replicas_means_nothing_to_wait_for(nc: NatsClient, js: JetStreamContext) -> None:
    await ensure_jetstream(js)
    result = await FreshnessBarrier(nc, js).confirm(subjects.EVENTS_KEYS_REMOVED, EVENT)
    assert result.replicas == frozenset()
    assert result.complete
