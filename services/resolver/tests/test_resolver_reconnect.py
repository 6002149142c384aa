"""A replica that lost its connection may have missed syncs and events: it must not
serve from its caches again until it reloaded them from KV."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_contracts.v1 import KeyChanged
from byok_shared.jetstream import BUCKET_KEYS
from byok_shared.natsserver import NatsServer

from .conftest import Backoffice, Runtime


@pytest.mark.timeout(60)
async def test_a_key_removed_while_a_replica_was_disconnected_is_never_served(
    nats_server: NatsServer,
    backoffice: Backoffice,
    replicas: Any,
    runtime: Runtime,
    nc: NatsClient,
    js: JetStreamContext,
) -> None:
    fallback = await backoffice.key("account:acme", "anthropic", "sk-ant-fallback")
    session = await backoffice.key("session:s1", "anthropic", "sk-ant-session")
    await replicas(1)
    first = await runtime.until(
        lambda d: d.get("key_id") == session.key_id, "session:s1", "account:acme"
    )
    assert first["key_id"] == session.key_id

    # Restart the server. This test's client reconnects within 0.2 s, the resolver's
    # after about 1 s: the removal below happens while the replica is away, so it
    # misses both the event and the freshness sync.
    nats_server.restart()
    deadline = time.monotonic() + 10
    while not (nc.is_connected and nc.stats["reconnects"] >= 1):
        assert time.monotonic() < deadline, "test client did not reconnect"
        await asyncio.sleep(0.01)
    kv = await js.key_value(BUCKET_KEYS)
    await kv.delete(f"{session.scope.key}.anthropic")
    removed = KeyChanged(
        event="removed", key_id=session.key_id, scope=session.scope, provider="anthropic"
    )
    await js.publish(subjects.EVENTS_KEYS_REMOVED, removed.model_dump_json().encode())
    removed_at = time.monotonic()

    answers: dict[str, int] = {"fallback": 0, "not_in_sync": 0, "stale": 0, "no_responders": 0}
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and answers["fallback"] < 50:
        try:
            data = await runtime.raw(runtime.body("session:s1", "account:acme"), timeout=2)
        except Exception:  # the replica is still reconnecting
            answers["no_responders"] += 1
            await asyncio.sleep(0.02)
            continue
        if data.get("key_id") == session.key_id:
            answers["stale"] += 1
        elif data.get("key_id") == fallback.key_id:
            answers["fallback"] += 1
        elif data.get("code") == 503:
            answers["not_in_sync"] += 1
        else:
            pytest.fail(f"unexpected answer {data}")
        await asyncio.sleep(0.005)

    assert answers["stale"] == 0, answers
    assert answers["fallback"] >= 50, answers  # and it came back by itself, without a restart
    assert time.monotonic() - removed_at < 10
