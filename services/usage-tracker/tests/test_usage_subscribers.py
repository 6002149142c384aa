"""The usage-tracker service against a real nats-server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from nats.aio.client import Client as NatsClient
from nats.js import JetStreamContext

from byok_contracts import subjects
from byok_shared.natsserver import NatsServer
from byok_shared.testing import running, settings_for
from byok_usage_tracker.app import create_app
from byok_usage_tracker.config import TrackerConfig


async def query(nc: NatsClient, body: dict[str, object]) -> dict[str, object]:
    reply = await nc.request(subjects.USAGE_QUERY, json.dumps(body).encode(), timeout=5)
    data: dict[str, object] = json.loads(reply.data)
    return data


def usage(rid: str, session: str, model: str = "gpt-4o-mini") -> bytes:
    return json.dumps(
        {
            "request_id": rid,
            "account": "acme",
            "chain": [{"type": "session", "id": session}, {"type": "workspace", "id": "w1"}],
            "key_id": "k1",
            "source": "platform",
            "provider": "openai",
            "model": model,
            "input_tokens": 100,
            "output_tokens": 10,
            "occurred_at": "2025-06-01T10:00:00Z",
        }
    ).encode()


async def test_query_per_session_and_workspace_and_restart(
    nats_server: NatsServer, nc: NatsClient, js: JetStreamContext, tmp_path: Path
) -> None:
    settings = settings_for(nats_server.url, tmp_path)
    config = TrackerConfig(fetch_timeout=0.2)
    async with running(create_app(settings, config)):
        for i in range(6):
            await js.publish(subjects.USAGE_RECORDED, usage(f"r{i}", f"s{i % 2}"))
        await js.publish(subjects.USAGE_RECORDED, usage("r0", "s0"))  # republished
        await js.publish(subjects.USAGE_RECORDED, b"{not json")  # dropped, not fatal
        await js.publish(subjects.USAGE_RECORDED, usage("odd", "s1", model="mystery"))
        for _ in range(100):
            report = await query(nc, {"scope": {"type": "workspace", "id": "w1"}})
            if report["calls"] == 7:
                break
            await asyncio.sleep(0.05)
        assert report["calls"] == 7
        assert report["input_tokens"] == 700
        assert report["unpriced_calls"] == 1
        assert report["unpriced_models"] == ["mystery"]
        session = await query(nc, {"scope": {"type": "session", "id": "s0"}})
        assert (session["calls"], session["output_tokens"]) == (3, 30)
        bad = await query(nc, {"scope": {"type": "session", "id": "s0"}, "account": "acme"})
        assert bad["code"] == 400
    # a new process rebuilds the same figures from the stream
    async with running(create_app(settings, config)):
        for _ in range(100):
            again = await query(nc, {"scope": {"type": "workspace", "id": "w1"}})
            if again["calls"] == 7:
                break
            await asyncio.sleep(0.05)
        assert again == report
