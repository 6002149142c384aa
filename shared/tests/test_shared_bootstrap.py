"""Stream and bucket bootstrap against a real JetStream server."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext
from nats.js.api import StreamConfig

from byok_shared.jetstream import (
    BUCKETS,
    STREAM_EVENTS,
    bucket_key_pages,
    bucket_keys,
    ensure_jetstream,
    stream_configs,
)
from byok_shared.testing.bulk import put_many


async def names(js: JetStreamContext) -> set[str]:
    return {info.config.name for info in await js.streams_info() if info.config.name}


async def test_bootstrap_creates_every_stream_and_bucket(js: JetStreamContext) -> None:
    await ensure_jetstream(js)
    expected = {c.name for c in stream_configs()} | {f"KV_{b.name}" for b in BUCKETS}
    assert expected <= await names(js)


async def test_bootstrap_is_idempotent_and_keeps_data(js: JetStreamContext) -> None:
    await ensure_jetstream(js)
    ack = await js.publish("byok.v1.events.keys.configured", b"{}")
    kv = await js.key_value("byok-scopes")
    await kv.put("workspace.acme", b"{}")
    await ensure_jetstream(js)
    await ensure_jetstream(js)
    info = await js.stream_info(STREAM_EVENTS)
    assert info.state.messages == 1
    assert info.state.last_seq == ack.seq
    assert (await kv.get("workspace.acme")).value == b"{}"


async def test_concurrent_bootstraps_do_not_fail(js: JetStreamContext) -> None:
    await asyncio.gather(*(ensure_jetstream(js) for _ in range(5)))
    assert {c.name for c in stream_configs()} <= await names(js)


async def test_bootstrap_repairs_a_stream_whose_subjects_drifted(js: JetStreamContext) -> None:
    await ensure_jetstream(js)
    await js.update_stream(StreamConfig(name=STREAM_EVENTS, subjects=["byok.v1.events.keys.>"]))
    await ensure_jetstream(js)
    info = await js.stream_info(STREAM_EVENTS)
    assert info.config.subjects == ["byok.v1.events.>"]


async def test_bucket_keys_lists_every_key_without_a_consumer(js: JetStreamContext) -> None:
    await ensure_jetstream(js)
    kv = await js.key_value("byok-keys")
    for i in range(40):
        await kv.put(f"session.s{i}.openai", b"{}")
    await kv.delete("session.s3.openai")
    names = await bucket_keys(js, "byok-keys")
    assert len(names) == 40  # the deleted key is listed by its marker; get() skips it
    assert "session.s39.openai" in names
    assert (await js.stream_info("KV_byok-keys")).state.consumer_count == 0
    assert await bucket_keys(js, "byok-scopes") == []


async def test_bucket_keys_pages_past_the_servers_100000_subjects_per_reply(
    js: JetStreamContext,
) -> None:
    await ensure_jetstream(js)
    total = 100_000 + 1_234
    items = ((f"session.s{n:06d}.anthropic", b"{}") for n in range(total))
    assert await put_many(js, "byok-keys", items) == total
    pages = [page async for page in bucket_key_pages(js, "byok-keys")]
    assert len(pages) == 2  # one stream-info reply lists at most 100,000 subjects
    names = [name for page in pages for name in page]
    assert len(names) == total
    assert len(set(names)) == total
    assert names[-1] == f"session.s{total - 1:06d}.anthropic"
    assert len(await bucket_keys(js, "byok-keys")) == total
