"""``ByokClient.resolve`` and ``record_usage`` against a running resolver."""

from __future__ import annotations

from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_client import ByokClient
from byok_contracts import NotFound
from byok_contracts.v1 import UsageRecorded
from byok_shared.jetstream import STREAM_USAGE

from .conftest import Backoffice


async def test_resolve_returns_the_key_in_memory_only(
    backoffice: Backoffice, replicas: Any, nc: NatsClient
) -> None:
    record = await backoffice.key(
        "workspace:w1", "anthropic", "sk-ant-the-secret", model="claude-opus-4-5"
    )
    await replicas(1)
    client = ByokClient(nc)
    route = await client.resolve("acme", ["session:s1", "workspace:w1"])
    assert (route.source, route.provider, route.key_id) == ("byok", "anthropic", record.key_id)
    assert route.api_key == "sk-ant-the-secret"
    assert route.model == "claude-opus-4-5"
    assert route.credits_paused is True
    assert "sk-ant-the-secret" not in repr(route)
    assert "sk-ant-the-secret" not in str(route)

    with pytest.raises(NotFound) as caught:
        await client.resolve("acme", [{"type": "agent", "id": "a1"}], provider="openai")
    assert caught.value.message == "No API key configured for this agent"


async def test_record_usage_publishes_once_per_request_id(
    backoffice: Backoffice, replicas: Any, nc: NatsClient, js: JetStreamContext
) -> None:
    await backoffice.key("workspace:w1", "openai", "sk-openai")
    await replicas(1)
    client = ByokClient(nc)
    route = await client.resolve("acme", ["workspace:w1"])
    request_id = await client.record_usage(
        "acme", ["workspace:w1"], route, input_tokens=120, output_tokens=30, request_id="req-1"
    )
    assert request_id == "req-1"
    await client.record_usage(  # a retry: deduplicated by Nats-Msg-Id
        "acme", ["workspace:w1"], route, input_tokens=120, output_tokens=30, request_id="req-1"
    )
    info = await js.stream_info(STREAM_USAGE)
    assert info.state.messages == 1
    msg = await js.get_msg(STREAM_USAGE, seq=1)
    event = UsageRecorded.model_validate_json(msg.data or b"")
    assert (event.source, event.provider, event.key_id, event.model) == (
        "byok",
        "openai",
        route.key_id,
        route.model,
    )
    assert (msg.headers or {}).get("Nats-Msg-Id") == "acme:req-1"
