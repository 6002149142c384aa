"""BYOK_USAGE and BYOK_EVENTS have byte limits, and a full stream loses nothing.

A runtime flooding ``usage.recorded`` used to grow BYOK_USAGE without bound. Now
the stream refuses new events once full (DiscardNew), the runtime client says
so clearly, and every event stored before, processed or not, is still there for
its consumers.
"""

from __future__ import annotations

import json

import pytest
from nats.aio.client import Client as NatsClient
from nats.js.errors import APIError

from byok_client import ByokClient
from byok_contracts import Unavailable, subjects
from byok_shared.jetstream import STREAM_EVENTS, STREAM_USAGE, usage_consumer
from byok_shared.natsserver import NatsServer
from byok_shared.provision import provision_jetstream
from byok_shared.settings import ByokSettings


def test_limits_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BYOK_USAGE_MAX_BYTES", "123456")
    monkeypatch.setenv("BYOK_EVENTS_MAX_BYTES", "654321")
    settings = ByokSettings()
    assert (settings.usage_max_bytes, settings.events_max_bytes) == (123456, 654321)
    assert ByokSettings.model_fields["usage_max_bytes"].default > 1024**3  # sane defaults
    assert ByokSettings.model_fields["events_max_bytes"].default >= 256 * 1024**2


async def test_a_full_usage_stream_refuses_new_events_and_keeps_unprocessed_ones(
    nats_server: NatsServer, nc: NatsClient
) -> None:
    js = nc.jetstream()
    done = await provision_jetstream(js, usage_max_bytes=8 * 1024)
    assert done == [f"updated stream {STREAM_USAGE}"]
    # the ledger's durable consumer exists and has processed nothing yet
    ledger = await usage_consumer(js, "credit-ledger", ack_wait=30, max_ack_pending=1000)
    client = await ByokClient.connect(nats_server.url, role="runtime")
    accepted: list[str] = []
    refused: Unavailable | None = None
    try:
        for i in range(1000):
            try:
                request_id = await client.record_usage(
                    "acme",
                    ["workspace:acme"],
                    input_tokens=100,
                    output_tokens=10,
                    provider="openai",
                    model="gpt-4.1",
                    source="byok",
                    key_id="key_flood",
                    request_id=f"flood-{i:04d}",
                )
            except Unavailable as exc:
                refused = exc
                break
            accepted.append(request_id)
    finally:
        await client.close()
    assert refused is not None, "the stream never filled up"
    assert refused.code == 503
    assert refused.error == "usage_stream_full"
    assert "flood-" not in refused.message  # nothing of the request is echoed
    assert 10 < len(accepted) < 1000

    info = await js.stream_info(STREAM_USAGE)
    assert info.state.first_seq == 1  # nothing dropped to make room
    assert info.state.messages == len(accepted)
    seen: list[str] = []
    while len(seen) < len(accepted):
        for msg in await ledger.fetch(100, timeout=2):
            seen.append(json.loads(msg.data)["request_id"])
            await msg.ack()
    assert seen == accepted


async def test_a_full_events_stream_refuses_the_publisher(nc: NatsClient) -> None:
    js = nc.jetstream()
    await provision_jetstream(js, events_max_bytes=4 * 1024)
    published = 0
    refused: APIError | None = None
    for i in range(1000):
        try:
            await js.publish(subjects.EVENTS_KEYS_REMOVED, b'{"event": "removed", "n": %d}' % i)
        except APIError as exc:
            refused = exc
            break
        published += 1
    assert refused is not None
    assert "maximum bytes" in (refused.description or "")
    info = await js.stream_info(STREAM_EVENTS)
    assert info.state.first_seq == 1
    assert info.state.messages == published > 10


async def test_lowering_the_limit_below_what_is_stored_drops_nothing(nc: NatsClient) -> None:
    js = nc.jetstream()
    for i in range(50):
        await js.publish(subjects.USAGE_RECORDED, b"{}" * 50, headers={"Nats-Msg-Id": f"m{i}"})
    before = await js.stream_info(STREAM_USAGE)
    assert await provision_jetstream(js, usage_max_bytes=1024) == [f"updated stream {STREAM_USAGE}"]
    after = await js.stream_info(STREAM_USAGE)
    assert (after.state.first_seq, after.state.messages) == (1, before.state.messages)
    with pytest.raises(APIError, match="maximum bytes"):
        await js.publish(subjects.USAGE_RECORDED, b"{}", headers={"Nats-Msg-Id": "m-late"})
