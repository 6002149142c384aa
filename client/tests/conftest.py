"""Client test helpers: a scripted byok on a real nats-server (fake services, real bus)."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from nats.aio.client import Client as NatsClient
from nats.aio.msg import Msg

from byok_client import ByokClient

Answer = Callable[[dict[str, Any]], Awaitable[dict[str, Any] | bytes | None]]


@dataclass
class ScriptedByok:
    """Answers subjects the way a service would; records every body it was sent."""

    nc: NatsClient
    received: dict[str, list[dict[str, Any]]] = field(default_factory=dict)

    async def answer(self, subject: str, answer: Answer) -> None:
        async def handler(msg: Msg) -> None:
            body = json.loads(msg.data)
            self.received.setdefault(msg.subject, []).append(body)
            reply = await answer(body)
            if reply is not None:
                await msg.respond(reply if isinstance(reply, bytes) else json.dumps(reply).encode())

        await self.nc.subscribe(subject, cb=handler)
        await self.nc.flush()

    async def reply(self, subject: str, reply: dict[str, Any] | bytes) -> None:
        """Answer ``subject`` with the same ``reply`` every time."""

        async def same(_: dict[str, Any]) -> dict[str, Any] | bytes:
            return reply

        await self.answer(subject, same)


@pytest.fixture
async def byok(nc: NatsClient) -> ScriptedByok:
    return ScriptedByok(nc)


@pytest.fixture
async def client(nc: NatsClient) -> ByokClient:
    return ByokClient(nc, timeout=2.0, account="acme")
