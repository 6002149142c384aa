"""Freshness: once a removal or disable has replied, no replica serves that key again.

Three replicas in one queue group answer resolves in tight loops (through the
queue group and on each replica's own subject) while a key is configured and
then removed or disabled, round after round. A request *sent* after the change
replied must never name the changed key.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_resolver.adapters.jetstream import CacheFeed
from byok_resolver.app import replica_subject
from byok_shared.jetstream import BUCKET_RESOLVERS

from .conftest import Backoffice, Runtime

ROUNDS = 30


async def served_by_all(nc: NatsClient, runtime: Runtime, replicas: list[str], key_id: str) -> None:
    body = runtime.body("session:s1", "account:acme")
    for replica in replicas:
        deadline = time.monotonic() + 5
        while True:
            msg = await nc.request(replica_subject(replica), body, timeout=2)
            if json.loads(msg.data).get("key_id") == key_id:
                break
            assert time.monotonic() < deadline, f"{replica} never served {key_id}"
            await asyncio.sleep(0.005)


@pytest.fixture(params=["live", "lagging-feed"])
def feed_lag(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """``lagging-feed``: KV watches and events arrive 150 ms late, so only the sync is in time."""
    if request.param == "lagging-feed":
        follow, on_event = CacheFeed._follow, CacheFeed._on_event

        async def slow_follow(self: CacheFeed, watcher: Any, apply: Any) -> None:
            def late(entry: Any) -> None:
                asyncio.get_running_loop().call_later(0.15, self._safely, apply, entry)

            await follow(self, watcher, late)

        async def slow_event(self: CacheFeed, msg: Msg) -> None:
            await asyncio.sleep(0.15)
            await on_event(self, msg)

        monkeypatch.setattr(CacheFeed, "_follow", slow_follow)
        monkeypatch.setattr(CacheFeed, "_on_event", slow_event)
    return str(request.param)


async def test_three_replicas_never_serve_a_removed_or_disabled_key(
    feed_lag: str,
    backoffice: Backoffice,
    replicas: Any,
    runtime: Runtime,
    nc: NatsClient,
    js: JetStreamContext,
) -> None:
    fallback = await backoffice.key("account:acme", "anthropic", "sk-ant-fallback")
    await replicas(3)
    names = sorted(await (await js.key_value(BUCKET_RESOLVERS)).keys())
    assert len(names) == 3

    changed_at: dict[str, float] = {}
    stale: list[tuple[str, str, float]] = []
    answers = {"total": 0, "fallback": 0}
    running = True
    body = runtime.body("session:s1", "account:acme")

    async def hammer(subject: str) -> None:
        while running:
            sent = time.monotonic()
            msg = await nc.request(subject, body, timeout=2)
            data = json.loads(msg.data)
            assert data["status"] == "resolved", data
            answers["total"] += 1
            answers["fallback"] += data["key_id"] == fallback.key_id
            at = changed_at.get(data["key_id"])
            if at is not None and sent > at:
                stale.append((subject, data["key_id"], sent - at))

    subjects_hit = [subjects.RESOLVE] * 4 + [replica_subject(n) for n in names]
    workers = [asyncio.create_task(hammer(s)) for s in subjects_hit]
    try:
        for round_ in range(ROUNDS):
            record = await backoffice.key("session:s1", "anthropic")
            await served_by_all(nc, runtime, names, record.key_id)
            await asyncio.sleep(0.01)  # let the loops serve it from every replica's cache
            if round_ % 2:
                await backoffice.remove(record)
            else:
                await backoffice.disable(record)
            changed_at[record.key_id] = time.monotonic()
            await asyncio.sleep(0.01)
    finally:
        running = False
        await asyncio.gather(*workers)

    assert stale == []
    assert answers["total"] > ROUNDS * 10
    assert answers["fallback"] > 0  # the loops did see each change take effect
