"""A scope loaded for the first time while its key is removed: the load never brings it back.

The replica's KV read of the key returns the key *active*, then is held back
until the removal has replied (KV delete, event, freshness barrier acked by the
replica); the replica's own direct read after the removal (the reconcile) is
held until the first answer went out. Whatever the held read says, no resolve sent after the removal replied
may name the removed key, and the request that started the load does not either.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from nats.aio.msg import Msg
from nats.js import JetStreamContext

from byok_resolver.adapters import jetstream, kvload
from byok_resolver.adapters.jetstream import CacheFeed

from .conftest import Backoffice, Runtime


def lagging_feed(monkeypatch: pytest.MonkeyPatch, until: asyncio.Event) -> None:
    """KV updates and events reach the replica only once ``until`` is set: the sync alone
    tells it of the removal in time (as in the freshness test's lagging feed)."""
    follow, on_event = CacheFeed._follow, CacheFeed._on_event

    async def late_follow(self: CacheFeed, watcher: Any, apply: Any) -> None:
        def late(entry: Any) -> None:
            async def later() -> None:
                await until.wait()
                self._safely(apply, entry)

            self._spawn(later(), "late-entry")

        await follow(self, watcher, late)

    async def late_event(self: CacheFeed, msg: Msg) -> None:
        await until.wait()
        await on_event(self, msg)

    monkeypatch.setattr(CacheFeed, "_follow", late_follow)
    monkeypatch.setattr(CacheFeed, "_on_event", late_event)


async def test_a_removal_during_a_cold_load_is_never_undone(
    backoffice: Backoffice,
    replicas: Any,
    runtime: Runtime,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    fallback = await backoffice.key("account:acme", "anthropic", "sk-ant-fallback")
    session = await backoffice.key("session:cold", "anthropic", "sk-ant-session")
    slot = f"{session.scope.key}.anthropic"
    read_done, release = asyncio.Event(), asyncio.Event()
    real_read = kvload.read_kv

    async def held_read(js: JetStreamContext, bucket: str, key: str) -> tuple[int, bytes | None]:
        found = await real_read(js, bucket, key)
        if key == slot and not release.is_set():
            assert found[1] is not None  # the read saw the key still there
            read_done.set()
            await release.wait()
        return found

    reconcile_go = asyncio.Event()
    feed_read = jetstream.read_kv

    async def held_reconcile(
        js: JetStreamContext, bucket: str, key: str
    ) -> tuple[int, bytes | None]:
        if key == slot:
            await reconcile_go.wait()  # the direct read after the removal, held longest
        return await feed_read(js, bucket, key)

    monkeypatch.setattr(kvload, "read_kv", held_read)
    monkeypatch.setattr(jetstream, "read_kv", held_reconcile)
    lagging_feed(monkeypatch, until=reconcile_go)
    await replicas(1)
    first = asyncio.create_task(runtime.raw(runtime.body("session:cold", "account:acme")))
    await asyncio.wait_for(read_done.wait(), 5)
    await backoffice.remove(session)  # replied: the replica acked the sync meanwhile
    release.set()

    answer = await first  # decided after the held read landed, before the reconcile
    assert answer.get("key_id") != session.key_id, answer
    reconcile_go.set()
    for _ in range(20):
        data = await runtime.raw(runtime.body("session:cold", "account:acme"))
        assert data["status"] == "resolved", data
        assert data["key_id"] == fallback.key_id, json.dumps(data)
